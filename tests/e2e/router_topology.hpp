// The router topology of scripts/netns/router-topology.sh, owned by a test:
//
//   host A  [a end] 198.18.1.2/24 2001:2:0:1::2/64
//             |
//   gateway [port A] 198.18.1.1/24 2001:2:0:1::1/64
//           [port B] 198.18.2.1/24 2001:2:0:2::1/64
//             |
//   host B  [b end] 198.18.2.2/24 2001:2:0:2::2/64
//
// Every name is unique to the test process (harness unique_name /
// unique_ifname), so parallel test processes never collide, and everything
// is removed in the destructors, also when a test fails or throws.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "harness/addr.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"

struct xdpgw_peer_skel;  // bpftool-generated skeleton of bpf/peer.bpf.c

namespace xdpgw::test::e2e {

// Addresses of the topology (RFC 2544 / RFC 5180 benchmarking ranges).
inline constexpr std::string_view kHostA4 = "198.18.1.2";
inline constexpr std::string_view kGatewayA4 = "198.18.1.1";
inline constexpr std::string_view kGatewayB4 = "198.18.2.1";
inline constexpr std::string_view kHostB4 = "198.18.2.2";
inline constexpr std::string_view kHostA6 = "2001:2:0:1::2";
inline constexpr std::string_view kGatewayA6 = "2001:2:0:1::1";
inline constexpr std::string_view kGatewayB6 = "2001:2:0:2::1";
inline constexpr std::string_view kHostB6 = "2001:2:0:2::2";
inline constexpr std::string_view kSubnetA4 = "198.18.1.0/24";
inline constexpr std::string_view kSubnetB4 = "198.18.2.0/24";
inline constexpr std::string_view kSubnetA6 = "2001:2:0:1::/64";
inline constexpr std::string_view kSubnetB6 = "2001:2:0:2::/64";

// The peer program (bpf/peer.bpf.c) attached in native mode to a host's end
// of a veth: a veth delivers frames that XDP redirected into it only when
// its peer runs an XDP program, and the program counts every frame that
// arrives at the host (per CPU), which tells a test what reached the host.
class PeerCounter {
 public:
  PeerCounter(const Netns& ns, int ifindex);
  PeerCounter(PeerCounter&&) noexcept = default;
  PeerCounter& operator=(PeerCounter&&) noexcept = default;
  ~PeerCounter();

  // Frames that arrived at the interface since the program was attached.
  uint64_t packets() const;

 private:
  struct SkeletonDeleter {
    void operator()(::xdpgw_peer_skel* skel) const noexcept;
  };
  static std::unique_ptr<::xdpgw_peer_skel, SkeletonDeleter> load_skeleton();

  // Declared before the attachment: the attachment is destroyed (detached)
  // first, then the program.
  std::unique_ptr<::xdpgw_peer_skel, SkeletonDeleter> skel_;
  XdpAttachment attachment_;
};

struct TopologyOptions {
  // false: IPv6 is disabled in all three namespaces before any interface
  // exists, and no IPv6 address or route is configured. The gateway's
  // kernel otherwise sends IPv6 housekeeping (DAD, MLD reports) to host B
  // during the first seconds after link-up, at moments no test controls,
  // and host B's frame counter could not be asserted exactly.
  bool ipv6 = true;
  // true: permanent neighbour entries on every link (hosts -> gateway,
  // gateway -> hosts), so no ARP frame ever crosses a link either.
  bool static_neighbours = false;
};

class RouterTopology {
 public:
  explicit RouterTopology(const TopologyOptions& options = {});

  const Netns& host_a() const noexcept { return host_a_; }
  const Netns& gateway() const noexcept { return gateway_; }
  const Netns& host_b() const noexcept { return host_b_; }

  // The gateway's interfaces (the xdpgw ports) facing host A and host B.
  const VethEnd& gateway_port_a() const noexcept { return link_a_.a(); }
  const VethEnd& gateway_port_b() const noexcept { return link_b_.a(); }
  // The hosts' interfaces.
  const VethEnd& host_a_end() const noexcept { return link_a_.b(); }
  const VethEnd& host_b_end() const noexcept { return link_b_.b(); }

  // Frames counted by the peer program on each host's interface.
  uint64_t packets_at_a() const { return peer_a_.packets(); }
  uint64_t packets_at_b() const { return peer_b_.packets(); }

 private:
  // Declaration order is construction order; destruction runs in reverse,
  // so programs are detached and links deleted before the namespaces go.
  Netns host_a_;
  Netns gateway_;
  Netns host_b_;
  VethPair link_a_;  // end a: gateway port A; end b: host A
  VethPair link_b_;  // end a: gateway port B; end b: host B
  PeerCounter peer_a_;
  PeerCounter peer_b_;
};

}  // namespace xdpgw::test::e2e
