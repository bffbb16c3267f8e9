#include "proxy/splice.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include <cstring>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "xdpgw_proxy.skel.h"

namespace xdpgw::proxy {

static_assert(sizeof(xdpgw_proxy_peer) == 32, "proxy_peers value layout (bpf/include/xdpgw/proxy.h)");
static_assert(sizeof(xdpgw_proxy_counter) == 16, "proxy_stats value layout");

void Splicer::SkelDeleter::operator()(xdpgw_proxy_skel* s) const noexcept { xdpgw_proxy_skel__destroy(s); }
void Splicer::RingDeleter::operator()(ring_buffer* r) const noexcept { ring_buffer__free(r); }

Splicer::Splicer() {
  skel_.reset(xdpgw_proxy_skel__open_and_load());
  if (!skel_) throw_errno(errno, "load BPF object xdpgw_proxy (SOCKHASH + sk_skb stream verdict)");
  socks_fd_ = bpf_map__fd(skel_->maps.proxy_socks);
  passive_fd_ = bpf_map__fd(skel_->maps.proxy_passive);
  targets_fd_ = bpf_map__fd(skel_->maps.proxy_targets);
  peers_fd_ = bpf_map__fd(skel_->maps.proxy_peers);
  stats_fd_ = bpf_map__fd(skel_->maps.proxy_stats);
  prog_fd_ = bpf_program__fd(skel_->progs.xdpgw_proxy_verdict);
  // libbpf 1.1 has no bpf_link for sockmap programs (1.5 and kernel 6.10
  // do); a program attached to a map goes away with the map anyway, and we
  // detach it explicitly in the destructor.
  check_errno(bpf_prog_attach(prog_fd_, socks_fd_, BPF_SK_SKB_STREAM_VERDICT, 0),
              "attach sk_skb stream verdict xdpgw_proxy_verdict to SOCKHASH proxy_socks");
  attached_ = true;
  events_.reset(ring_buffer__new(
      bpf_map__fd(skel_->maps.proxy_events),
      [](void* ctx, void* data, size_t size) -> int {
        auto* self = static_cast<Splicer*>(ctx);
        if (size >= sizeof(xdpgw_proxy_event) && self->on_event_)
          self->on_event_(static_cast<const xdpgw_proxy_event*>(data)->cookie);
        return 0;
      },
      this, nullptr));
  if (!events_) throw_errno(errno, "ring_buffer__new proxy_events");
}

int Splicer::events_fd() const { return ring_buffer__epoll_fd(events_.get()); }

void Splicer::consume_events(const std::function<void(uint64_t cookie)>& on_event) {
  on_event_ = on_event;
  const int rc = ring_buffer__consume(events_.get());
  on_event_ = nullptr;
  check_errno(rc, "ring_buffer__consume proxy_events");
}

void Splicer::kick(int fd) {
  const int one = 1;
  check_errno(setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)), "setsockopt SO_RCVLOWAT (kick)");
}

void Splicer::set_passive(uint64_t cookie) {
  const uint32_t one = 1;
  check_errno(bpf_map_update_elem(passive_fd_, &cookie, &one, BPF_ANY), "proxy_passive insert");
}

Splicer::~Splicer() {
  if (attached_ && bpf_prog_detach2(prog_fd_, socks_fd_, BPF_SK_SKB_STREAM_VERDICT) < 0)
    spdlog::warn("detach xdpgw_proxy_verdict from proxy_socks: {}", std::strerror(errno));
}

uint64_t Splicer::cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  check_errno(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len), "getsockopt SO_COOKIE");
  return cookie;
}

void Splicer::splice(int fd_a, uint64_t cookie_a, int fd_b, uint64_t cookie_b) {
  const xdpgw_proxy_peer peer_of_a{
      .peer_cookie = cookie_b, .bytes = 0, .segments = 0, .next_check = XDPGW_PROXY_CHECK_BYTES};
  const xdpgw_proxy_peer peer_of_b{
      .peer_cookie = cookie_a, .bytes = 0, .segments = 0, .next_check = XDPGW_PROXY_CHECK_BYTES};
  try {
    check_errno(bpf_map_update_elem(peers_fd_, &cookie_a, &peer_of_a, BPF_NOEXIST), "proxy_peers insert");
    check_errno(bpf_map_update_elem(peers_fd_, &cookie_b, &peer_of_b, BPF_NOEXIST), "proxy_peers insert");
    // The value of a SOCKHASH update from user space is the socket's fd.
    const uint64_t b = static_cast<uint64_t>(fd_b), a = static_cast<uint64_t>(fd_a);
    check_errno(bpf_map_update_elem(targets_fd_, &cookie_b, &b, BPF_NOEXIST), "proxy_targets insert");
    check_errno(bpf_map_update_elem(targets_fd_, &cookie_a, &a, BPF_NOEXIST), "proxy_targets insert");
    check_errno(bpf_map_update_elem(socks_fd_, &cookie_b, &b, BPF_NOEXIST), "proxy_socks insert");
    check_errno(bpf_map_update_elem(socks_fd_, &cookie_a, &a, BPF_NOEXIST), "proxy_socks insert");
  } catch (...) {
    unsplice(cookie_a, cookie_b);
    throw;
  }
}

void Splicer::unsplice(uint64_t cookie_a, uint64_t cookie_b) noexcept {
  // ENOENT is expected (a closed socket leaves the SOCKHASH by itself).
  for (uint64_t c : {cookie_a, cookie_b}) bpf_map_delete_elem(socks_fd_, &c);
  for (uint64_t c : {cookie_a, cookie_b}) bpf_map_delete_elem(targets_fd_, &c);
  for (uint64_t c : {cookie_a, cookie_b}) bpf_map_delete_elem(passive_fd_, &c);
  for (uint64_t c : {cookie_a, cookie_b}) bpf_map_delete_elem(peers_fd_, &c);
}

uint64_t Splicer::send_stream_position(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  check_errno(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len), "getsockopt TCP_INFO");
  if (len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked))
    throw std::runtime_error("getsockopt TCP_INFO: no tcpi_bytes_acked (kernel before 4.1)");
  int queued = 0;
  check_errno(ioctl(fd, SIOCOUTQ, &queued), "ioctl SIOCOUTQ");
  return info.tcpi_bytes_acked + static_cast<uint64_t>(queued);
}

std::optional<SideCounters> Splicer::side(uint64_t cookie) const {
  xdpgw_proxy_peer v{};
  if (bpf_map_lookup_elem(peers_fd_, &cookie, &v) != 0) return std::nullopt;
  return SideCounters{.bytes = v.bytes, .segments = v.segments};
}

SpliceCounters Splicer::counters() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  std::vector<xdpgw_proxy_counter> per_cpu(static_cast<size_t>(cpus));
  auto sum = [&](uint32_t what) {
    xdpgw_proxy_counter total{};
    check_errno(bpf_map_lookup_elem(stats_fd_, &what, per_cpu.data()), "proxy_stats lookup");
    for (const auto& c : per_cpu) {
      total.skbs += c.skbs;
      total.bytes += c.bytes;
    }
    return total;
  };
  const auto redirected = sum(XDPGW_PROXY_REDIRECTED);
  return {.redirected_bytes = redirected.bytes,
          .redirected_skbs = redirected.skbs,
          .no_peer_skbs = sum(XDPGW_PROXY_NO_PEER).skbs,
          .redirect_failed_skbs = sum(XDPGW_PROXY_REDIRECT_FAILED).skbs,
          .empty_skbs = sum(XDPGW_PROXY_EMPTY).skbs,
          .passed_skbs = sum(XDPGW_PROXY_PASSED).skbs};
}

}  // namespace xdpgw::proxy
