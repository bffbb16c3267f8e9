#include "daemon/event_log.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "datapath/datapath.hpp"

namespace xdpgw::daemon {

EventLog::EventLog(boost::asio::io_context& io, const Datapath& dp)
    : dp_(dp),
      reader_(dp.events_fd(),
              [this](const events::Event& e) {
                history_.emplace_back(next_seq_++, e);
                if (history_.size() > kHistory) history_.pop_front();
                ++by_type_[e.type_name()];
              }),
      readable_(io, ::dup(reader_.epoll_fd())),
      summary_(io, "event summary", std::chrono::seconds(10), [this] { log_summary(); }) {
  wait_readable();
  summary_.start();
}

void EventLog::wait_readable() {
  readable_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec) return;
                         try {
                           reader_.consume();
                         } catch (const std::exception& e) {
                           spdlog::warn("reading XDP events: {}", e.what());
                         }
                         wait_readable();
                       });
}

nlohmann::json EventLog::after(uint64_t seq) {
  if (!(dp_.features() & XDPGW_FEAT_EVENTS))
    throw std::runtime_error("XDP events are off: this kernel's XDP programs cannot use the "
                             "ring buffer (see xdpgw status, xdpgw check --kernel)");
  reader_.consume();
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [s, ev] : history_)
    if (s > seq) {
      auto j = nlohmann::json::parse(ev.to_json());
      j["seq"] = s;
      list.push_back(std::move(j));
    }
  return {{"next", next_seq_ - 1}, {"events", std::move(list)}};
}

// One log line with what arrived since the last summary; nothing when
// nothing did.
void EventLog::log_summary() {
  const events::EventCounts c = events::read_counts(dp_.event_stats_fd());
  if (by_type_ == logged_by_type_ && c.suppressed == logged_counts_.suppressed &&
      c.ring_full == logged_counts_.ring_full)
    return;
  std::string by_type;
  for (const auto& [type, n] : by_type_)
    by_type += fmt::format("{}{} {}", by_type.empty() ? "" : ", ", type, n - logged_by_type_[type]);
  spdlog::info("events: {}; suppressed by the rate cap {}, ring full {}",
               by_type.empty() ? "none" : by_type, c.suppressed - logged_counts_.suppressed,
               c.ring_full - logged_counts_.ring_full);
  logged_by_type_ = by_type_;
  logged_counts_ = c;
}

}  // namespace xdpgw::daemon
