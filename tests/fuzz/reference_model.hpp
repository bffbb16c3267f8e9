// A userspace reference of what the xdpgw datapath must do with one frame,
// written from the documented rules (README "How a packet flows", the
// comments of bpf/lib/parse.h, the handlers and bpf/lib/router.h), not from
// the BPF code's control flow: the packet fuzz test runs every frame through
// both and fails on any difference, so a parser divergence on either side
// shows up as a named reason mismatch.
//
//   parse_frame()  Ethernet, <= 2 VLAN tags, IPv4 (IHL, total length,
//                  options, fragments) or IPv6 (payload length, a chain of
//                  at most 6 extension headers), then the L4 header the
//                  handler checks (TCP doff, UDP length, ICMP/ICMPv6 size)
//                  against the IP payload -> a drop reason or a valid packet
//   predict()      the verdict, reason, handler slot and output bytes for a
//                  route source (none, static routes, kernel FIB)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "harness/addr.hpp"

namespace xdpgw::test::fuzz {

// Largest frame BPF_PROG_TEST_RUN hands a program that is not built for
// multi-buffer in one piece: PAGE_SIZE - XDP_PACKET_HEADROOM (256) -
// skb_shared_info (320). The generator never builds longer frames.
inline constexpr std::size_t kMaxLinearFrame = 3520;
// The kernel refuses shorter frames (EINVAL).
inline constexpr std::size_t kMinFrame = 14;

// What the reference parser found. Offsets are from the start of the frame
// and are filled as far as the walk got, also for malformed frames (the
// mutator uses them to find the fields it corrupts).
struct Parsed {
  enum class Kind { kMalformed, kNotIp, kIp };
  Kind kind = Kind::kMalformed;
  uint32_t drop_reason = 0;  // enum xdpgw_reason, kMalformed only

  // Offsets of the EtherType / TPID fields walked (12, then 16, 20 after tags).
  std::vector<std::size_t> type_offsets;
  int vlan_depth = 0;

  bool ipv6 = false;
  std::optional<std::size_t> l3_off;  // IP header
  std::size_t l3_len = 0;             // IPv4 total length / 40 + IPv6 payload length
  std::vector<std::size_t> ext_offsets;         // IPv6 extension headers
  std::optional<std::size_t> proto_field_off;   // byte naming the upper-layer protocol
  std::optional<std::size_t> l4_off;
  uint8_t l4_proto = 0;
  bool fragment = false;        // IPv4 MF/offset, or an IPv6 fragment header
  bool later_fragment = false;  // offset != 0
  bool ipv4_options = false;
  bool hop_by_hop = false;

  // Handler slot (enum xdpgw_slot) the dispatcher tail-calls; set for every
  // frame that passed L2/L3 parsing, including ones the handler then drops.
  std::optional<uint32_t> slot;

  bool malformed() const { return kind == Kind::kMalformed; }
  std::string describe() const;
};

Parsed parse_frame(std::span<const uint8_t> frame);

// ---- routing state the datapath is given, mirrored for prediction ---------

struct ModelPort {
  uint32_t mtu = 1500;
  MacAddr mac{};
  bool in_tx_ports = true;  // false: the device is gone, so the redirect check fails
};

struct ModelNexthop {
  uint32_t ifindex = 0;
  bool resolved = true;
  MacAddr dmac{};
};

struct ModelRoute {
  std::vector<uint8_t> prefix;  // 4 or 16 bytes, network order, host bits zero
  unsigned length = 0;
  uint32_t nexthop_id = 0;
};

// The static-routing tables (and, for FIB mode, the ports) exactly as the
// test writes them into the active config generation.
struct RoutingModel {
  std::map<uint32_t, ModelPort> ports;        // by ifindex
  std::map<uint32_t, ModelNexthop> nexthops;  // ids absent here read as unresolved
  std::vector<ModelRoute> routes4, routes6;
  std::set<Ipv4Addr> local4;
  std::set<Ipv6Addr> local6;
};

enum class RouteSource { kNone, kStatic, kFib };

// What the datapath must do with one frame. The action follows from the
// reason (drop_* -> XDP_DROP, pass_* -> XDP_PASS, fwd_redirect ->
// XDP_REDIRECT); the frame's bytes stay unchanged unless the reason is
// fwd_redirect.
struct Expected {
  // Acceptable reasons: one, except where the kernel FIB decides (any of
  // the FIB outcomes once every rule before the lookup let the packet on).
  std::set<uint32_t> reasons;
  std::optional<uint32_t> handler;  // slot counted in handler_stats, or none
  bool malformed = false;
  // MACs of a static-route forward (nexthop's, egress port's); unknown for
  // a FIB forward, whose source MAC must then be one of the ports'.
  std::optional<MacAddr> dmac, smac;
};

Expected predict(const Parsed& parsed, std::span<const uint8_t> frame, RouteSource source,
                 const RoutingModel& routing);

// The bytes a forward must produce besides the MACs: TTL / hop limit minus
// one, and for IPv4 a header checksum updated as RFC 1624 says (equal to a
// from-scratch checksum whenever the input's was right). Returns a
// description of the first difference, nullopt when `out` is right.
std::optional<std::string> check_forward_rewrite(std::span<const uint8_t> in,
                                                 std::span<const uint8_t> out,
                                                 const Parsed& parsed);

// Reason and slot names for messages (from gateway/datapath/abi.hpp).
std::string reason_name(uint32_t reason);
std::string slot_name(std::optional<uint32_t> slot);

}  // namespace xdpgw::test::fuzz
