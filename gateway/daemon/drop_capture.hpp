// `xdpgw capture --what drops`: every frame XDP drops, copied by the
// datapath into its PERF_EVENT_ARRAY (bpf/lib/capture.h) while a capture
// runs, written to a pcapng file by a thread of its own, each packet with
// its ingress port, rx queue and "drop_reason=<name>". Owning a DropCapture
// is what turns the datapath's capture flag on; destroying it turns it off
// before the perf buffers go.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct perf_buffer;

namespace xdpgw {
class Datapath;
namespace pipeline {
class PcapngWriter;
}
}  // namespace xdpgw

namespace xdpgw::daemon {

class DropCapture {
 public:
  struct Status {
    bool running = false;
    uint64_t records = 0;  // frames written to the file
    uint64_t lost = 0;     // samples the perf buffers had no room for
    uint64_t failed = 0;   // drops XDP could not hand to the perf buffers
    std::string error;     // why the capture stopped early, if it did
    std::map<std::string, uint64_t> reasons;  // records by drop reason name
  };

  // Starts capturing into `writer`: at most `count` frames (0 = until
  // destroyed), `snaplen` bytes of each (the writer's own snaplen cuts too).
  // Throws when the perf buffers or the capture flag cannot be set up;
  // nothing stays enabled then.
  DropCapture(const Datapath& dp, std::unique_ptr<pipeline::PcapngWriter> writer, uint64_t count,
              uint32_t snaplen);
  DropCapture(const DropCapture&) = delete;
  DropCapture& operator=(const DropCapture&) = delete;
  ~DropCapture();

  Status status() const;

 private:
  struct PerfBufferDeleter {
    void operator()(perf_buffer* pb) const noexcept;
  };

  void run();
  void on_sample(const void* data, uint32_t size);
  void set_flag(uint32_t flags, uint32_t snaplen) const;

  int cfg_fd_;
  uint64_t limit_;
  std::unique_ptr<pipeline::PcapngWriter> writer_;
  std::unique_ptr<perf_buffer, PerfBufferDeleter> buffers_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{true};    // false: stop taking samples
  std::atomic<bool> finished_{false};  // the output is flushed and closed
  std::atomic<uint64_t> lost_{0};
  int stats_fd_;
  uint64_t failed_at_start_ = 0;
  mutable std::mutex mu_;  // guards records_, reasons_ and error_
  uint64_t records_ = 0;
  std::map<std::string, uint64_t> reasons_;
  std::string error_;
  uint64_t failed_outputs() const;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace xdpgw::daemon
