#include "xsk/xsk_fixture.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/error.hpp"
#include "harness/xdp.hpp"

namespace xdpgw::test {

UniqueFd create_xskmap(uint32_t entries) {
  const int fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "xgt_xsks", 4, 4, entries, nullptr);
  check_errno(fd, "bpf_map_create XSKMAP");
  return UniqueFd(fd);
}

UniqueFd load_xsk_redirect_prog(int xskmap_fd) {
  const std::array<bpf_insn, 6> insns = {{
      // r2 = ctx->rx_queue_index
      {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1,
       .off = static_cast<int16_t>(offsetof(xdp_md, rx_queue_index)), .imm = 0},
      // r1 = &xskmap (ld_imm64, two slots)
      {.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .off = 0,
       .imm = xskmap_fd},
      {.code = 0, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
      // r3 = XDP_PASS: the action when the slot is empty
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .src_reg = 0, .off = 0, .imm = XDP_PASS},
      {.code = BPF_JMP | BPF_CALL, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = BPF_FUNC_redirect_map},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  }};
  return load_xdp_insns(insns, "xgt_xsk_redir");
}

void send_numbered(xsk::Socket& tx, std::span<const uint8_t> frame, std::size_t seq_offset, uint64_t count,
                   const std::atomic<uint64_t>& delivered, uint64_t window) {
  if (seq_offset + 8 > frame.size()) throw std::invalid_argument("sequence number beyond the frame");
  xsk::Umem& umem = tx.umem();
  constexpr std::size_t kBatch = 64;
  std::array<uint64_t, kBatch> addrs{};
  std::array<xsk::TxFrame, kBatch> descs{};
  uint64_t sent = 0;
  // Hang guard only (a lost frame would stall the window forever): give up
  // after 30 s without any progress; the caller's checks then fail with the
  // counts. Never reached when the path works, whatever the machine's speed.
  auto last_change = std::chrono::steady_clock::now();
  uint64_t last_progress = 0;
  while (sent < count || tx.tx_pending() > 0) {
    const uint64_t progress = sent + delivered.load(std::memory_order_relaxed) + tx.tx_pending();
    if (progress != last_progress) {
      last_progress = progress;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change > std::chrono::seconds(30)) {
      const xsk::SocketStats st = tx.stats();
      throw std::runtime_error(fmt::format(
          "send_numbered: no progress for 30 s (frames lost on the way?): sent {} delivered {} tx pending {} "
          "tx invalid {} tx ring empty {}",
          sent, delivered.load(), tx.tx_pending(), st.tx_invalid_descs, st.tx_ring_empty));
    }
    tx.complete();
    const uint64_t done = delivered.load(std::memory_order_acquire);
    const uint64_t in_flight = sent > done ? sent - done : 0;
    std::size_t want = std::min<uint64_t>({uint64_t{kBatch}, count - sent, in_flight < window ? window - in_flight : 0});
    const std::size_t got = umem.alloc(std::span(addrs).first(want), xsk::FrameState::Rx, 0);
    for (std::size_t i = 0; i < got; ++i) {
      uint8_t* data = umem.data(addrs[i]);
      std::memcpy(data, frame.data(), frame.size());
      const uint64_t seq = sent + i;
      std::memcpy(data + seq_offset, &seq, sizeof(seq));
      descs[i] = {.addr = addrs[i], .len = static_cast<uint32_t>(frame.size())};
    }
    const uint32_t queued = tx.transmit(std::span(descs).first(got));
    for (std::size_t i = queued; i < got; ++i) umem.release(addrs[i], xsk::FrameState::Rx);
    sent += queued;
    if (tx.tx_pending() > 0 && tx.tx_needs_kick()) tx.kick_tx();
  }
}

}  // namespace xdpgw::test
