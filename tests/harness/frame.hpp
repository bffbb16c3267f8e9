// Byte-exact Ethernet frames for BPF unit tests and injected traffic.
//
//   auto frame = FrameBuilder()
//       .eth(mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"))
//       .vlan(100)
//       .ipv4({.src = ipv4("198.18.0.1"), .dst = ipv4("198.18.1.1"), .ttl = 2})
//       .udp({.sport = 1000, .dport = 53})
//       .payload(18)
//       .build();
//
// Layers are written in the order they are added. Each layer's "next protocol"
// field (EtherType, IPv4 protocol, IPv6 next header) names the layer after it,
// and build() fills in every length (IPv4 total length, IPv6 payload length,
// UDP length, IPv4 IHL, TCP data offset) and checksum (IPv4 header; TCP, UDP
// and ICMPv6 with their pseudo-header; ICMP). Nesting works the same way
// (eth / ipv4 / ipv4 / tcp is IPIP; eth / ipv6 / udp / payload(GUE) / ipv4 /
// tcp is GUE), each L4 checksum using the closest IP header before it.
//
// Overrides (ipv4_ihl, udp_length, bad_l4_checksum, ...) apply to the most
// recently added layer of their kind and replace the computed value with a
// wrong one for malformed-frame tests; every other field stays consistent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "harness/addr.hpp"

namespace xdpgw::test {

namespace ethertype {
inline constexpr uint16_t kIpv4 = 0x0800;
inline constexpr uint16_t kArp = 0x0806;
inline constexpr uint16_t kVlan = 0x8100;  // 802.1Q
inline constexpr uint16_t kQinq = 0x88a8;  // 802.1ad service tag
inline constexpr uint16_t kIpv6 = 0x86dd;
// IEEE 802 local experimental EtherType: what eth() writes when nothing that
// has an EtherType follows it (override with FrameBuilder::ethertype()).
inline constexpr uint16_t kExperimental = 0x88b5;
}  // namespace ethertype

namespace ip_proto {
inline constexpr uint8_t kHopByHop = 0;
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kIpip = 4;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kIpv6 = 41;
inline constexpr uint8_t kRouting = 43;
inline constexpr uint8_t kFragment = 44;
inline constexpr uint8_t kIcmpv6 = 58;
inline constexpr uint8_t kNoNext = 59;
inline constexpr uint8_t kDestOpts = 60;
// RFC 3692 experimental protocol: the IPv4 protocol when only payload follows.
inline constexpr uint8_t kExperimental = 253;
}  // namespace ip_proto

namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcp_flags

struct Ipv4Fields {
  Ipv4Addr src{};
  Ipv4Addr dst{};
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0;
  bool dont_fragment = false;  // DF
  bool more_fragments = false; // MF
  uint16_t frag_offset = 0;    // in 8-byte units, as on the wire (1480 bytes → 185)
  std::vector<uint8_t> options{};  // zero-padded (End of Options) to a multiple of 4
  std::optional<uint8_t> protocol{};  // default: from the next layer
};

struct Ipv6Fields {
  Ipv6Addr src{};
  Ipv6Addr dst{};
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;  // 20 bits
  std::optional<uint8_t> next_header{};  // default: from the next layer
};

struct TcpFields {
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = tcp_flags::kAck;  // tcp_flags::k* or-ed together
  uint16_t window = 65535;
  uint16_t urgent = 0;
  std::vector<uint8_t> options{};  // zero-padded (End of Options) to a multiple of 4
};

struct UdpFields {
  uint16_t sport = 0;
  uint16_t dport = 0;
  bool zero_checksum = false;  // "no checksum", legal over IPv4 only (GUE often does it)
};

class FrameBuilder {
 public:
  // L2. ethertype() overrides the next-type field of the last eth/vlan/qinq.
  FrameBuilder& eth(const MacAddr& dst, const MacAddr& src);
  FrameBuilder& vlan(uint16_t tci);  // 802.1Q tag (TPID 0x8100); stack as many as needed
  FrameBuilder& qinq(uint16_t tci);  // 802.1ad tag (TPID 0x88a8)
  FrameBuilder& ethertype(uint16_t type);

  // L3.
  FrameBuilder& ipv4(const Ipv4Fields& fields);
  FrameBuilder& ipv6(const Ipv6Fields& fields);
  // IPv6 extension headers; hdr_ext_len is the wire field (header is
  // (hdr_ext_len + 1) * 8 bytes). Option areas hold PadN when they fit in 7
  // bytes (Linux drops longer runs of padding), otherwise RFC 4727
  // experimental options (type 0x1e, skipped by receivers) then padding.
  FrameBuilder& hop_by_hop(uint8_t hdr_ext_len = 0);
  FrameBuilder& dest_opts(uint8_t hdr_ext_len = 0);
  // Routing type 253 is RFC 4727's experimental type: with segments_left 0
  // every node ignores it.
  FrameBuilder& routing(uint8_t routing_type = 253, uint8_t segments_left = 0,
                        uint8_t hdr_ext_len = 0);
  // offset in 8-byte units, as on the wire.
  FrameBuilder& fragment(uint16_t offset, bool more, uint32_t id = 1);

  // L4.
  FrameBuilder& tcp(const TcpFields& fields);
  FrameBuilder& udp(const UdpFields& fields);
  FrameBuilder& icmp(uint8_t type, uint8_t code, uint32_t rest_of_header = 0);
  FrameBuilder& icmp_echo(uint16_t id, uint16_t seq, bool reply = false);
  FrameBuilder& icmpv6(uint8_t type, uint8_t code, uint32_t rest_of_header = 0);
  FrameBuilder& icmpv6_echo(uint16_t id, uint16_t seq, bool reply = false);

  // Payload bytes; counted in every enclosing length and checksum.
  FrameBuilder& payload(std::span<const uint8_t> bytes);
  FrameBuilder& payload(std::initializer_list<uint8_t> bytes);
  FrameBuilder& payload(std::size_t size);  // bytes 0, 1, 2, ... (mod 256)
  FrameBuilder& payload_text(std::string_view text);
  // Bytes after the packet that no length or checksum counts, like Ethernet
  // padding of a short frame.
  FrameBuilder& eth_trailer(std::size_t size, uint8_t fill = 0);

  // Malformed-frame overrides.
  FrameBuilder& ipv4_ihl(uint8_t ihl);
  FrameBuilder& ipv4_total_length(uint16_t total_length);
  FrameBuilder& ipv4_checksum(uint16_t checksum);
  FrameBuilder& bad_ipv4_checksum();
  FrameBuilder& ipv6_payload_length(uint16_t payload_length);
  FrameBuilder& tcp_doff(uint8_t doff);
  FrameBuilder& udp_length(uint16_t length);
  FrameBuilder& l4_checksum(uint16_t checksum);  // last TCP/UDP/ICMP/ICMPv6 layer
  FrameBuilder& bad_l4_checksum();               // same; never a value equivalent to the right one

  std::vector<uint8_t> build() const;

 private:
  struct ChecksumOverride {
    std::optional<uint16_t> value;
    bool corrupt = false;
  };
  struct EthLayer {
    MacAddr dst, src;
    std::optional<uint16_t> ethertype;
  };
  struct VlanLayer {
    uint16_t tpid, tci;
    std::optional<uint16_t> ethertype;
  };
  struct Ipv4Layer {
    Ipv4Fields fields;
    std::optional<uint8_t> ihl;
    std::optional<uint16_t> total_length;
    ChecksumOverride checksum;
  };
  struct Ipv6Layer {
    Ipv6Fields fields;
    std::optional<uint16_t> payload_length;
  };
  struct Ipv6ExtLayer {
    uint8_t proto;               // how the previous header names this one
    std::vector<uint8_t> bytes;  // whole header; byte 0 (next header) set by build()
  };
  struct TcpLayer {
    TcpFields fields;
    std::optional<uint8_t> doff;
    ChecksumOverride checksum;
  };
  struct UdpLayer {
    UdpFields fields;
    std::optional<uint16_t> length;
    ChecksumOverride checksum;
  };
  struct IcmpLayer {
    bool v6;
    uint8_t type, code;
    uint32_t rest_of_header;
    ChecksumOverride checksum;
  };
  struct PayloadLayer {
    std::vector<uint8_t> bytes;
  };
  using Layer = std::variant<EthLayer, VlanLayer, Ipv4Layer, Ipv6Layer, Ipv6ExtLayer, TcpLayer,
                             UdpLayer, IcmpLayer, PayloadLayer>;

  template <class T>
  T& last(std::string_view override_name);
  ChecksumOverride& last_l4_checksum(std::string_view override_name);
  std::vector<uint8_t> serialize(std::size_t index, std::span<const uint8_t> rest) const;

  std::vector<Layer> layers_;
  std::vector<uint8_t> trailer_;
};

// The first `size` bytes of a frame. Throws std::out_of_range if it is shorter.
std::vector<uint8_t> truncate(std::span<const uint8_t> frame, std::size_t size);

// RFC 1071 one's-complement checksum of bytes (odd length padded with zero).
uint16_t internet_checksum(std::span<const uint8_t> bytes);

// The checksum an IPv4 header should carry, computed from scratch; the header's
// current checksum field (bytes 10-11) is ignored. Pass the whole header
// (IHL * 4 bytes).
uint16_t ipv4_header_checksum(std::span<const uint8_t> header);

// Checks a frame from scratch: skips VLAN/QinQ tags; for IPv4 the header
// checksum and total length, for IPv6 the payload length and extension chain;
// then the TCP, UDP (length and checksum; 0 allowed over IPv4) or ICMP/ICMPv6
// checksum, descending into IPIP / IPv6-in-IP. Fragments have only their IP
// header checked (the L4 checksum spans the whole datagram). Returns a
// description of the first inconsistency, nullopt when none is found
// (frames that are not IP have nothing to check).
std::optional<std::string> checksum_error(std::span<const uint8_t> frame);
inline bool l4_checksum_ok(std::span<const uint8_t> frame) { return !checksum_error(frame); }

// "0000  45 00 00 1c ...", 16 bytes a line: readable failure messages.
std::string hex_dump(std::span<const uint8_t> bytes);

}  // namespace xdpgw::test
