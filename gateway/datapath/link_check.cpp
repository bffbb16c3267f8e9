#include "datapath/link_check.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::link_check {
namespace {

struct MnlSocketCloser {
  void operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }
};

// What one RTM_GETLINK answer says about the link.
struct LinkFacts {
  bool found = false;
  std::string kind;                 // IFLA_INFO_KIND, e.g. "veth"
  std::optional<uint32_t> link;     // IFLA_LINK: the veth peer's ifindex
  std::optional<int32_t> link_netnsid;
  bool has_xdp = false;
};

using AttrTable = std::array<const nlattr*, IFLA_MAX + 1>;

int collect_attr(const nlattr* attr, void* data) {
  auto* table = static_cast<AttrTable*>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type < table->size()) (*table)[type] = attr;
  return MNL_CB_OK;
}

int on_link(const nlmsghdr* nlh, void* data) {
  auto* facts = static_cast<LinkFacts*>(data);
  AttrTable tb{};
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), collect_attr, &tb) < 0) return MNL_CB_ERROR;
  facts->found = true;
  if (tb[IFLA_LINK]) facts->link = mnl_attr_get_u32(tb[IFLA_LINK]);
  if (tb[IFLA_LINK_NETNSID])
    facts->link_netnsid = static_cast<int32_t>(mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]));
  if (tb[IFLA_LINKINFO]) {
    AttrTable info{};
    mnl_attr_parse_nested(tb[IFLA_LINKINFO], collect_attr, &info);
    if (info[IFLA_INFO_KIND]) facts->kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);
  }
  if (tb[IFLA_XDP]) {
    AttrTable xdp{};
    mnl_attr_parse_nested(tb[IFLA_XDP], collect_attr, &xdp);
    if (xdp[IFLA_XDP_ATTACHED])
      facts->has_xdp = mnl_attr_get_u8(xdp[IFLA_XDP_ATTACHED]) != XDP_ATTACHED_NONE;
  }
  return MNL_CB_OK;
}

LinkFacts get_link(uint32_t ifindex, std::optional<int32_t> netnsid) {
  std::unique_ptr<mnl_socket, MnlSocketCloser> sock(mnl_socket_open(NETLINK_ROUTE));
  if (!sock) throw_errno(errno, "open rtnetlink socket");
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    throw_errno(errno, "bind rtnetlink socket");

  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = static_cast<int>(ifindex);
  // Ask about a link in another namespace by its id as seen from ours.
  if (netnsid) mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, static_cast<uint32_t>(*netnsid));

  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0)
    throw_errno(errno, "send RTM_GETLINK");
  ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
  if (n < 0) throw_errno(errno, "receive RTM_GETLINK");
  LinkFacts facts;
  if (mnl_cb_run(buf.data(), static_cast<size_t>(n), seq,
                 mnl_socket_get_portid(sock.get()), on_link, &facts) < 0)
    throw_errno(errno, fmt::format("RTM_GETLINK ifindex {}", ifindex));
  return facts;
}

}  // namespace

std::optional<VethPeer> veth_peer(uint32_t ifindex) {
  LinkFacts port = get_link(ifindex, std::nullopt);
  if (!port.found || port.kind != "veth" || !port.link) return std::nullopt;
  VethPeer peer;
  peer.peer_ifindex = *port.link;
  peer.peer_netnsid = port.link_netnsid;
  LinkFacts far = get_link(peer.peer_ifindex, peer.peer_netnsid);
  if (!far.found) return std::nullopt;
  peer.peer_has_xdp = far.has_xdp;
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
