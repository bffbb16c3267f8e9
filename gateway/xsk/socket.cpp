#include "xsk/socket.hpp"

#include <bpf/bpf.h>
#include <linux/if_xdp.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::xsk {

const char* to_string(BindMode m) {
  switch (m) {
    case BindMode::Auto: return "auto";
    case BindMode::Copy: return "copy";
    case BindMode::ZeroCopy: return "zero-copy";
  }
  return "?";
}

namespace {

xsk_socket_config socket_config(const SocketConfig& c) {
  xsk_socket_config cfg{};
  cfg.rx_size = c.rx_size;
  cfg.tx_size = c.tx_size;
  // We attach our own dispatcher and own the XSKMAP: without this flag
  // libxdp loads its own program (PLATFORM.md).
  cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  cfg.xdp_flags = 0;
  // Auto binds with neither XDP_COPY nor XDP_ZEROCOPY: the kernel then tries
  // zero-copy and falls back to copy by itself (xp_assign_dev), atomically,
  // in the one bind. A userspace probe (bind zero-copy on a throwaway
  // socket, then bind again) hit EBUSY on veth: the probe's queue is
  // released asynchronously after close (PLATFORM.md).
  uint16_t mode = 0;
  if (c.mode == BindMode::Copy) mode = XDP_COPY;
  if (c.mode == BindMode::ZeroCopy) mode = XDP_ZEROCOPY;
  cfg.bind_flags = static_cast<uint16_t>(mode | (c.need_wakeup ? XDP_USE_NEED_WAKEUP : 0));
  return cfg;
}

}  // namespace

Socket::Socket(Umem& umem, const SocketConfig& config)
    : umem_(umem), ifname_(config.ifname), queue_(config.queue), need_wakeup_(config.need_wakeup),
      owner_(umem.register_socket()) {
  ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  if (!ifindex_) throw_errno(errno, fmt::format("AF_XDP socket: interface {}", ifname_));

  const xsk_socket_config cfg = socket_config(config);
  // The first socket of the Umem takes over the rings xsk_umem__create set
  // up (libxdp copies them into ours); later ones get new rings on their own
  // fd. Both paths go through the same call.
  xsk_ring_prod* fill = &fill_;
  xsk_ring_cons* comp = &comp_;
  const int rc = xsk_socket__create_shared(&xsk_, ifname_.c_str(), queue_, umem.raw(), &rx_, &tx_, fill, comp, &cfg);
  if (rc)
    throw_errno(rc, fmt::format("xsk_socket__create_shared {} queue {} ({} mode)", ifname_, queue_,
                                to_string(config.mode)));
  // What the bind chose, as the kernel reports it.
  xdp_options opts{};
  socklen_t optlen = sizeof(opts);
  if (getsockopt(fd(), SOL_XDP, XDP_OPTIONS, &opts, &optlen)) {
    const int err = errno;
    xsk_socket__delete(xsk_);
    throw_errno(err, fmt::format("XDP_OPTIONS on {} queue {}", ifname_, queue_));
  }
  zero_copy_ = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  if (config.initial_fill) refill(config.initial_fill);
  if (config.xskmap_fd >= 0) {
    xskmap_.reset(fcntl(config.xskmap_fd, F_DUPFD_CLOEXEC, 0));
    if (!xskmap_) {
      const int err = errno;
      xsk_socket__delete(xsk_);
      throw_errno(err, "dup of the XSKMAP fd");
    }
    // Not xsk_socket__update_xskmap: it always keys by queue, and the
    // datapath's XSKMAP is keyed by a slot per (interface, queue).
    slot_ = config.xskmap_slot >= 0 ? static_cast<uint32_t>(config.xskmap_slot) : queue_;
    const int sock_fd = fd();
    if (bpf_map_update_elem(xskmap_.get(), &slot_, &sock_fd, BPF_ANY)) {
      const int err = errno;
      xsk_socket__delete(xsk_);
      throw_errno(err, fmt::format("XSKMAP slot {} for {} queue {}", slot_, ifname_, queue_));
    }
  }
}

Socket::~Socket() {
  if (xskmap_) {
    // The kernel also drops the entry when the socket closes; removing it
    // first means XDP stops redirecting here before the rings go away, and
    // the map never names a dead socket even for a moment.
    (void)bpf_map_delete_elem(xskmap_.get(), &slot_);
  }
  xsk_socket__delete(xsk_);
  // The kernel has let go of the rings: whatever we had handed it through
  // this socket's fill and tx rings is ours again.
  umem_.reclaim_owner(owner_);
}

int Socket::fd() const noexcept { return xsk_socket__fd(xsk_); }

uint32_t Socket::refill(uint32_t max) {
  uint32_t idx = 0;
  const uint32_t room = xsk_prod_nb_free(&fill_, max);
  uint32_t want = room < max ? room : max;
  const uint32_t free_frames = static_cast<uint32_t>(umem_.accounting().free);
  if (want > free_frames) want = free_frames;
  if (!want) return 0;
  const uint32_t got = xsk_ring_prod__reserve(&fill_, want, &idx);
  for (uint32_t i = 0; i < got; ++i) {
    // alloc_one cannot fail: `want` is bounded by the free count above.
    *xsk_ring_prod__fill_addr(&fill_, idx + i) = *umem_.alloc_one(FrameState::Fill, owner_);
  }
  xsk_ring_prod__submit(&fill_, got);
  fill_outstanding_ += got;
  return got;
}

uint32_t Socket::recycle(std::span<const uint64_t> addrs) {
  uint32_t idx = 0;
  const uint32_t got = xsk_ring_prod__reserve(&fill_, static_cast<uint32_t>(addrs.size()), &idx);
  for (uint32_t i = 0; i < got; ++i) {
    umem_.transition(addrs[i], FrameState::Rx, FrameState::Fill, owner_);
    *xsk_ring_prod__fill_addr(&fill_, idx + i) = umem_.frame_of(addrs[i]);
  }
  xsk_ring_prod__submit(&fill_, got);
  fill_outstanding_ += got;
  return got;
}

uint32_t Socket::receive(std::span<RxFrame> out) {
  uint32_t idx = 0;
  const uint32_t got = xsk_ring_cons__peek(&rx_, static_cast<uint32_t>(out.size()), &idx);
  for (uint32_t i = 0; i < got; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + i);
    umem_.transition(d->addr, FrameState::Fill, FrameState::Rx, 0);
    out[i] = RxFrame{.addr = d->addr, .len = d->len};
  }
  xsk_ring_cons__release(&rx_, got);
  fill_outstanding_ -= got;
  return got;
}

uint32_t Socket::transmit(std::span<const TxFrame> frames) {
  uint32_t idx = 0;
  const uint32_t got = xsk_ring_prod__reserve(&tx_, static_cast<uint32_t>(frames.size()), &idx);
  for (uint32_t i = 0; i < got; ++i) {
    umem_.transition(frames[i].addr, FrameState::Rx, FrameState::Tx, owner_);
    xdp_desc* d = xsk_ring_prod__tx_desc(&tx_, idx + i);
    d->addr = frames[i].addr;
    d->len = frames[i].len;
    d->options = 0;
  }
  xsk_ring_prod__submit(&tx_, got);
  tx_queued_ += got;
  return got;
}

uint32_t Socket::complete(uint32_t max) {
  uint32_t idx = 0;
  const uint32_t got = xsk_ring_cons__peek(&comp_, max, &idx);
  for (uint32_t i = 0; i < got; ++i) umem_.release(*xsk_ring_cons__comp_addr(&comp_, idx + i), FrameState::Tx);
  xsk_ring_cons__release(&comp_, got);
  tx_queued_ -= got;
  return got;
}

bool Socket::tx_needs_kick() const { return !need_wakeup_ || xsk_ring_prod__needs_wakeup(&tx_); }

bool Socket::fill_needs_wakeup() const { return need_wakeup_ && xsk_ring_prod__needs_wakeup(&fill_); }

void Socket::kick_tx() const {
  if (::sendto(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return;
  const int err = errno;
  if (err == EAGAIN || err == EBUSY || err == ENOBUFS || err == ENETDOWN) return;
  throw_errno(err, fmt::format("AF_XDP tx kick on {} queue {}", ifname_, queue_));
}

SocketStats Socket::stats() const {
  xdp_statistics s{};
  socklen_t len = sizeof(s);
  check_errno(getsockopt(fd(), SOL_XDP, XDP_STATISTICS, &s, &len),
              fmt::format("XDP_STATISTICS on {} queue {}", ifname_, queue_));
  return {.rx_dropped = s.rx_dropped,
          .rx_invalid_descs = s.rx_invalid_descs,
          .tx_invalid_descs = s.tx_invalid_descs,
          .rx_ring_full = s.rx_ring_full,
          .rx_fill_ring_empty = s.rx_fill_ring_empty_descs,
          .tx_ring_empty = s.tx_ring_empty_descs};
}

}  // namespace xdpgw::xsk
