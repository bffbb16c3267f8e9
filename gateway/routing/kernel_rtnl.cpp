#include "routing/kernel_rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <ctime>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "datapath/rtnl.hpp"

namespace xdpgw::routing {
namespace {

constexpr size_t kRecvBuffer = 64 << 10;

constexpr uint16_t kUsableStates = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
                                   NUD_PERMANENT | NUD_NOARP;

template <size_t Max>
using AttrTable = std::array<const nlattr*, Max + 1>;

template <size_t Max>
int collect(const nlattr* attr, void* data) {
  auto* table = static_cast<AttrTable<Max>*>(data);
  const uint16_t type = mnl_attr_get_type(attr);
  if (type <= Max) (*table)[type] = attr;
  return MNL_CB_OK;
}

size_t addr_len(uint8_t family) { return family == AF_INET ? 4 : 16; }

bool copy_addr(const nlattr* attr, uint8_t family, Addr& out) {
  if (attr == nullptr || mnl_attr_get_payload_len(attr) != addr_len(family)) return false;
  std::memcpy(out.data(), mnl_attr_get_payload(attr), addr_len(family));
  return true;
}

// Sends one dump request on a fresh socket and calls `each` for every
// message of the answer. A dump the kernel marks inconsistent (a table
// changed under it, NLM_F_DUMP_INTR) is asked for again.
template <class F>
void dump(uint16_t type, uint8_t family, size_t header_len, F&& each) {
  for (int attempt = 0;; ++attempt) {
    rtnl::MnlSocket sock = rtnl::open_socket();
    std::vector<char> buf(kRecvBuffer);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    const uint32_t seq = static_cast<uint32_t>(time(nullptr));
    nlh->nlmsg_seq = seq;
    auto* hdr = static_cast<uint8_t*>(mnl_nlmsg_put_extra_header(nlh, header_len));
    hdr[0] = family;  // rtmsg, ndmsg and fib_rule_hdr all start with the family
    if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0)
      throw_errno(errno, fmt::format("send netlink dump request {}", type));
    const uint32_t portid = mnl_socket_get_portid(sock.get());
    std::vector<std::vector<char>> messages;
    auto keep = [](const nlmsghdr* msg, void* data) {
      auto* out = static_cast<std::vector<std::vector<char>>*>(data);
      const char* p = reinterpret_cast<const char*>(msg);
      out->emplace_back(p, p + msg->nlmsg_len);
      return MNL_CB_OK;
    };
    int rc = MNL_CB_OK;
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
      if (n < 0) throw_errno(errno, fmt::format("receive netlink dump {}", type));
      rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, keep, &messages);
      if (rc <= MNL_CB_STOP) break;
    }
    if (rc == MNL_CB_ERROR && errno == EINTR && attempt < 5) continue;
    if (rc == MNL_CB_ERROR) throw_errno(errno, fmt::format("netlink dump {}", type));
    for (const auto& m : messages) each(reinterpret_cast<const nlmsghdr*>(m.data()));
    return;
  }
}

}  // namespace

std::optional<KernelRoute> parse_route(const nlmsghdr* nlh) {
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) return std::nullopt;
  // Route cache entries (IPv6 exceptions, PMTU): not part of the tables.
  if (rtm->rtm_flags & RTM_F_CLONED) return std::nullopt;
  AttrTable<RTA_MAX> tb{};
  if (mnl_attr_parse(nlh, sizeof(*rtm), collect<RTA_MAX>, &tb) < 0) return std::nullopt;
  const uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
  if (table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL && table != RT_TABLE_DEFAULT)
    return std::nullopt;
  const uint8_t family = rtm->rtm_family;
  KernelRoute r;
  Addr dst{};
  copy_addr(tb[RTA_DST], family, dst);
  r.dst = Prefix::make(family, dst, rtm->rtm_dst_len);
  r.table = table;
  r.type = rtm->rtm_type;
  r.tos = rtm->rtm_tos;
  r.src_len = rtm->rtm_src_len;
  if (tb[RTA_PRIORITY]) r.priority = mnl_attr_get_u32(tb[RTA_PRIORITY]);
  if (tb[RTA_OIF]) r.oif = mnl_attr_get_u32(tb[RTA_OIF]);
  Addr gw{};
  if (copy_addr(tb[RTA_GATEWAY], family, gw)) r.gateway = gw;
  r.multipath = tb[RTA_MULTIPATH] != nullptr;
  r.nh_object = tb[RTA_NH_ID] != nullptr;
  r.foreign_gateway = tb[RTA_VIA] != nullptr;
  return r;
}

std::optional<ParsedNeigh> parse_neigh(const nlmsghdr* nlh) {
  const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) return std::nullopt;
  if (ndm->ndm_flags & NTF_PROXY) return std::nullopt;  // proxy ARP/NDP: not a neighbour
  AttrTable<NDA_MAX> tb{};
  if (mnl_attr_parse(nlh, sizeof(*ndm), collect<NDA_MAX>, &tb) < 0) return std::nullopt;
  ParsedNeigh n;
  n.key.family = ndm->ndm_family;
  n.key.ifindex = static_cast<uint32_t>(ndm->ndm_ifindex);
  if (!copy_addr(tb[NDA_DST], n.key.family, n.key.addr)) return std::nullopt;
  // Multicast and broadcast entries (IPv6 solicited-node groups, the
  // subnet broadcast: NOARP, a group MAC) are never a unicast next hop, and
  // the kernel creates them without an event: leave them out.
  const bool multicast = n.key.family == AF_INET ? (n.key.addr[0] & 0xf0) == 0xe0
                                                 : n.key.addr[0] == 0xff;
  if (multicast) return std::nullopt;
  const bool has_mac = tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6;
  if (has_mac) std::memcpy(n.state.mac.data(), mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
  if (has_mac && (n.state.mac[0] & 1)) return std::nullopt;
  n.state.usable = has_mac && (ndm->ndm_state & kUsableStates) != 0;
  if (!n.state.usable) n.state.mac = {};
  return n;
}

std::optional<RuleInfo> parse_rule(const nlmsghdr* nlh) {
  const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
  if (frh->family != AF_INET && frh->family != AF_INET6) return std::nullopt;
  AttrTable<FRA_MAX> tb{};
  if (mnl_attr_parse(nlh, sizeof(*frh), collect<FRA_MAX>, &tb) < 0) return std::nullopt;
  const uint32_t table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
  const uint32_t prio = tb[FRA_PRIORITY] ? mnl_attr_get_u32(tb[FRA_PRIORITY]) : 0;
  bool selector = frh->dst_len || frh->src_len || frh->tos || (frh->flags & FIB_RULE_INVERT) ||
                  frh->action != FR_ACT_TO_TBL;
  for (int attr : {FRA_IIFNAME, FRA_OIFNAME, FRA_FWMARK, FRA_FWMASK, FRA_SRC, FRA_DST,
                   FRA_UID_RANGE, FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE, FRA_L3MDEV,
                   FRA_GOTO, FRA_FLOW, FRA_TUN_ID})
    selector = selector || tb[attr] != nullptr;
  for (int attr : {FRA_SUPPRESS_PREFIXLEN, FRA_SUPPRESS_IFGROUP})
    selector = selector || (tb[attr] && mnl_attr_get_u32(tb[attr]) != UINT32_MAX);
  const bool known = (prio == 0 && table == RT_TABLE_LOCAL) ||
                     (prio == 32766 && table == RT_TABLE_MAIN) ||
                     (prio == 32767 && table == RT_TABLE_DEFAULT && frh->family == AF_INET);
  return RuleInfo{.family = frh->family, .is_default = known && !selector};
}

KernelRoutes dump_kernel() {
  KernelRoutes fresh;
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
    dump(RTM_GETROUTE, family, sizeof(rtmsg), [&](const nlmsghdr* m) {
      if (auto r = parse_route(m)) fresh.add_route(*r, false);
    });
  dump(RTM_GETNEIGH, AF_UNSPEC, sizeof(ndmsg), [&](const nlmsghdr* m) {
    if (auto n = parse_neigh(m)) fresh.set_neighbour(n->key, n->state);
  });
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) {
    size_t defaults = 0, foreign = 0;
    dump(RTM_GETRULE, family, sizeof(fib_rule_hdr), [&](const nlmsghdr* m) {
      if (auto r = parse_rule(m); r && r->family == family) ++(r->is_default ? defaults : foreign);
    });
    fresh.set_foreign_rules(family, foreign > 0 || defaults != (family == AF_INET ? 3u : 2u));
  }
  fresh.take_dirty();
  return fresh;
}

}  // namespace xdpgw::routing
