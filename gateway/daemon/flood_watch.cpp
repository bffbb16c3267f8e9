#include "daemon/flood_watch.hpp"

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/lb_observe.hpp"
#include "common/error.hpp"
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
  // VIPs a reload removed leave; the others keep their state.
  std::map<std::string, VipSynState> live;
  for (const auto& vip : cfg_.lb.vips)
    if (auto it = syn_state_.find(vip.name); it != syn_state_.end()) live.insert(*it);
  syn_state_ = std::move(live);
  for (const auto& vip : cfg_.lb.vips)
    if (auto id = lb_.find_vip_id(vip.name))
      watch_synproxy(vip, *id, new_flows[vip.name], seconds, first);
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

const config::Vip* FloodWatch::find_vip(const std::string& name) const {
  for (const auto& vip : cfg_.lb.vips)
    if (vip.name == name) return &vip;
  return nullptr;
}

void FloodWatch::watch_synproxy(const config::Vip& vip, uint32_t vip_id, uint64_t new_flows,
                                double seconds, bool first) {
  VipSynState& st = syn_state_[vip.name];
  const uint64_t syns = new_flows + read_synproxy_counter(dp_.synproxy_stats_fd(), vip_id).syns;
  if (!first && seconds > 0 && syns >= st.last_syns)
    st.syn_per_second = static_cast<double>(syns - st.last_syns) / seconds;
  st.last_syns = syns;

  if (vip.synproxy.mode != config::SynproxyMode::kAuto) {
    st.cookies = false;
    st.calm_seconds = 0;
  } else {
    const bool over = st.syn_per_second >= static_cast<double>(vip.synproxy.threshold_syn_per_second);
    if (over && !st.cookies) {
      st.cookies = true;
      spdlog::warn("VIP {}: SYN cookies on ({:.0f} SYNs a second, threshold {}); new connections "
                   "reach a backend only after the client answers a cookie",
                   vip.name, st.syn_per_second, vip.synproxy.threshold_syn_per_second);
    }
    st.calm_seconds = over ? 0 : st.calm_seconds + 1;
    if (st.cookies && st.calm_seconds >= kCalmSeconds) {
      st.cookies = false;
      spdlog::info("VIP {}: SYN cookies off ({:.0f} SYNs a second for {} s)", vip.name,
                   st.syn_per_second, kCalmSeconds);
    }
  }
  const uint32_t active = st.cookies ? 1 : 0;
  check_errno(bpf_map_update_elem(dp_.synproxy_active_fd(), &vip_id, &active, BPF_ANY),
              fmt::format("write synproxy_active[{}]", vip_id));
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
    const std::string name = v.at("name").get<std::string>();
    auto it = new_flows_per_second_.find(name);
    v["new_flows_per_second"] = it == new_flows_per_second_.end() ? 0.0 : it->second;
    const config::Vip* vip = find_vip(name);
    if (!vip) continue;
    // Before the first sample (a daemon just started) a VIP has no state yet.
    static const VipSynState kNone{};
    auto found = syn_state_.find(name);
    const VipSynState& st = found == syn_state_.end() ? kNone : found->second;
    // The counters as they are now, not as at the last sample.
    const auto id = lb_.find_vip_id(name);
    const xdpgw_synproxy_counter c =
        id ? read_synproxy_counter(dp_.synproxy_stats_fd(), *id) : xdpgw_synproxy_counter{};
    v["synproxy"] = {
        {"mode", std::string(to_string(vip->synproxy.mode))},
        {"threshold_syn_per_second", vip->synproxy.threshold_syn_per_second},
        {"cookies_active", vip->synproxy.mode == config::SynproxyMode::kOn || st.cookies},
        {"syn_per_second", st.syn_per_second},
        {"cookies_sent", c.cookies_sent},
        {"cookies_valid", c.cookies_valid},
        {"cookies_failed", c.cookies_failed},
        {"backend_answered", c.backend_answered},
        {"backend_syn_repeats", c.backend_syn_repeats}};
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
  control::MetricFamily active{.name = "xdpgw_lb_synproxy_active",
                               .help = "1 while the VIP answers SYNs with cookies in XDP",
                               .type = "gauge",
                               .samples = {}};
  control::MetricFamily rate{.name = "xdpgw_lb_syn_per_second",
                             .help = "SYNs a second to the VIP that no flow knew (new flows and "
                                     "SYNs answered with a cookie)",
                             .type = "gauge",
                             .samples = {}};
  control::MetricFamily cookies{.name = "xdpgw_lb_synproxy_cookies_total",
                                .help = "SYN cookies by result: sent (SYN-ACKs), valid (ACKs "
                                        "that opened a flow), failed (ACKs dropped), "
                                        "backend_answered (backend SYN-ACKs), "
                                        "backend_syn_repeated (backend SYNs sent again)",
                                .type = "counter",
                                .samples = {}};
  for (const auto& [name, st] : syn_state_) {
    const config::Vip* vip = find_vip(name);
    const auto id = lb_.find_vip_id(name);
    if (!vip || !id) continue;
    const bool on = vip->synproxy.mode == config::SynproxyMode::kOn || st.cookies;
    active.samples.push_back({{{"vip", name}}, on ? 1.0 : 0.0});
    rate.samples.push_back({{{"vip", name}}, st.syn_per_second});
    const xdpgw_synproxy_counter c = read_synproxy_counter(dp_.synproxy_stats_fd(), *id);
    for (const auto& [result, n] : {std::pair{"sent", c.cookies_sent}, {"valid", c.cookies_valid},
                                    {"failed", c.cookies_failed},
                                    {"backend_answered", c.backend_answered},
                                    {"backend_syn_repeated", c.backend_syn_repeats}})
      cookies.samples.push_back({{{"vip", name}, {"result", result}}, static_cast<double>(n)});
  }
  out.push_back(std::move(active));
  out.push_back(std::move(rate));
  out.push_back(std::move(cookies));
}

}  // namespace xdpgw::daemon
