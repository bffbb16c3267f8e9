#include "datapath/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::rtnl {
namespace {


using AttrTable = std::array<const nlattr*, IFLA_MAX + 1>;

int collect_attr(const nlattr* attr, void* data) {
  auto* table = static_cast<AttrTable*>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type < table->size()) (*table)[type] = attr;
  return MNL_CB_OK;
}

struct Answer {
  std::optional<LinkInfo> link;
};

int on_link(const nlmsghdr* nlh, void* data) {
  auto* answer = static_cast<Answer*>(data);
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  AttrTable tb{};
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), collect_attr, &tb) < 0) return MNL_CB_ERROR;
  LinkInfo info;
  info.ifindex = static_cast<uint32_t>(ifi->ifi_index);
  info.up = (ifi->ifi_flags & IFF_UP) != 0;
  info.running = (ifi->ifi_flags & IFF_RUNNING) != 0;
  if (tb[IFLA_IFNAME]) info.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
  if (tb[IFLA_MTU]) info.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
  if (tb[IFLA_LINK]) info.link = mnl_attr_get_u32(tb[IFLA_LINK]);
  if (tb[IFLA_LINK_NETNSID])
    info.link_netnsid = static_cast<int32_t>(mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]));
  if (tb[IFLA_LINKINFO]) {
    AttrTable nested{};
    mnl_attr_parse_nested(tb[IFLA_LINKINFO], collect_attr, &nested);
    if (nested[IFLA_INFO_KIND]) info.kind = mnl_attr_get_str(nested[IFLA_INFO_KIND]);
  }
  if (tb[IFLA_XDP]) {
    AttrTable xdp{};
    mnl_attr_parse_nested(tb[IFLA_XDP], collect_attr, &xdp);
    if (xdp[IFLA_XDP_ATTACHED]) info.xdp_attached = mnl_attr_get_u8(xdp[IFLA_XDP_ATTACHED]);
    if (xdp[IFLA_XDP_PROG_ID]) info.xdp_prog_id = mnl_attr_get_u32(xdp[IFLA_XDP_PROG_ID]);
  }
  if (tb[IFLA_STATS64] &&
      mnl_attr_get_payload_len(tb[IFLA_STATS64]) >= sizeof(rtnl_link_stats64)) {
    rtnl_link_stats64 s;
    std::memcpy(&s, mnl_attr_get_payload(tb[IFLA_STATS64]), sizeof(s));
    info.stats = {s.rx_packets, s.tx_packets, s.rx_bytes,  s.tx_bytes,
                  s.rx_dropped, s.tx_dropped, s.rx_errors, s.tx_errors};
  }
  answer->link = std::move(info);
  return MNL_CB_OK;
}

}  // namespace

void MnlSocketCloser::operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }

MnlSocket open_socket() {
  MnlSocket sock(mnl_socket_open(NETLINK_ROUTE));
  if (!sock) throw_errno(errno, "open rtnetlink socket");
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    throw_errno(errno, "bind rtnetlink socket");
  return sock;
}

std::optional<LinkInfo> query_link(uint32_t ifindex, std::optional<int32_t> netnsid) {
  MnlSocket sock = open_socket();

  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = static_cast<int>(ifindex);
  if (netnsid) mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, static_cast<uint32_t>(*netnsid));

  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0)
    throw_errno(errno, "send RTM_GETLINK");
  ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
  if (n < 0) throw_errno(errno, "receive RTM_GETLINK");
  Answer answer;
  if (mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, mnl_socket_get_portid(sock.get()),
                 on_link, &answer) < 0) {
    if (errno == ENODEV) return std::nullopt;
    throw_errno(errno, fmt::format("RTM_GETLINK ifindex {}", ifindex));
  }
  return answer.link;
}

namespace {

struct RouteAnswer {
  std::optional<RouteHop> hop;
  size_t addr_len = 4;
};

int on_route(const nlmsghdr* nlh, void* data) {
  auto* answer = static_cast<RouteAnswer*>(data);
  std::array<const nlattr*, RTA_MAX + 1> tb{};
  mnl_attr_parse(nlh, sizeof(rtmsg), [](const nlattr* attr, void* d) {
    auto* table = static_cast<std::array<const nlattr*, RTA_MAX + 1>*>(d);
    if (uint16_t type = mnl_attr_get_type(attr); type <= RTA_MAX) (*table)[type] = attr;
    return MNL_CB_OK;
  }, &tb);
  if (!tb[RTA_OIF]) return MNL_CB_OK;
  RouteHop hop;
  hop.oif = mnl_attr_get_u32(tb[RTA_OIF]);
  const nlattr* via = tb[RTA_GATEWAY] ? tb[RTA_GATEWAY] : tb[RTA_DST];
  if (via && mnl_attr_get_payload_len(via) == answer->addr_len)
    std::memcpy(hop.neighbour.data(), mnl_attr_get_payload(via), answer->addr_len);
  answer->hop = hop;
  return MNL_CB_OK;
}

}  // namespace

std::optional<RouteHop> route_get(int family, const std::array<uint8_t, 16>& addr) {
  MnlSocket sock = open_socket();
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<uint8_t>(family);
  const size_t len = family == AF_INET ? 4 : 16;
  rtm->rtm_dst_len = static_cast<uint8_t>(len * 8);
  mnl_attr_put(nlh, RTA_DST, len, addr.data());
  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0) throw_errno(errno, "send RTM_GETROUTE");
  ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
  if (n < 0) throw_errno(errno, "receive RTM_GETROUTE");
  RouteAnswer answer;
  answer.addr_len = len;
  if (mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, mnl_socket_get_portid(sock.get()),
                 on_route, &answer) < 0) {
    if (errno == ENETUNREACH || errno == EHOSTUNREACH) return std::nullopt;
    throw_errno(errno, "RTM_GETROUTE");
  }
  return answer.hop;
}

std::optional<int32_t> netnsid_of(int netns_fd) {
  MnlSocket sock = open_socket();
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETNSID;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* gen = static_cast<rtgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtgenmsg)));
  gen->rtgen_family = AF_UNSPEC;
  mnl_attr_put_u32(nlh, NETNSA_FD, static_cast<uint32_t>(netns_fd));
  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0)
    throw_errno(errno, "send RTM_GETNSID");
  ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
  if (n < 0) throw_errno(errno, "receive RTM_GETNSID");
  std::optional<int32_t> nsid;
  auto on_nsid = [](const nlmsghdr* msg, void* data) {
    std::array<const nlattr*, NETNSA_MAX + 1> tb{};
    auto collect = [](const nlattr* attr, void* out) {
      auto* table = static_cast<std::array<const nlattr*, NETNSA_MAX + 1>*>(out);
      if (mnl_attr_get_type(attr) <= NETNSA_MAX) (*table)[mnl_attr_get_type(attr)] = attr;
      return MNL_CB_OK;
    };
    mnl_attr_parse(msg, sizeof(rtgenmsg), collect, &tb);
    if (tb[NETNSA_NSID]) {
      auto id = static_cast<int32_t>(mnl_attr_get_u32(tb[NETNSA_NSID]));
      if (id != NETNSA_NSID_NOT_ASSIGNED) *static_cast<std::optional<int32_t>*>(data) = id;
    }
    return MNL_CB_OK;
  };
  if (mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, mnl_socket_get_portid(sock.get()),
                 on_nsid, &nsid) < 0)
    throw_errno(errno, "RTM_GETNSID");
  return nsid;
}

}  // namespace xdpgw::rtnl
