#include "daemon/pipeline_supervisor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>
#include <thread>

#include "daemon/pipeline_observe.hpp"
#include "datapath/datapath.hpp"
#include "pipeline/from_config.hpp"

namespace xdpgw::daemon {

bool RetryBackoff::failed(Clock::time_point now) {
  ++failures_;
  next_ = now + delay_;
  delay_ = std::min(delay_ * 2, kLast);
  return delay_ == kLast;
}

void RetryBackoff::reset() {
  delay_ = kFirst;
  next_ = {};
}

PipelineSupervisor::PipelineSupervisor(boost::asio::io_context& io, const Datapath& dp,
                                       bool af_xdp)
    : dp_(dp), af_xdp_(af_xdp), restart_(io, "pipeline restart", std::chrono::seconds(1), [this] {
        heal();
      }) {
  restart_.start();
}

PipelineSupervisor::~PipelineSupervisor() { stop(); }

void PipelineSupervisor::start(const config::Punt& punt) {
  punt_ = punt;
  start_error_.clear();
  backoff_ = {};
  if (!punt_.enabled()) return;
  if (!try_start(std::chrono::seconds(2)))
    spdlog::error("punt: AF_XDP pipeline not started, rules fall back in XDP (retried, from "
                  "every second to every minute): {}", start_error_);
}

void PipelineSupervisor::stop() {
  if (!pipeline_) return;
  const auto& st = pipeline_->stats();
  spdlog::info("punt: pipeline stopping: rx {} forwarded {} passed {} dropped {} offloaded {}",
               st.rx.load(), st.forwarded.load(), st.passed.load(), st.dropped.load(),
               st.offloaded.load());
  pipeline_.reset();
}

static bool same_except_rules(config::Punt a, config::Punt b) {
  a.rules.clear();
  b.rules.clear();
  return a == b;
}

void PipelineSupervisor::reconfigure(const config::Punt& before, const config::Punt& punt) {
  if (punt == before) return;
  punt_ = punt;
  if (same_except_rules(before, punt) && replace_rules()) return;
  // The rules are already live in XDP; until the new pipeline is up,
  // punted packets take their rule's fallback.
  stop();
  start(punt);
}

// XDP switched to the new rules with the generation a moment before; a
// packet punted in between meets the old rules in the pipeline, or none
// (then it goes to the kernel through the TAP, as for a removed rule).
// False when there is no running pipeline to hand them to.
bool PipelineSupervisor::replace_rules() {
  if (!pipeline_ || !punt_.enabled() || pipeline_->error()) return false;
  try {
    pipeline_->replace_rules(pipeline::from_config(punt_).rules);
  } catch (const std::exception& e) {
    spdlog::warn("punt: new rules refused by the running pipeline, restarting it: {}", e.what());
    return false;
  }
  spdlog::info("punt: {} rules handed to the running pipeline (sockets kept)", punt_.rules.size());
  return true;
}

void PipelineSupervisor::port_gone(const std::string& port) {
  if (!pipeline_) return;
  if (std::find(punt_.ports.begin(), punt_.ports.end(), port) == punt_.ports.end()) return;
  spdlog::warn("punt: port {} is gone: AF_XDP pipeline stopped, punt rules fall back in XDP "
               "until it is back", port);
  stop();
  start_error_ = fmt::format("port {} is gone", port);
}

void PipelineSupervisor::port_back() {
  backoff_.reset();
  if (punt_.enabled() && !pipeline_) restart_.run_now();
}

// One attempt per run at most, none that waits (the job shares the event
// loop with the control socket). A pipeline that stopped on an error stays
// stopped, with the error in `xdpgw status`: restarting it could loop on a
// bug.
void PipelineSupervisor::heal() {
  if (!punt_.enabled() || pipeline_) return;
  const auto now = RetryBackoff::Clock::now();
  if (!backoff_.due(now)) return;
  if (try_start(std::chrono::milliseconds(0))) {
    spdlog::info("punt: AF_XDP pipeline started after {} failed attempts", backoff_.failures() + 1);
    backoff_ = {};
    return;
  }
  if (backoff_.failed(now))
    spdlog::warn("punt: AF_XDP pipeline still not started after {} attempts, next in {} s: {}",
                 backoff_.failures() + 1, RetryBackoff::kLast.count(), start_error_);
}

// The kernel frees a closed AF_XDP socket's queue from a workqueue, after
// its last in-flight frame: a pipeline restarted by a reload can find its
// queues still "busy" (EBUSY) for a moment. That is waited out here, up to
// `wait_for_busy_queue`; anything else fails at once.
bool PipelineSupervisor::try_start(std::chrono::milliseconds wait_for_busy_queue) {
  if (!af_xdp_) {
    start_error_ = "this kernel has no AF_XDP sockets for XDP (XSKMAP; see xdpgw check "
                   "--kernel): punt rules apply their fallback";
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + wait_for_busy_queue;
  bool waited = false;
  for (;;) {
    try {
      pipeline_ = std::make_unique<pipeline::Pipeline>(
          pipeline::from_config(punt_),
          pipeline::PipelineMaps{.xsks = dp_.xsks_fd(), .xsk_slots = dp_.xsk_slots_fd(),
                                 .conn_table = dp_.conn_table_fd()});
      for (const auto& s : pipeline_->sockets())
        spdlog::info("punt: {} queue {} -> AF_XDP slot {} ({})", s.ifname, s.queue, s.slot,
                     s.zero_copy ? "zero-copy" : "copy mode");
      start_error_.clear();
      return true;
    } catch (const std::system_error& e) {
      start_error_ = e.what();
      if (e.code() != std::errc::device_or_resource_busy ||
          std::chrono::steady_clock::now() >= deadline)
        return false;
      if (!waited)
        spdlog::info("punt: an AF_XDP queue is still held by closed sockets ({}); waiting for "
                     "the kernel to release it", e.what());
      waited = true;
      // Long enough for the sockets a failed attempt bound to be released
      // too (an RCU grace period and a workqueue run).
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } catch (const std::exception& e) {
      start_error_ = e.what();
      return false;
    }
  }
}

void PipelineSupervisor::status(nlohmann::json& status) const {
  if (pipeline_)
    status["pipeline"] = pipeline_json(*pipeline_);
  else if (!start_error_.empty())
    status["pipeline"] = failed_pipeline_json(start_error_);
}

void PipelineSupervisor::metrics(std::vector<control::MetricFamily>& out) const {
  if (pipeline_)
    for (auto& f : pipeline_metrics(*pipeline_)) out.push_back(std::move(f));
  else if (!start_error_.empty())
    out.push_back(pipeline_up_metric(false));
}

}  // namespace xdpgw::daemon
