// The daemon's end of the XDP event stream (bpf/lib/events.h): a RAII owner
// of a libbpf ring_buffer on the `events` RINGBUF, decoding each record into
// an Event, plus the per-CPU emitted/suppressed/ring-full counters.
#pragma once

#include <bpf/libbpf.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "xdpgw/shared.h"

namespace xdpgw::events {

struct Event {
  xdpgw_event raw{};
  std::string type_name() const;  // "new_flow", "flow_offloaded", "rate_limit_drop", "parse_error"
  // One line for logs and `xdpgw events`: "parse_error drop_tcp_truncated if 3 len 40" /
  // "new_flow udp 198.18.1.2:5000 -> 198.18.2.2:53 if 3 len 74".
  std::string to_string() const;
  std::string to_json() const;
};

struct EventCounts {
  uint64_t emitted = 0;
  uint64_t suppressed = 0;  // over the per-CPU per-second cap
  uint64_t ring_full = 0;
};
EventCounts read_counts(int event_stats_fd);

class Reader {
 public:
  using Handler = std::function<void(const Event&)>;
  // `ringbuf_fd` is the events map; the fd is not taken over (libbpf maps
  // the ring itself and keeps its own reference).
  Reader(int ringbuf_fd, Handler handler);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader();
  // Waits up to `timeout` for events and hands each to the handler; returns
  // how many. consume() takes what is there without waiting.
  int poll(std::chrono::milliseconds timeout);
  int consume();
  // For an event loop: readable when events are waiting.
  int epoll_fd() const;

 private:
  static int on_sample(void* self, void* data, size_t size);
  Handler handler_;
  ring_buffer* rb_ = nullptr;
};

}  // namespace xdpgw::events
