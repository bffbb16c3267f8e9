// AF_XDP building blocks on real veths: UMEM frame accounting, the
// copy/zero-copy choice, batched rx/tx of a million frames with the account
// back at its start values, both wait modes, and teardown.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness/frame.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"
#include "xsk/socket.hpp"
#include "xsk/umem.hpp"
#include "xsk/waiter.hpp"
#include "xsk/xsk_fixture.hpp"

namespace xdpgw::test {
namespace {

using xsk::FrameState;

TEST(Umem, EveryTransitionKeepsTheAccountBalanced) {
  xsk::Umem umem(xsk::UmemConfig{.frame_count = 256});
  const xsk::FrameAccounting start = umem.accounting();
  EXPECT_EQ(start.total, 256u);
  EXPECT_EQ(start.free, 256u);

  std::array<uint64_t, 10> a{};
  ASSERT_EQ(umem.alloc(a, FrameState::Fill, 1), 10u);
  for (std::size_t i = 0; i < 4; ++i) umem.transition(a[i], FrameState::Fill, FrameState::Rx, 0);
  // Offsets into a frame (what rx descriptors carry) name the same frame.
  umem.transition(a[0] + 256, FrameState::Rx, FrameState::Tx, 2);
  umem.verify();
  xsk::FrameAccounting mid = umem.accounting();
  EXPECT_EQ(mid.free, 246u);
  EXPECT_EQ(mid.in_fill, 6u);
  EXPECT_EQ(mid.in_rx, 3u);
  EXPECT_EQ(mid.in_tx, 1u);
  EXPECT_TRUE(mid.balanced());

  EXPECT_EQ(umem.reclaim_owner(1), 6u);  // the fill frames of "socket 1"
  EXPECT_EQ(umem.reclaim_owner(2), 1u);  // the tx frame of "socket 2"
  for (std::size_t i = 1; i < 4; ++i) umem.release(a[i], FrameState::Rx);
  umem.verify();
  EXPECT_EQ(umem.accounting(), start);
}

TEST(Umem, AWrongTransitionThrowsInsteadOfCorruptingThePool) {
  xsk::Umem umem(xsk::UmemConfig{.frame_count = 16});
  const uint64_t f = *umem.alloc_one(FrameState::Rx, 0);
  umem.release(f, FrameState::Rx);
  EXPECT_THROW(umem.release(f, FrameState::Rx), std::logic_error);  // double free
  EXPECT_THROW(umem.transition(f, FrameState::Fill, FrameState::Rx, 0), std::logic_error);
  EXPECT_THROW(umem.release(16 * umem.frame_size(), FrameState::Rx), std::logic_error);  // beyond the area
  umem.verify();
  EXPECT_EQ(umem.accounting().free, 16u);
}

TEST(Umem, ExhaustionIsAValueNotAnError) {
  xsk::Umem umem(xsk::UmemConfig{.frame_count = 4});
  std::array<uint64_t, 8> a{};
  EXPECT_EQ(umem.alloc(a, FrameState::Rx, 0), 4u);
  EXPECT_FALSE(umem.alloc_one(FrameState::Rx, 0).has_value());
}

// host ns --veth--> gw ns, where every frame arriving on the gw end is
// redirected into an XSKMAP by rx queue.
class XskVeth : public ::testing::Test {
 protected:
  XskVeth()
      : veth_(host_, gw_,
              {.a = {.addresses = {"198.18.0.1/24"}}, .b = {.addresses = {"198.18.0.2/24"}}}),
        xskmap_(create_xskmap(4)),
        redirect_(load_xsk_redirect_prog(xskmap_.get())),
        attach_(gw_, veth_.ifindex_b(), redirect_.get()),
        frame_(FrameBuilder()
                   .eth(veth_.mac_b(), veth_.mac_a())
                   .ipv4({.src = ipv4("198.18.0.1"), .dst = ipv4("198.18.0.2")})
                   .udp({.sport = 4000, .dport = 4001, .zero_checksum = true})
                   .payload(64)
                   .build()) {}

  static constexpr std::size_t kSeqOffset = 14 + 20 + 8;

  xsk::SocketConfig rx_config() const {
    return {.ifname = veth_.name_b(), .queue = 0, .rx_size = 4096, .fill_size = 4096, .xskmap_fd = xskmap_.get(),
            .initial_fill = 4096};
  }
  xsk::SocketConfig tx_config() const { return {.ifname = veth_.name_a(), .queue = 0}; }

  // Receives until `count` frames arrived, checking each is the frame sent
  // with a sequence number seen once; every frame goes straight back to the
  // fill ring.
  struct RxResult {
    uint64_t received = 0;  // test frames, each once
    uint64_t other = 0;     // what the kernel sent by itself (IPv6 ND, ...)
    uint64_t duplicates = 0;
    uint64_t corrupted = 0;
  };
  RxResult receive_all(xsk::Socket& s, xsk::Waiter& w, uint64_t count, std::atomic<uint64_t>& delivered,
                       const std::atomic<bool>& sender_done) {
    RxResult r;
    unsigned idle_waits = 0;
    std::vector<bool> seen(count, false);
    std::array<xsk::RxFrame, 64> batch{};
    std::array<uint64_t, 64> addrs{};
    while (r.received < count) {
      const uint32_t n = s.receive(batch);
      if (!n) {
        // Frames the fill ring could not take back (the kernel publishes
        // its fill consumer index lazily in copy mode) went to the free
        // stack: top the ring up again.
        s.refill(4096);
        if (sender_done.load(std::memory_order_acquire) && ++idle_waits > 100) break;  // hang guard only
        w.wait(std::chrono::milliseconds(100));
        continue;
      }
      for (uint32_t i = 0; i < n; ++i) {
        const uint8_t* d = s.umem().data(batch[i].addr);
        uint64_t seq = 0;
        std::memcpy(&seq, d + kSeqOffset, sizeof(seq));
        const bool same_len = batch[i].len == frame_.size();
        const bool same_head = same_len && std::memcmp(d, frame_.data(), kSeqOffset) == 0 &&
                               std::memcmp(d + kSeqOffset + 8, frame_.data() + kSeqOffset + 8,
                                           frame_.size() - kSeqOffset - 8) == 0;
        if (batch[i].len != frame_.size() || std::memcmp(d, frame_.data(), 14 + 20) != 0) {
          ++r.other;
        } else if (!same_head || seq >= count) {
          ++r.corrupted;
        } else if (seen[seq]) {
          ++r.duplicates;
        } else {
          seen[seq] = true;
          ++r.received;
        }
        addrs[i] = batch[i].addr;
      }
      const uint32_t back = s.recycle(std::span(addrs).first(n));
      for (uint32_t i = back; i < n; ++i) s.umem().release(addrs[i], FrameState::Rx);
      idle_waits = 0;
      delivered.store(r.received, std::memory_order_release);
    }
    return r;
  }

  void run_frames(uint64_t count, xsk::WaitMode mode) {
    // Each Umem is made in the namespace of its sockets: see umem.hpp.
    std::optional<xsk::Umem> rx_umem_owner;
    std::optional<xsk::Umem> tx_umem_owner;
    std::optional<xsk::Socket> rx;
    std::optional<xsk::Socket> tx;
    {
      auto in_gw = gw_.enter();
      rx_umem_owner.emplace(xsk::UmemConfig{.frame_count = 8192, .fill_size = 4096});
      rx.emplace(*rx_umem_owner, rx_config());
    }
    {
      auto in_host = host_.enter();
      tx_umem_owner.emplace(xsk::UmemConfig{.frame_count = 4096});
      tx.emplace(*tx_umem_owner, tx_config());
    }
    xsk::Umem& rx_umem = *rx_umem_owner;
    xsk::Umem& tx_umem = *tx_umem_owner;
    EXPECT_FALSE(rx->zero_copy()) << "veth has no zero-copy AF_XDP (PLATFORM.md)";
    ASSERT_EQ(rx->fill_outstanding(), 4096u) << "stocked before it entered the XSKMAP";
    const xsk::FrameAccounting rx_start = rx_umem.accounting();
    const xsk::FrameAccounting tx_start = tx_umem.accounting();
    EXPECT_EQ(rx_start.in_fill, 4096u);
    EXPECT_EQ(rx_start.free, 8192u - 4096u);

    std::atomic<uint64_t> delivered{0};
    std::atomic<bool> sender_done{false};
    RxResult result;
    {
      std::array<xsk::Socket*, 1> socks{&*rx};
      xsk::Waiter waiter(mode, socks);
      std::thread receiver([&] { result = receive_all(*rx, waiter, count, delivered, sender_done); });
      try {
        // A window below the veth's 256-frame ring (the sender's CPU
        // fills it, the receiving NAPI drains it) and the 4096-frame fill
        // ring: nothing is ever dropped for lack of room.
        send_numbered(*tx, frame_, kSeqOffset, count, delivered, 128);
      } catch (...) {
        sender_done = true;
        receiver.join();
        throw;
      }
      sender_done = true;
      receiver.join();
    }
    EXPECT_EQ(result.received, count);
    EXPECT_EQ(result.duplicates, 0u);
    EXPECT_EQ(result.corrupted, 0u);
    const xsk::SocketStats st = rx->stats();
    EXPECT_EQ(st.rx_dropped, 0u);
    EXPECT_EQ(st.rx_fill_ring_empty, 0u);

    // Back to the start values, counted and recounted frame by frame: top
    // the fill ring up first (see receive_all).
    rx->refill(4096);
    EXPECT_EQ(rx_umem.accounting(), rx_start);
    EXPECT_EQ(tx_umem.accounting(), tx_start);
    rx_umem.verify();
    tx_umem.verify();

    // Closing the sockets gives the kernel's frames back.
    rx.reset();
    tx.reset();
    EXPECT_EQ(rx_umem.accounting().free, 8192u);
    EXPECT_EQ(tx_umem.accounting().free, 4096u);
    rx_umem.verify();
  }

  Netns host_{"host"};
  Netns gw_{"gw"};
  VethPair veth_;
  UniqueFd xskmap_;
  UniqueFd redirect_;
  XdpAttachment attach_;
  std::vector<uint8_t> frame_;
};

TEST_F(XskVeth, AutoModeFallsBackToCopyOnVethAndSaysSo) {
  auto in_gw = gw_.enter();
  {
    // Zero-copy asked for explicitly: refused with the kernel's reason.
    xsk::Umem umem;
    xsk::SocketConfig zc = rx_config();
    zc.mode = xsk::BindMode::ZeroCopy;
    zc.xskmap_fd = -1;
    EXPECT_THROW(xsk::Socket(umem, zc), std::system_error);
  }
  xsk::Umem umem;
  xsk::Socket s(umem, rx_config());
  EXPECT_FALSE(s.zero_copy());
}

TEST_F(XskVeth, AMillionFramesThroughIoUringWaitsAccountingBackToStart) {
  run_frames(1'000'000, xsk::WaitMode::Uring);
}

TEST_F(XskVeth, BusyPollReceivesEveryFrame) { run_frames(50'000, xsk::WaitMode::BusyPoll); }

// Once the socket is gone its XSKMAP slot is empty, so the same frames go
// to the kernel (the redirect's XDP_PASS fallback) and reach a UDP socket,
// and every frame the socket held is free again.
TEST_F(XskVeth, TeardownEmptiesTheSlotAndReturnsEveryFrame) {
  std::optional<xsk::Umem> umem_owner;
  {
    auto in_gw = gw_.enter();
    umem_owner.emplace();
    xsk::Umem& umem = *umem_owner;
    xsk::SocketConfig config = rx_config();
    config.initial_fill = 512;
    xsk::Socket s(umem, config);
    EXPECT_EQ(s.fill_outstanding(), 512u);
    EXPECT_EQ(umem.accounting().in_fill, 512u);
  }
  EXPECT_EQ(umem_owner->accounting().free, umem_owner->frame_count());
  umem_owner->verify();

  UniqueFd udp;
  {
    auto in_gw = gw_.enter();
    udp.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(udp);
    sockaddr_in sa{.sin_family = AF_INET, .sin_port = htons(4001), .sin_addr = {}};
    inet_pton(AF_INET, "198.18.0.2", &sa.sin_addr);
    ASSERT_EQ(::bind(udp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << strerror(errno);
    timeval tv{.tv_sec = 10, .tv_usec = 0};  // a hang guard, not a timing check
    ASSERT_EQ(setsockopt(udp.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  }
  std::optional<xsk::Umem> tx_umem;
  std::optional<xsk::Socket> tx;
  {
    auto in_host = host_.enter();
    tx_umem.emplace();
    tx.emplace(*tx_umem, tx_config());
  }
  std::atomic<uint64_t> none{0};
  send_numbered(*tx, frame_, kSeqOffset, 1, none, 1);
  std::array<uint8_t, 256> buf{};
  const ssize_t n = ::recv(udp.get(), buf.data(), buf.size(), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(frame_.size() - kSeqOffset)) << strerror(errno);
  EXPECT_EQ(std::memcmp(buf.data() + 8, frame_.data() + kSeqOffset + 8, frame_.size() - kSeqOffset - 8), 0);
}

}  // namespace
}  // namespace xdpgw::test
