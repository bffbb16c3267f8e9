// The AF_XDP pipeline's life: it runs while [punt] has rules. One that fails
// to start is logged, not fatal (XDP applies each rule's fallback, pass or
// drop, and every other packet is untouched), and is started again by its
// own job, backing off from 1 s to a minute while it keeps failing. A port
// it serves that goes stops it; the port's return retries at once.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "daemon/periodic.hpp"
#include "pipeline/pipeline.hpp"

namespace xdpgw {
class Datapath;
}

namespace xdpgw::daemon {

// When the next start attempt may run, after how many failures.
class RetryBackoff {
 public:
  static constexpr std::chrono::seconds kFirst{1};
  static constexpr std::chrono::seconds kLast{60};
  using Clock = std::chrono::steady_clock;

  bool due(Clock::time_point now) const { return now >= next_; }
  // A failure at `now`: the next attempt waits twice as long as the last,
  // up to kLast. True when the wait has reached kLast.
  bool failed(Clock::time_point now);
  void reset();  // the next attempt may run at once, with the first delay
  uint64_t failures() const { return failures_; }

 private:
  std::chrono::seconds delay_ = kFirst;
  Clock::time_point next_{};
  uint64_t failures_ = 0;
};

class PipelineSupervisor {
 public:
  // `af_xdp`: whether this kernel has AF_XDP sockets for XDP (probed).
  PipelineSupervisor(boost::asio::io_context& io, const Datapath& dp, bool af_xdp);
  PipelineSupervisor(const PipelineSupervisor&) = delete;
  PipelineSupervisor& operator=(const PipelineSupervisor&) = delete;
  ~PipelineSupervisor();

  // Starts a pipeline for `punt` when it has rules (waiting out a queue the
  // kernel still holds for up to 2 s); nothing runs otherwise.
  void start(const config::Punt& punt);
  void stop();
  // The running config's punt section changed to `punt` (already live in
  // XDP): a rules-only change goes to the running pipeline, which keeps its
  // sockets and loses no punted packet; anything else restarts it.
  void reconfigure(const config::Punt& before, const config::Punt& punt);

  // A port is gone: an AF_XDP socket does not survive its interface, so a
  // pipeline serving it stops until every port it serves is back.
  void port_gone(const std::string& port);
  // A port came back: the next attempt runs at once, whatever the backoff.
  void port_back();

  pipeline::Pipeline* running() const { return pipeline_.get(); }
  // Adds "pipeline" to `status` and its families to `metrics`.
  void status(nlohmann::json& status) const;
  void metrics(std::vector<control::MetricFamily>& out) const;
  const Periodic& restart_job() const { return restart_; }

 private:
  bool try_start(std::chrono::milliseconds wait_for_busy_queue);
  void heal();
  bool replace_rules();

  const Datapath& dp_;
  bool af_xdp_;
  config::Punt punt_;  // what runs, or should
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::string start_error_;  // [punt] has rules but it did not start
  RetryBackoff backoff_;
  Periodic restart_;
};

}  // namespace xdpgw::daemon
