// One network interface as rtnetlink (RTM_GETLINK) describes it. Namespace-
// scoped by the calling thread; a link in another namespace is reachable by
// the netns id this namespace knows it under.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

struct mnl_socket;

namespace xdpgw::rtnl {

// An rtnetlink socket, bound; closed by its owner.
struct MnlSocketCloser {
  void operator()(mnl_socket* s) const noexcept;
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlSocketCloser>;
MnlSocket open_socket();

struct LinkStats {
  uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  uint64_t rx_dropped = 0, tx_dropped = 0, rx_errors = 0, tx_errors = 0;
};

struct LinkInfo {
  uint32_t ifindex = 0;
  std::string name;
  std::string kind;                     // IFLA_INFO_KIND ("veth", ...); empty for none
  bool up = false;                      // IFF_UP
  bool running = false;                 // IFF_RUNNING (carrier)
  uint32_t mtu = 0;
  std::optional<uint32_t> link;         // IFLA_LINK: a veth's peer ifindex
  std::optional<int32_t> link_netnsid;  // the peer's namespace, if not ours
  uint8_t xdp_attached = 0;             // XDP_ATTACHED_* (none/drv/skb/hw/multi)
  uint32_t xdp_prog_id = 0;
  LinkStats stats;
};

// nullopt when there is no such link; throws std::system_error on netlink
// failures.
std::optional<LinkInfo> query_link(uint32_t ifindex,
                                   std::optional<int32_t> netnsid = std::nullopt);

// Where the kernel would send a packet to `addr` (RTM_GETROUTE): the output
// interface and the neighbour to resolve there (the gateway of the route, or
// `addr` itself when on-link). nullopt when there is no route.
struct RouteHop {
  uint32_t oif = 0;
  std::array<uint8_t, 16> neighbour{};  // network order; IPv4 in the first 4
};
std::optional<RouteHop> route_get(int family, const std::array<uint8_t, 16>& addr);

// The id this namespace knows the namespace behind `netns_fd` by, or nullopt
// when none is assigned.
std::optional<int32_t> netnsid_of(int netns_fd);

}  // namespace xdpgw::rtnl
