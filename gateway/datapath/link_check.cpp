#include "datapath/link_check.hpp"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "datapath/rtnl.hpp"

namespace xdpgw::link_check {
namespace {

// ETHTOOL_GGRO on an interface of the calling thread's namespace.
std::optional<bool> gro_enabled(const std::string& ifname) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock || ifname.empty() || ifname.size() >= IFNAMSIZ) return std::nullopt;
  ethtool_value value{};
  value.cmd = ETHTOOL_GGRO;
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.data(), ifname.size());
  req.ifr_data = reinterpret_cast<char*>(&value);
  if (ioctl(sock.get(), SIOCETHTOOL, &req) < 0) return std::nullopt;
  return value.data != 0;
}

// The namespace the peer lives in is only known by its id; find the named
// namespace (/run/netns) with that id and ask there, on a thread of its own
// so the caller's namespace never changes.
std::optional<bool> gro_in_netns(int32_t netnsid, const std::string& ifname) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    UniqueFd ns(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) continue;
    std::optional<int32_t> id;
    try {
      id = rtnl::netnsid_of(ns.get());
    } catch (const std::exception&) {
      continue;
    }
    if (id != netnsid) continue;
    std::optional<bool> gro;
    std::thread probe([&] {
      if (setns(ns.get(), CLONE_NEWNET) == 0) gro = gro_enabled(ifname);
    });
    probe.join();
    return gro;
  }
  return std::nullopt;
}

}  // namespace

std::optional<VethPeer> veth_peer(uint32_t ifindex) {
  auto port = rtnl::query_link(ifindex);
  if (!port || port->kind != "veth" || !port->link) return std::nullopt;
  VethPeer peer;
  peer.peer_ifindex = *port->link;
  peer.peer_netnsid = port->link_netnsid;
  auto far = rtnl::query_link(peer.peer_ifindex, peer.peer_netnsid);
  if (!far) return std::nullopt;
  peer.peer_has_xdp = far->xdp_attached != XDP_ATTACHED_NONE;
  peer.peer_name = far->name;
  peer.peer_gro = peer.peer_netnsid ? gro_in_netns(*peer.peer_netnsid, far->name)
                                    : gro_enabled(far->name);
  return peer;
}

std::optional<std::string> redirect_target_warning(const std::string& port_name,
                                                   uint32_t ifindex) {
  auto peer = veth_peer(ifindex);
  if (!peer || peer->peer_has_xdp || peer->peer_gro == true) return std::nullopt;
  return fmt::format(
      "port {} is a veth whose peer ({}, ifindex {}{}) runs no XDP program and has "
      "GRO {}: frames XDP redirects into {} are dropped (they show as RX drops on "
      "the ingress port); attach an XDP program to the peer or enable GRO on it",
      port_name, peer->peer_name, peer->peer_ifindex,
      peer->peer_netnsid ? fmt::format(" in netns id {}", *peer->peer_netnsid) : "",
      peer->peer_gro.has_value() ? "off" : "in an unknown state", port_name);
}

}  // namespace xdpgw::link_check
