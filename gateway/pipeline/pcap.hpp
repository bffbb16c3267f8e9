// A pcapng capture written through io_uring, with what xdpdump puts in its
// files: one Interface Description Block per ingress port (if_name is the
// port's name, if_tsresol nanoseconds), written the first time a packet of
// that port is, and one Enhanced Packet Block per packet pointing at its
// port's interface, with epb_flags (inbound), epb_queue (the rx queue) and
// an opt_comment (why the packet is in the capture: "drop_reason=<name>",
// "punted"). tcpdump -r and Wireshark read it.
//
// Two ways out:
//  - a file this writer creates: each block is an IORING_OP_WRITE at its
//    offset, many in flight; the caller's thread never waits for the disk;
//  - an fd given to it (a pipe, the CLI's stdout for `-w -`): one write in
//    flight at a time at the fd's position, the next queued behind it, and
//    a short write continued, so the stream keeps its order.
// Either way at most kMaxQueued blocks wait; beyond that write() waits.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "xsk/waiter.hpp"

namespace xdpgw::pipeline {

class PcapngWriter {
 public:
  // Creates (truncates) `path` and writes the Section Header Block. Frames
  // are cut to `snaplen` bytes.
  PcapngWriter(const std::filesystem::path& path, uint32_t snaplen);
  // Writes into `out` (a pipe, a terminal, a file opened by someone else),
  // from its current position; clears O_NONBLOCK on it (io_uring would
  // answer EAGAIN instead of waiting for the reader).
  PcapngWriter(UniqueFd out, uint32_t snaplen);
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;
  // Waits for every write the kernel holds (errors are logged: a destructor
  // cannot throw).
  ~PcapngWriter();

  struct Packet {
    std::span<const uint8_t> captured;  // cut to the snaplen too
    uint32_t orig_len = 0;              // the frame's length on the wire
    uint64_t wall_ns = 0;               // CLOCK_REALTIME, nanoseconds
    uint32_t ifindex = 0;               // ingress port (named with if_indextoname)
    std::optional<uint32_t> rx_queue;
    std::string_view comment;  // opt_comment; empty: none
  };
  void write(const Packet& p);
  // A frame received now, with nothing else known about it (tests).
  void write(std::span<const uint8_t> frame, uint32_t ifindex, std::string_view comment = {});
  // Waits until every queued write completed; throws if a write failed
  // (then, and from then on, write() throws too).
  void flush();
  uint64_t records() const noexcept { return records_; }

  static constexpr std::size_t kMaxQueued = 32;

 private:
  void start(uint32_t snaplen);
  uint32_t interface_id(uint32_t ifindex);
  void queue(std::vector<uint8_t> block);
  void submit(std::size_t i);
  void reap(bool wait);

  UniqueFd fd_;
  bool stream_ = false;  // given an fd: one write at a time, at its position
  uint32_t snaplen_ = 0;
  xsk::Uring ring_{64};
  uint64_t offset_ = 0;  // file mode: where the next block goes
  struct Pending {
    std::vector<uint8_t> bytes;
    std::size_t written = 0;  // stream mode: what a short write already took
    uint64_t offset = 0;      // file mode: where it goes
    bool submitted = false;
    bool done = false;
  };
  uint64_t first_id_ = 0;  // id of pending_.front(); ids are positions in the stream
  std::deque<Pending> pending_;
  std::size_t in_flight_ = 0;  // writes submitted and not completed
  std::string error_;          // the first failed write; the output is broken after it
  std::map<uint32_t, uint32_t> interfaces_;  // ifindex -> IDB id
  uint64_t records_ = 0;
};

}  // namespace xdpgw::pipeline
