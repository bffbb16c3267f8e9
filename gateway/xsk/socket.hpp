// One AF_XDP socket on one (interface, queue), sharing a Umem, with its four
// rings: fill and completion (its own, one pair per (interface, queue) as
// XDP_SHARED_UMEM requires), rx and tx. Every frame that crosses a ring goes
// through Umem::transition, so the Umem's account stays exact.
//
// Batched: receive() peeks up to a batch of rx descriptors at once,
// transmit() reserves a batch of tx slots, refill() tops the fill ring up in
// one reserve/submit, complete() reaps the completion ring in one peek.
#pragma once

#include <xdp/xsk.h>

#include <cstdint>
#include <span>
#include <string>

#include "common/fd.hpp"
#include "xsk/umem.hpp"

namespace xdpgw::xsk {

// How the socket binds. Auto lets the kernel try zero-copy and fall back to
// copy mode (veth has no zero-copy: PLATFORM.md); Socket::zero_copy()
// reports what it chose (XDP_OPTIONS).
enum class BindMode { Auto, Copy, ZeroCopy };
const char* to_string(BindMode m);

struct SocketConfig {
  std::string ifname;
  uint32_t queue = 0;
  uint32_t rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS * 2;
  uint32_t tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS * 2;
  uint32_t fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS * 2;
  uint32_t comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS * 2;
  BindMode mode = BindMode::Auto;
  // XDP_USE_NEED_WAKEUP: the kernel says when it needs a kick, so a busy
  // ring costs no syscalls.
  bool need_wakeup = true;
  // XSKMAP to register the socket in (and remove it from on destruction);
  // -1 for none. The fd is duplicated. Key: xskmap_slot, or the queue when
  // negative (the usual single-interface layout).
  int xskmap_fd = -1;
  int64_t xskmap_slot = -1;
  // Frames put into the fill ring before the socket enters the XSKMAP: a
  // packet redirected to a socket with an empty fill ring is dropped (and
  // counted rx_fill_ring_empty), so the ring is stocked first.
  uint32_t initial_fill = 0;
};

// A received frame: still owned by the pipeline (state rx) until it is
// released, recycled into a fill ring or transmitted.
struct RxFrame {
  uint64_t addr;  // UMEM address of the packet's first byte
  uint32_t len;
};

struct TxFrame {
  uint64_t addr;
  uint32_t len;
};

// XDP_STATISTICS: what the kernel dropped and why.
struct SocketStats {
  uint64_t rx_dropped = 0;           // no room in the rx ring or bad descriptor
  uint64_t rx_invalid_descs = 0;
  uint64_t tx_invalid_descs = 0;
  uint64_t rx_ring_full = 0;
  uint64_t rx_fill_ring_empty = 0;   // a packet arrived with no fill frame
  uint64_t tx_ring_empty = 0;
};

class Socket {
 public:
  Socket(Umem& umem, const SocketConfig& config);
  // libxdp holds pointers to the ring structs inside: not movable.
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  // Removes the XSKMAP entry, closes the socket and gives every frame it
  // left in the kernel (fill, tx) back to the Umem. Frames in state rx that
  // came from it stay with whoever holds them.
  ~Socket();

  int fd() const noexcept;
  uint32_t queue() const noexcept { return queue_; }
  const std::string& ifname() const noexcept { return ifname_; }
  int ifindex() const noexcept { return ifindex_; }
  bool zero_copy() const noexcept { return zero_copy_; }
  uint16_t owner_id() const noexcept { return owner_; }
  Umem& umem() const noexcept { return umem_; }

  // Puts up to `max` free frames into the fill ring (bounded by its free
  // slots and the free stack); returns how many.
  uint32_t refill(uint32_t max);
  // Gives frames the pipeline holds (state rx) straight back to this
  // socket's fill ring; returns how many fit. Frames that do not fit stay rx.
  uint32_t recycle(std::span<const uint64_t> addrs);
  // Peeks up to out.size() rx descriptors; returns how many were written.
  uint32_t receive(std::span<RxFrame> out);
  // Queues frames (state rx, from any socket of the Umem) for transmission;
  // returns how many fit in the tx ring. The rest stay rx.
  uint32_t transmit(std::span<const TxFrame> frames);
  // Reaps the completion ring: sent frames back to the free stack.
  uint32_t complete(uint32_t max = UINT32_MAX);

  // True when the kernel asked to be woken to process the tx ring (always
  // true without need_wakeup).
  bool tx_needs_kick() const;
  // True when the kernel asked for a wake-up to pick up fill frames.
  bool fill_needs_wakeup() const;
  // The plain-syscall kick: sendto(fd, NULL, 0, MSG_DONTWAIT). EAGAIN /
  // EBUSY / ENOBUFS (kernel busy, try later) are not errors.
  void kick_tx() const;
  // Frames waiting in the tx ring not yet consumed by the kernel.
  uint32_t tx_pending() const noexcept { return tx_queued_; }
  // Frames this socket gave the kernel through its fill ring and has not
  // received back yet.
  uint32_t fill_outstanding() const noexcept { return fill_outstanding_; }
  uint32_t xskmap_slot() const noexcept { return slot_; }

  SocketStats stats() const;

 private:
  Umem& umem_;
  std::string ifname_;
  uint32_t queue_;
  int ifindex_ = 0;
  bool zero_copy_ = false;
  bool need_wakeup_;
  uint16_t owner_;
  xsk_ring_cons rx_{};
  xsk_ring_prod tx_{};
  xsk_ring_prod fill_{};
  xsk_ring_cons comp_{};
  xsk_socket* xsk_ = nullptr;
  UniqueFd xskmap_;
  uint32_t tx_queued_ = 0;  // submitted to tx, not yet completed
  uint32_t fill_outstanding_ = 0;
  uint32_t slot_ = 0;
};

}  // namespace xdpgw::xsk
