#include "runner/xsk_forwarder.hpp"

#include <pthread.h>
#include <signal.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "harness/netns.hpp"
#include "harness/prog_run.hpp"
#include "xbn_xsk_min.skel.h"

namespace xdpgw::bench {
namespace {

// xdpgw's pipeline defaults ([punt] frames = 8192, batch = 64) and its split
// of the UMEM on two ports: half the frames wait in the fill rings, evenly
// per socket, so each ring holds 2048.
constexpr uint32_t kFrames = 8192;
constexpr uint32_t kBatch = 64;
constexpr uint32_t kSockets = 2;
constexpr uint32_t kFillTarget = kFrames / 2 / kSockets;

}  // namespace

void MinimalXskForwarder::SkeletonDeleter::operator()(::xbn_xsk_min_skel* skel) const noexcept {
  xbn_xsk_min_skel__destroy(skel);
}

MinimalXskForwarder::MinimalXskForwarder(const std::string& netns_path, const std::string& ingress,
                                         const std::string& egress, const test::MacAddr& dst_mac,
                                         const test::MacAddr& src_mac)
    : dst_mac_(dst_mac), src_mac_(src_mac) {
  ::xbn_xsk_min_skel* skel = xbn_xsk_min_skel__open_and_load();
  if (skel == nullptr) throw_errno(errno, "open and load BPF program xbn_xsk_min");
  skel_.reset(skel);
  {
    // Sockets bind by ifindex in the namespace they are created in, and the
    // UMEM's fd becomes the first socket (gateway/xsk/umem.hpp): all of it
    // inside the gateway's namespace.
    test::NetnsGuard inside(netns_path);
    umem_ = std::make_unique<xsk::Umem>(
        xsk::UmemConfig{.frame_count = kFrames, .fill_size = kFillTarget, .comp_size = kFillTarget});
    // Stocked before it enters the XSKMAP (SocketConfig::initial_fill).
    rx_ = std::make_unique<xsk::Socket>(
        *umem_, xsk::SocketConfig{.ifname = ingress,
                                  .queue = 0,
                                  .rx_size = kFillTarget,
                                  .tx_size = kFillTarget,
                                  .fill_size = kFillTarget,
                                  .comp_size = kFillTarget,
                                  .xskmap_fd = bpf_map__fd(skel_->maps.xsks),
                                  .xskmap_slot = 0,
                                  .initial_fill = kFillTarget});
    // Transmits only: no XSKMAP entry, no fill frames.
    tx_ = std::make_unique<xsk::Socket>(
        *umem_, xsk::SocketConfig{.ifname = egress,
                                  .queue = 0,
                                  .rx_size = kFillTarget,
                                  .tx_size = kFillTarget,
                                  .fill_size = kFillTarget,
                                  .comp_size = kFillTarget});
  }
  // The program redirects only once the socket is in the XSKMAP with frames
  // to fill: attached last.
  link_.emplace(skel_->progs.xbn_xsk_min, netns_path, ingress);
  const std::array<xsk::Socket*, 2> sockets = {rx_.get(), tx_.get()};
  waiter_ = std::make_unique<xsk::Waiter>(xsk::WaitMode::Uring, sockets);
  fill_target_ = kFillTarget;
  // SIGINT / SIGTERM must reach the main thread, whose generator run they
  // interrupt (install_stop_signal_handlers); this thread would only see its
  // io_uring wait fail. A new thread inherits the creating thread's mask.
  sigset_t stop_signals, previous;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (const int err = pthread_sigmask(SIG_BLOCK, &stop_signals, &previous); err != 0) {
    throw_errno(err, "pthread_sigmask");
  }
  try {
    thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

// Members go in reverse declaration order: the jthread (stop, join) first.
MinimalXskForwarder::~MinimalXskForwarder() = default;

void MinimalXskForwarder::run(const std::stop_token& stop) {
  std::vector<xsk::RxFrame> batch(kBatch);
  std::vector<xsk::TxFrame> out;
  out.reserve(kBatch);
  try {
    while (!stop.stop_requested()) {
      const uint32_t n = rx_->receive(batch);
      out.clear();
      for (uint32_t i = 0; i < n; ++i) {
        uint8_t* frame = umem_->data(batch[i].addr);
        std::memcpy(frame, dst_mac_.data(), 6);
        std::memcpy(frame + 6, src_mac_.data(), 6);
        out.push_back({.addr = batch[i].addr, .len = batch[i].len});
      }
      const uint32_t sent = n ? tx_->transmit(out) : 0;
      // No tx slot: the frame is dropped, as the pipeline does (tx_ring_full).
      for (uint32_t i = sent; i < n; ++i) umem_->release(out[i].addr, xsk::FrameState::Rx);
      received_.fetch_add(n, std::memory_order_relaxed);
      transmitted_.fetch_add(sent, std::memory_order_relaxed);
      tx_ring_full_.fetch_add(n - sent, std::memory_order_relaxed);
      tx_->complete();
      // One kick per loop, batched into the io_uring wait as the pipeline
      // does. Copy mode sends at most 32 descriptors per kick
      // (xsk_generic_xmit's TX_BATCH_SIZE), so under a flood the tx ring
      // fills and the rest is dropped here (tx_ring_full), as in the
      // pipeline; kicking once per 32 frames directly measured no better on
      // this machine (the skb transmit behind each kick is the cost).
      if (tx_->tx_pending() > 0 && tx_->tx_needs_kick()) waiter_->kick(*tx_);
      if (rx_->fill_outstanding() < fill_target_) rx_->refill(fill_target_ - rx_->fill_outstanding());
      if (n > 0) {
        waiter_->flush();
      } else {
        waiter_->wait(std::chrono::milliseconds(100));
      }
    }
    // Let the kernel finish what was queued, so every frame is accounted for
    // before the sockets close.
    for (int i = 0; i < 1000 && tx_->tx_pending() > 0; ++i) {
      tx_->kick_tx();
      tx_->complete();
    }
  } catch (const std::exception& e) {
    const std::lock_guard lock(error_mu_);
    error_ = e.what();
  }
}

XskForwarderStats MinimalXskForwarder::stats() const {
  const xbn_counter punted = test::sum_percpu<xbn_counter>(
      bpf_map__fd(skel_->maps.punt_stats), 0, [](xbn_counter sum, const xbn_counter& cpu) {
        sum.packets += cpu.packets;
        sum.bytes += cpu.bytes;
        return sum;
      });
  return XskForwarderStats{.punted = punted.packets,
                           .received = received_.load(std::memory_order_relaxed),
                           .transmitted = transmitted_.load(std::memory_order_relaxed),
                           .tx_ring_full = tx_ring_full_.load(std::memory_order_relaxed),
                           .rx_socket = rx_->stats()};
}

std::optional<std::string> MinimalXskForwarder::error() const {
  const std::lock_guard lock(error_mu_);
  return error_;
}

}  // namespace xdpgw::bench
