// Checks for setups where XDP forwarding fails silently, read over
// rtnetlink: today, a veth port whose peer runs no XDP program (frames
// XDP-redirected into such a veth are dropped, counted only as RX drops on
// the ingress side).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace xdpgw::link_check {

struct VethPeer {
  uint32_t peer_ifindex = 0;          // in the peer's namespace
  std::optional<int32_t> peer_netnsid;  // set when the peer is in another netns
  std::string peer_name;
  bool peer_has_xdp = false;
  // GRO on the peer also makes veth accept redirected frames. nullopt when
  // the peer's namespace has no name under /run/netns to look into.
  std::optional<bool> peer_gro;
};

// nullopt when `ifindex` is not a veth (or its peer cannot be seen).
std::optional<VethPeer> veth_peer(uint32_t ifindex);

// A one-line warning for the operator, or nullopt when the port is fine
// (not a veth, or its peer runs XDP or has GRO on).
std::optional<std::string> redirect_target_warning(const std::string& port_name,
                                                   uint32_t ifindex);

}  // namespace xdpgw::link_check
