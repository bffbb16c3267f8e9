#include "datapath/link_check.hpp"

#include <linux/if_link.h>

#include <fmt/format.h>

#include "datapath/rtnl.hpp"

namespace xdpgw::link_check {

std::optional<VethPeer> veth_peer(uint32_t ifindex) {
  auto port = rtnl::query_link(ifindex);
  if (!port || port->kind != "veth" || !port->link) return std::nullopt;
  VethPeer peer;
  peer.peer_ifindex = *port->link;
  peer.peer_netnsid = port->link_netnsid;
  auto far = rtnl::query_link(peer.peer_ifindex, peer.peer_netnsid);
  if (!far) return std::nullopt;
  peer.peer_has_xdp = far->xdp_attached != XDP_ATTACHED_NONE;
  return peer;
}

std::optional<std::string> redirect_target_warning(const std::string& port_name,
                                                   uint32_t ifindex) {
  auto peer = veth_peer(ifindex);
  if (!peer || peer->peer_has_xdp) return std::nullopt;
  return fmt::format(
      "port {} is a veth whose peer (ifindex {}{}) runs no XDP program: frames "
      "XDP redirects into {} are dropped unless the peer has an XDP program "
      "or GRO enabled (drops show as RX drops on the ingress port)",
      port_name, peer->peer_ifindex,
      peer->peer_netnsid ? fmt::format(" in netns id {}", *peer->peer_netnsid) : "",
      port_name);
}

}  // namespace xdpgw::link_check
