// A pcap file written through io_uring: the pipeline thread queues each
// record as an IORING_OP_WRITE at its file offset and never blocks on the
// disk; buffers live until their write completes. tcpdump -r reads it.
#pragma once

#include <sys/time.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <span>
#include <vector>

#include "common/fd.hpp"
#include "xsk/waiter.hpp"

namespace xdpgw::pipeline {

class PcapWriter {
 public:
  // Creates (truncates) `path` and writes the global header (Ethernet,
  // microsecond timestamps). Frames are cut to `snaplen` bytes.
  PcapWriter(const std::filesystem::path& path, uint32_t snaplen);
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  // Waits for every queued write (errors are logged: a destructor cannot
  // throw).
  ~PcapWriter();

  // A frame received now.
  void write(std::span<const uint8_t> frame);
  // A frame of `orig_len` bytes seen at `when`, of which `captured` are
  // kept (then cut to the snaplen too).
  void write(std::span<const uint8_t> captured, uint32_t orig_len, timeval when);
  // Waits until every queued write completed; throws on a failed or short
  // write.
  void flush();
  uint64_t records() const noexcept { return records_; }

 private:
  void queue(std::vector<uint8_t> bytes);
  void reap(bool wait);

  UniqueFd fd_;
  uint32_t snaplen_;
  xsk::Uring ring_{64};
  uint64_t offset_ = 0;
  uint64_t next_id_ = 0;
  uint64_t first_id_ = 0;  // id of in_flight_.front()
  std::deque<std::vector<uint8_t>> in_flight_;
  std::deque<bool> done_;
  uint64_t records_ = 0;
};

}  // namespace xdpgw::pipeline
