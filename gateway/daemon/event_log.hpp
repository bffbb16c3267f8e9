// XDP's events (bpf/lib/events.h), read from their ring buffer. A RINGBUF
// has one consumer position, so the daemon is its one reader: it reads when
// the ring's epoll fd is readable, keeps the latest kHistory for `xdpgw
// events` (which asks for those after a sequence number it got before), and
// logs a summary every 10 s when something arrived.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "daemon/periodic.hpp"
#include "datapath/events.hpp"

namespace xdpgw {
class Datapath;
}

namespace xdpgw::daemon {

class EventLog {
 public:
  static constexpr std::size_t kHistory = 4096;

  // Starts reading at once. The datapath must outlive this.
  EventLog(boost::asio::io_context& io, const Datapath& dp);
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // What arrived after `seq` (reading the ring first), as `xdpgw events`
  // shows it. Throws when this kernel gives XDP no ring buffer.
  nlohmann::json after(uint64_t seq);

  const Periodic& summary_job() const { return summary_; }

 private:
  void wait_readable();
  void log_summary();

  const Datapath& dp_;
  std::deque<std::pair<uint64_t, events::Event>> history_;
  uint64_t next_seq_ = 1;
  std::map<std::string, uint64_t> by_type_, logged_by_type_;
  events::EventCounts logged_counts_{};
  events::Reader reader_;
  boost::asio::posix::stream_descriptor readable_;
  Periodic summary_;
};

}  // namespace xdpgw::daemon
