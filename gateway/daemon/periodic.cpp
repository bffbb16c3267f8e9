#include "daemon/periodic.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace xdpgw::daemon {

Periodic::Periodic(boost::asio::io_context& io, std::string name,
                   std::chrono::milliseconds interval, std::function<void()> job)
    : timer_(io), name_(std::move(name)), interval_(interval), job_(std::move(job)) {}

Periodic::~Periodic() { timer_.cancel(); }

void Periodic::start() { arm(); }

void Periodic::run_now() {
  timer_.cancel();
  run_once();
  arm();
}

void Periodic::set_interval(std::chrono::milliseconds interval) {
  if (interval == interval_) return;
  interval_ = interval;
  arm();
}

void Periodic::arm() {
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: re-armed or destroyed
    run_once();
    arm();
  });
}

void Periodic::run_once() {
  ++runs_;
  try {
    job_();
  } catch (const std::exception& e) {
    ++failures_;
    last_error_ = e.what();
    spdlog::warn("{}: {}", name_, e.what());
  }
}

std::vector<control::MetricFamily> periodic_metrics(const std::vector<const Periodic*>& jobs) {
  control::MetricFamily runs{.name = "xdpgw_daemon_job_runs_total",
                             .help = "Runs of each of the daemon's periodic jobs.",
                             .type = "counter",
                             .samples = {}};
  control::MetricFamily failures{
      .name = "xdpgw_daemon_job_failures_total",
      .help = "Runs of each periodic job that failed (the daemon logs why under the job's name).",
      .type = "counter",
      .samples = {}};
  for (const Periodic* job : jobs) {
    runs.samples.push_back({{{"job", job->name()}}, static_cast<double>(job->runs())});
    failures.samples.push_back({{{"job", job->name()}}, static_cast<double>(job->failures())});
  }
  return {std::move(runs), std::move(failures)};
}

}  // namespace xdpgw::daemon
