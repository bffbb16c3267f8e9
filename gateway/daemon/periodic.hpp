// A named job the daemon runs on its event loop every `interval`. A job that
// throws is logged under its own name and counted, and runs again at the
// next interval: one failing job neither stops the others nor hides behind
// their names (`xdpgw_daemon_job_failures_total{job}`).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "control/metrics.hpp"

namespace xdpgw::daemon {

class Periodic {
 public:
  // Not started: start() schedules the first run.
  Periodic(boost::asio::io_context& io, std::string name, std::chrono::milliseconds interval,
           std::function<void()> job);
  // The timer's handler refers to this object: it neither moves nor copies.
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;
  ~Periodic();

  // The first run after one interval.
  void start();
  // Runs the job now (on the caller's stack) and restarts the interval.
  void run_now();
  // Takes effect from the next run.
  void set_interval(std::chrono::milliseconds interval);

  const std::string& name() const { return name_; }
  uint64_t runs() const { return runs_; }
  uint64_t failures() const { return failures_; }
  const std::string& last_error() const { return last_error_; }

 private:
  void arm();
  void run_once();

  boost::asio::steady_timer timer_;
  std::string name_;
  std::chrono::milliseconds interval_;
  std::function<void()> job_;
  uint64_t runs_ = 0;
  uint64_t failures_ = 0;
  std::string last_error_;
};

// runs and failures of each job, labelled by its name.
std::vector<control::MetricFamily> periodic_metrics(const std::vector<const Periodic*>& jobs);

}  // namespace xdpgw::daemon
