// What an operator sees: counters, per-port state with the warnings that
// explain silent forwarding failures, and Prometheus metrics. Shared by the
// daemon's control commands and the CLI's read-only fallback.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "datapath/datapath.hpp"

namespace xdpgw::daemon {

// Counters by reason (only non-zero ones unless `all`) and by handler.
nlohmann::json stats_json(int verdict_stats_fd, int handler_stats_fd, bool all);

// ACL hits per rule (and the default action) and rate-limiter counters per
// class, named from the running config; sources tracked and evicted.
// Counters are kept by rule position / class id, so after a reload that
// reorders rules or classes they continue under the new names.
nlohmann::json policy_stats_json(const config::Config& cfg, const Datapath& dp);

// The start counts as the first load: both timestamps are set then, as
// Prometheus does for its own config, so "time since the last successful
// reload" is defined from the first scrape on.
struct ReloadCounters {
  uint64_t attempts = 0;
  uint64_t failures = 0;
  bool last_ok = true;
  std::string last_message;
  std::chrono::system_clock::time_point last_attempt = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point last_success = last_attempt;
};

// Per port: ifindex, state, MTU, attach mode and program id, counters from
// the kernel, and warnings; plus instance-wide facts and warnings.
nlohmann::json status_json(const config::Config& cfg, const std::string& config_path,
                           const Datapath& dp, const ReloadCounters& reloads);

std::vector<control::MetricFamily> metrics(const config::Config& cfg, const Datapath& dp,
                                           const ReloadCounters& reloads);

// Human-readable rendering of stats_json / status_json for the CLI.
std::string format_stats(const nlohmann::json& stats, const std::string& instance);
std::string format_status(const nlohmann::json& status);

}  // namespace xdpgw::daemon
