// Shared pieces of the AF_XDP tests: an XSKMAP, a minimal XDP program that
// redirects every frame into it by rx queue, and a sender that pushes
// numbered frames out of another AF_XDP socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "common/fd.hpp"
#include "xsk/socket.hpp"

namespace xdpgw::test {

// XSKMAP with `entries` slots (key = rx queue).
UniqueFd create_xskmap(uint32_t entries);
// `return bpf_redirect_map(&xskmap, ctx->rx_queue_index, XDP_PASS)`: frames
// for a queue without a socket go to the kernel.
UniqueFd load_xsk_redirect_prog(int xskmap_fd);

// Sends `count` copies of `frame` out of `tx`, each with its sequence number
// (little endian, 8 bytes) at `seq_offset`. At most `window` frames are in
// flight beyond what `delivered` reports, so a receiver that is slower than
// the sender never makes the kernel drop: no timing involved. Reaps every
// completion before returning.
void send_numbered(xsk::Socket& tx, std::span<const uint8_t> frame, std::size_t seq_offset, uint64_t count,
                   const std::atomic<uint64_t>& delivered, uint64_t window);

}  // namespace xdpgw::test
