#include "datapath/neigh.hpp"

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "datapath/rtnl.hpp"

namespace xdpgw::neigh {
namespace {

constexpr uint16_t kUsableStates = NUD_REACHABLE | NUD_STALE | NUD_DELAY |
                                   NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

struct DumpState {
  const Key* want;
  std::optional<std::array<uint8_t, 6>> mac;
};

int on_neigh(const nlmsghdr* nlh, void* data) {
  auto* st = static_cast<DumpState*>(data);
  auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ndm->ndm_family != st->want->family ||
      static_cast<uint32_t>(ndm->ndm_ifindex) != st->want->ifindex ||
      !(ndm->ndm_state & kUsableStates))
    return MNL_CB_OK;
  const size_t alen = st->want->family == AF_INET ? 4 : 16;
  std::array<const nlattr*, NDA_MAX + 1> attrs{};
  auto collect = [](const nlattr* attr, void* out) {
    uint16_t type = mnl_attr_get_type(attr);
    if (type <= NDA_MAX)
      (*static_cast<std::array<const nlattr*, NDA_MAX + 1>*>(out))[type] = attr;
    return MNL_CB_OK;
  };
  if (mnl_attr_parse(nlh, sizeof(*ndm), collect, &attrs) < 0) return MNL_CB_OK;
  const nlattr* dst = attrs[NDA_DST];
  const nlattr* lladdr = attrs[NDA_LLADDR];
  if (!dst || !lladdr || mnl_attr_get_payload_len(dst) != alen ||
      mnl_attr_get_payload_len(lladdr) != 6)
    return MNL_CB_OK;
  if (std::memcmp(mnl_attr_get_payload(dst), st->want->addr.data(), alen) != 0)
    return MNL_CB_OK;
  std::array<uint8_t, 6> mac;
  std::memcpy(mac.data(), mnl_attr_get_payload(lladdr), 6);
  st->mac = mac;
  return MNL_CB_OK;
}

}  // namespace

std::optional<std::array<uint8_t, 6>> lookup(const Key& key) {
  rtnl::MnlSocket sock = rtnl::open_socket();
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETNEIGH;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* ndm = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
  ndm->ndm_family = static_cast<uint8_t>(key.family);
  ndm->ndm_ifindex = static_cast<int>(key.ifindex);

  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0)
    throw_errno(errno, "send RTM_GETNEIGH");
  DumpState st{&key, std::nullopt};
  uint32_t portid = mnl_socket_get_portid(sock.get());
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
    if (n < 0) throw_errno(errno, "receive RTM_GETNEIGH dump");
    int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, on_neigh, &st);
    if (rc == MNL_CB_ERROR) throw_errno(errno, "parse RTM_GETNEIGH dump");
    if (rc == MNL_CB_STOP) break;
  }
  return st.mac;
}

void request_resolution(const Key& key) {
  rtnl::MnlSocket sock = rtnl::open_socket();
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWNEIGH;
  // CREATE: without an existing entry the kernel answers ENOENT instead of
  // creating one and starting resolution.
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* ndm = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
  ndm->ndm_family = static_cast<uint8_t>(key.family);
  ndm->ndm_ifindex = static_cast<int>(key.ifindex);
  ndm->ndm_flags = NTF_USE;
  mnl_attr_put(nlh, NDA_DST, key.family == AF_INET ? 4 : 16, key.addr.data());

  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0)
    throw_errno(errno, "send RTM_NEWNEIGH (NTF_USE)");
  ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
  if (n < 0) throw_errno(errno, "receive RTM_NEWNEIGH ack");
  if (mnl_cb_run(buf.data(), static_cast<size_t>(n), seq,
                 mnl_socket_get_portid(sock.get()), nullptr, nullptr) < 0)
    throw_errno(errno, "resolve neighbour (RTM_NEWNEIGH NTF_USE)");
}

}  // namespace xdpgw::neigh
