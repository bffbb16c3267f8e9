#include "daemon/flood_watch.hpp"

#include <spdlog/spdlog.h>

#include "daemon/lb_observe.hpp"
#include "datapath/datapath.hpp"

namespace xdpgw::daemon {

FloodWatch::FloodWatch(boost::asio::io_context& io, const Datapath& dp,
                       const config::Config& running, const LbRuntime& lb)
    : dp_(dp), cfg_(running), lb_(lb), job_(io, "flood watch", std::chrono::seconds(1), [this] {
        sample();
      }) {
  job_.start();
}

void FloodWatch::sample() {
  const auto now = std::chrono::steady_clock::now();
  const uint64_t inserted = read_conn_stat(dp_.conn_stats_fd(), XDPGW_CONN_EMBRYONIC_INSERTED);
  const uint64_t deleted = read_conn_stat(dp_.conn_stats_fd(), XDPGW_CONN_EMBRYONIC_DELETED);
  std::map<std::string, uint64_t> new_flows;
  for (const auto& vip : cfg_.lb.vips)
    if (auto id = lb_.find_vip_id(vip.name))
      new_flows[vip.name] = read_lb_counter(dp_.vip_stats_fd(), *id).new_flows;
  const bool first = last_sample_ == std::chrono::steady_clock::time_point{};
  const double seconds = std::chrono::duration<double>(now - last_sample_).count();
  if (!first && seconds > 0) {
    // Counters only grow, except across a restart that replaced them.
    const uint64_t unproven = inserted - deleted >= last_inserted_ - last_deleted_
                                  ? (inserted - deleted) - (last_inserted_ - last_deleted_)
                                  : 0;
    unproven_per_second_ = static_cast<double>(unproven) / seconds;
    new_flows_per_second_.clear();
    for (const auto& [name, n] : new_flows) {
      auto before = last_new_flows_.find(name);
      if (before != last_new_flows_.end() && n >= before->second)
        new_flows_per_second_[name] = static_cast<double>(n - before->second) / seconds;
    }
    const bool over = unproven_per_second_ >= static_cast<double>(kFloodUnprovenPerSecond);
    if (over && !flooded_) {
      flooded_ = true;
      ++floods_;
      flood_since_ = std::chrono::system_clock::now();
      spdlog::warn("load balancer: SYN flood: {:.0f} TCP flows a second stay unproven (embryonic "
                   "table); established flows are not affected", unproven_per_second_);
    }
    calm_seconds_ = over ? 0 : calm_seconds_ + 1;
    if (flooded_ && calm_seconds_ >= kCalmSeconds) {
      flooded_ = false;
      spdlog::info("load balancer: SYN flood over ({:.0f} unproven TCP flows a second for {} s)",
                   unproven_per_second_, kCalmSeconds);
    }
  }
  last_sample_ = now;
  last_inserted_ = inserted;
  last_deleted_ = deleted;
  last_new_flows_ = std::move(new_flows);
}

void FloodWatch::status(nlohmann::json& lb_status) const {
  lb_status["syn_flood"] = {
      {"active", flooded_},
      {"unproven_per_second", unproven_per_second_},
      {"floods", floods_},
      {"since", flooded_ ? std::chrono::duration_cast<std::chrono::seconds>(
                               flood_since_.time_since_epoch()).count()
                         : 0}};
  for (auto& v : lb_status["vips"]) {
    auto it = new_flows_per_second_.find(v.at("name").get<std::string>());
    v["new_flows_per_second"] = it == new_flows_per_second_.end() ? 0.0 : it->second;
  }
}

void FloodWatch::metrics(std::vector<control::MetricFamily>& out) const {
  out.push_back({.name = "xdpgw_lb_syn_flood",
                 .help = "1 while TCP flows stay unproven at a flood's rate (embryonic table)",
                 .type = "gauge",
                 .samples = {{{}, flooded_ ? 1.0 : 0.0}}});
  out.push_back({.name = "xdpgw_lb_syn_floods_total",
                 .help = "SYN floods the daemon reported since it started",
                 .type = "counter",
                 .samples = {{{}, static_cast<double>(floods_)}}});
}

}  // namespace xdpgw::daemon
