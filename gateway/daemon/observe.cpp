#include "daemon/observe.hpp"

#include <linux/if_link.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include "common/error.hpp"

#include "datapath/abi.hpp"
#include "datapath/link_check.hpp"
#include "datapath/rtnl.hpp"

namespace xdpgw::daemon {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;

std::string_view attach_mode_name(uint8_t attached) {
  switch (attached) {
    case XDP_ATTACHED_NONE: return "none";
    case XDP_ATTACHED_DRV: return "native";
    case XDP_ATTACHED_SKB: return "generic";
    case XDP_ATTACHED_HW: return "offload";
    case XDP_ATTACHED_MULTI: return "multi";
    default: return "unknown";
  }
}

std::string_view outcome_name(abi::Outcome o) {
  switch (o) {
    case abi::Outcome::kForward: return "forward";
    case abi::Outcome::kPass: return "pass";
    case abi::Outcome::kDrop: return "drop";
    case abi::Outcome::kPunt: return "punt";
    case abi::Outcome::kIntermediate: return "intermediate";
    case abi::Outcome::kOther: return "other";
  }
  return "other";
}

bool bpffs_mounted() {
  struct statfs st {};
  return statfs("/sys/fs/bpf", &st) == 0 && st.f_type == kBpfFsMagic;
}

xdpgw_rl_counter class_counter(int rl_stats_fd, uint32_t id) {
  xdpgw_rl_counter total{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  std::vector<xdpgw_rl_counter> per_cpu(static_cast<size_t>(cpus));
  check_errno(bpf_map_lookup_elem(rl_stats_fd, &id, per_cpu.data()),
              fmt::format("read rl_stats[{}]", id));
  for (const auto& c : per_cpu) {
    total.passed += c.passed;
    total.dropped += c.dropped;
    total.new_buckets += c.new_buckets;
  }
  return total;
}

// Buckets in the LRU table now. One syscall per entry: fine for a stats
// request, the table holds at most XDPGW_RL_TABLE_SIZE.
uint64_t live_buckets(int rl_buckets_fd) {
  uint64_t n = 0;
  xdpgw_rl_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(rl_buckets_fd, prev, &next) == 0) {
    ++n;
    key = next;
    prev = &key;
  }
  return n;
}

}  // namespace

nlohmann::json policy_stats_json(const config::Config& cfg, const Datapath& dp) {
  nlohmann::json out;
  const auto& rl = cfg.policy.ratelimit;
  out["ratelimit"]["classes"] = nlohmann::json::array();
  uint64_t created = 0;
  for (uint32_t id = 0; id < rl.classes.size(); ++id) {
    auto c = class_counter(dp.rl_stats_fd(), id);
    created += c.new_buckets;
    out["ratelimit"]["classes"].push_back({{"class", rl.classes[id].name},
                                           {"passed", c.passed},
                                           {"dropped", c.dropped},
                                           {"new_buckets", c.new_buckets}});
  }
  const uint64_t live = live_buckets(dp.rl_buckets_fd());
  out["ratelimit"]["tracked_sources"] = live;
  // Every bucket ever created is either live or was evicted (nothing else
  // deletes them); classes dropped by a reload still count in `created`
  // only while their id is in use, so this is a lower bound then.
  out["ratelimit"]["evicted"] = created > live ? created - live : 0;
  out["acl"]["rules"] = nlohmann::json::array();
  for (const config::AclRule& r : cfg.policy.acl) {
    auto c = sum(read_percpu_counter(dp.acl_stats_fd(), r.stats_slot));
    out["acl"]["rules"].push_back({{"rule", r.name},
                                   {"line", r.line},
                                   {"action", config::to_string(r.action)},
                                   {"match", config::describe(r)},
                                   {"packets", c.packets},
                                   {"bytes", c.bytes}});
  }
  auto d = sum(read_percpu_counter(dp.acl_stats_fd(), XDPGW_ACL_STATS_DEFAULT));
  out["acl"]["default"] = {{"action", config::to_string(cfg.policy.acl_default)},
                           {"packets", d.packets},
                           {"bytes", d.bytes}};
  // What the running generation holds of each prefix set: how an operator
  // sees that a reloaded feed was taken.
  out["acl"]["prefix_sets"] = nlohmann::json::array();
  for (const auto& set : cfg.policy.prefix_sets) {
    const auto v4 = std::count_if(set.prefixes.begin(), set.prefixes.end(), [](const auto& p) {
      return p.addr.family == config::IpFamily::kV4;
    });
    out["acl"]["prefix_sets"].push_back(
        {{"name", set.name}, {"ipv4", v4}, {"ipv6", std::ptrdiff_t(set.prefixes.size()) - v4}});
  }
  return out;
}

nlohmann::json stats_json(int verdict_stats_fd, int handler_stats_fd, bool all) {
  auto totals = read_verdicts(verdict_stats_fd);
  nlohmann::json out;
  out["reasons"] = nlohmann::json::object();
  for (uint32_t r = 1; r < XDPGW_R_COUNT; ++r) {
    if (!all && totals[r].packets == 0) continue;
    out["reasons"][std::string(abi::reason_name(r))] = {
        {"packets", totals[r].packets},
        {"bytes", totals[r].bytes},
        {"outcome", outcome_name(abi::reason_outcome(r))}};
  }
  for (uint32_t s = 0; s < XDPGW_SLOT_COUNT; ++s) {
    auto c = sum(read_percpu_counter(handler_stats_fd, s));
    out["handlers"][std::string(abi::kSlotNames[s])] = {{"packets", c.packets},
                                                        {"bytes", c.bytes}};
  }
  return out;
}

nlohmann::json status_json(const config::Config& cfg, const std::string& config_path,
                           const Datapath& dp, const ReloadCounters& reloads) {
  nlohmann::json out;
  out["instance"] = cfg.gateway.instance;
  out["pid"] = getpid();
  out["config"] = config_path;
  out["pin_dir"] = dp.pin_dir().string();
  out["generation"] = dp.active_generation();
  out["route_source"] = config::to_string(cfg.routing.source);
  out["static_routes"] = cfg.routing.routes.size();
  out["steering_cpus"] = cfg.steering.cpus;
  out["dispatcher_prog_id"] = dp.dispatcher_id();
  out["reloads"] = {{"attempts", reloads.attempts},
                    {"failures", reloads.failures},
                    {"last_ok", reloads.last_ok},
                    {"last_message", reloads.last_message}};
  nlohmann::json warnings = nlohmann::json::array();
  if (!bpffs_mounted())
    warnings.push_back("bpffs is not mounted on /sys/fs/bpf: nothing can be pinned, so a "
                       "daemon restart would drop the datapath");
  out["warnings"] = warnings;

  out["ports"] = nlohmann::json::array();
  for (const auto& p : cfg.ports) {
    nlohmann::json port{{"name", p.name}, {"ifindex", p.ifindex}};
    nlohmann::json port_warnings = nlohmann::json::array();
    auto link = rtnl::query_link(p.ifindex);
    if (!link) {
      port["present"] = false;
      port_warnings.push_back(fmt::format("interface {} (ifindex {}) has disappeared", p.name,
                                          p.ifindex));
    } else {
      port["present"] = true;
      port["up"] = link->up;
      port["carrier"] = link->running;
      port["mtu"] = link->mtu;
      port["kind"] = link->kind;
      port["attach_mode"] = attach_mode_name(link->xdp_attached);
      port["xdp_prog_id"] = link->xdp_prog_id;
      port["rx_packets"] = link->stats.rx_packets;
      port["rx_bytes"] = link->stats.rx_bytes;
      port["tx_packets"] = link->stats.tx_packets;
      port["tx_bytes"] = link->stats.tx_bytes;
      port["rx_dropped"] = link->stats.rx_dropped;
      port["tx_dropped"] = link->stats.tx_dropped;
      if (!link->up) port_warnings.push_back(fmt::format("{} is administratively down", p.name));
      else if (!link->running)
        port_warnings.push_back(fmt::format("{} has no carrier", p.name));
      if (link->xdp_prog_id != dp.dispatcher_id())
        port_warnings.push_back(fmt::format(
            "{} runs XDP program id {}, not this instance's dispatcher ({})", p.name,
            link->xdp_prog_id, dp.dispatcher_id()));
      if (auto w = link_check::redirect_target_warning(p.name, p.ifindex))
        port_warnings.push_back(*w);
    }
    port["warnings"] = port_warnings;
    out["ports"].push_back(port);
  }
  return out;
}

namespace {

void append_policy_metrics(const config::Config& cfg, const Datapath& dp,
                           std::vector<control::MetricFamily>& out) {
  using control::MetricFamily;
  using control::Sample;
  const nlohmann::json p = policy_stats_json(cfg, dp);
  MetricFamily rl{"xdpgw_ratelimit_packets_total",
                  "Packets the rate limiter passed or dropped, by class", "counter", {}};
  MetricFamily fresh{"xdpgw_ratelimit_new_buckets_total",
                     "Sources that got a fresh (full) bucket, by class", "counter", {}};
  for (const auto& c : p["ratelimit"]["classes"]) {
    const std::string name = c["class"].get<std::string>();
    rl.samples.push_back(Sample{{{"class", name}, {"result", "passed"}},
                                double(c["passed"].get<uint64_t>())});
    rl.samples.push_back(Sample{{{"class", name}, {"result", "dropped"}},
                                double(c["dropped"].get<uint64_t>())});
    fresh.samples.push_back(Sample{{{"class", name}}, double(c["new_buckets"].get<uint64_t>())});
  }
  out.push_back(std::move(rl));
  out.push_back(std::move(fresh));
  out.push_back(MetricFamily{"xdpgw_ratelimit_tracked_sources",
                             "Sources with a bucket in the LRU table", "gauge",
                             {Sample{{}, double(p["ratelimit"]["tracked_sources"].get<uint64_t>())}}});
  out.push_back(MetricFamily{"xdpgw_ratelimit_evictions_total",
                             "Buckets the LRU table evicted (their sources start full again)",
                             "counter",
                             {Sample{{}, double(p["ratelimit"]["evicted"].get<uint64_t>())}}});
  // Hits by rule name only, so a rule that moves in the file keeps its
  // series; where it is and what it does are in xdpgw_acl_rule_info.
  MetricFamily acl{"xdpgw_acl_hits_total",
                   "Packets each ACL rule decided (rule = its name, or its action and match "
                   "when unnamed; rule=\"default\" for the default action)",
                   "counter", {}};
  MetricFamily acl_info{"xdpgw_acl_rule_info",
                        "Each ACL rule of the running config: its line in the file, action and match",
                        "gauge", {}};
  for (const auto& r : p["acl"]["rules"]) {
    const std::string rule = r["rule"].get<std::string>();
    acl.samples.push_back(Sample{{{"rule", rule}}, double(r["packets"].get<uint64_t>())});
    acl_info.samples.push_back(Sample{{{"rule", rule},
                                       {"line", std::to_string(r["line"].get<uint32_t>())},
                                       {"action", r["action"].get<std::string>()},
                                       {"match", r["match"].get<std::string>()}},
                                      1});
  }
  const std::string default_action = p["acl"]["default"]["action"].get<std::string>();
  acl.samples.push_back(Sample{{{"rule", "default"}}, double(p["acl"]["default"]["packets"].get<uint64_t>())});
  acl_info.samples.push_back(
      Sample{{{"rule", "default"}, {"line", "0"}, {"action", default_action}, {"match", "default"}}, 1});
  out.push_back(std::move(acl));
  out.push_back(std::move(acl_info));
  MetricFamily sets{"xdpgw_acl_prefix_set_prefixes",
                    "Prefixes of each [[prefix_set]] in the running config, by family", "gauge", {}};
  for (const auto& set : p["acl"]["prefix_sets"])
    for (const char* family : {"ipv4", "ipv6"})
      sets.samples.push_back(Sample{{{"set", set["name"].get<std::string>()}, {"family", family}},
                                    double(set[family].get<int64_t>())});
  if (!sets.samples.empty()) out.push_back(std::move(sets));
}

}  // namespace

std::vector<control::MetricFamily> metrics(const config::Config& cfg, const Datapath& dp,
                                           const ReloadCounters& reloads) {
  using control::MetricFamily;
  using control::Sample;
  std::vector<MetricFamily> out;

  auto verdicts = read_verdicts(dp.verdict_stats_fd());
  MetricFamily packets{"xdpgw_packets_total",
                       "Packets by the verdict reason XDP recorded for them "
                       "(steer_cpu is counted again under the final reason)",
                       "counter", {}};
  MetricFamily bytes{"xdpgw_bytes_total", "Bytes by verdict reason", "counter", {}};
  for (uint32_t r = 1; r < XDPGW_R_COUNT; ++r) {
    std::vector<std::pair<std::string, std::string>> labels{
        {"reason", std::string(abi::reason_name(r))},
        {"outcome", std::string(outcome_name(abi::reason_outcome(r)))}};
    packets.samples.push_back(Sample{labels, double(verdicts[r].packets)});
    bytes.samples.push_back(Sample{labels, double(verdicts[r].bytes)});
  }
  out.push_back(std::move(packets));
  out.push_back(std::move(bytes));

  MetricFamily handler{"xdpgw_handler_packets_total",
                       "Packets that entered each protocol handler", "counter", {}};
  for (uint32_t s = 0; s < XDPGW_SLOT_COUNT; ++s) {
    auto c = sum(read_percpu_counter(dp.handler_stats_fd(), s));
    handler.samples.push_back(
        Sample{{{"handler", std::string(abi::kSlotNames[s])}}, double(c.packets)});
  }
  out.push_back(std::move(handler));

  MetricFamily rx{"xdpgw_port_rx_packets_total", "Packets received by the port (kernel counter)",
                  "counter", {}};
  MetricFamily tx{"xdpgw_port_tx_packets_total",
                  "Packets sent by the port, XDP redirects included (kernel counter)",
                  "counter", {}};
  MetricFamily rx_drop{"xdpgw_port_rx_dropped_total",
                       "Packets the port dropped on receive (kernel counter)", "counter", {}};
  MetricFamily up{"xdpgw_port_up", "1 when the port is up with XDP attached", "gauge", {}};
  for (const auto& p : cfg.ports) {
    std::vector<std::pair<std::string, std::string>> labels{{"port", p.name}};
    auto link = rtnl::query_link(p.ifindex);
    if (!link) {
      up.samples.push_back(Sample{labels, 0});
      continue;
    }
    rx.samples.push_back(Sample{labels, double(link->stats.rx_packets)});
    tx.samples.push_back(Sample{labels, double(link->stats.tx_packets)});
    rx_drop.samples.push_back(Sample{labels, double(link->stats.rx_dropped)});
    up.samples.push_back(
        Sample{labels, link->up && link->xdp_attached != XDP_ATTACHED_NONE ? 1.0 : 0.0});
  }
  out.push_back(std::move(rx));
  out.push_back(std::move(tx));
  out.push_back(std::move(rx_drop));
  out.push_back(std::move(up));

  append_policy_metrics(cfg, dp, out);

  out.push_back(MetricFamily{"xdpgw_config_generation",
                             "Config generation packets follow (0 or 1)", "gauge",
                             {Sample{{}, double(dp.active_generation())}}});
  out.push_back(MetricFamily{"xdpgw_reloads_total", "Reload attempts", "counter",
                             {Sample{{}, double(reloads.attempts)}}});
  out.push_back(MetricFamily{"xdpgw_reload_failures_total",
                             "Reloads refused (running config kept)", "counter",
                             {Sample{{}, double(reloads.failures)}}});
  out.push_back(MetricFamily{"xdpgw_last_reload_success",
                             "1 if the last reload (or the start) applied", "gauge",
                             {Sample{{}, reloads.last_ok ? 1.0 : 0.0}}});
  const auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  out.push_back(MetricFamily{"xdpgw_last_reload_attempt_timestamp_seconds",
                             "When the config was last loaded or a reload was tried (Unix time)",
                             "gauge", {Sample{{}, unix_seconds(reloads.last_attempt)}}});
  out.push_back(MetricFamily{"xdpgw_last_reload_success_timestamp_seconds",
                             "When a config was last applied, at start or by a reload (Unix time)",
                             "gauge", {Sample{{}, unix_seconds(reloads.last_success)}}});
  out.push_back(MetricFamily{"xdpgw_build_info",
                             "Always 1; the labels say which xdpgw and libbpf run here", "gauge",
                             {Sample{{{"version", XDPGW_VERSION},
                                      {"libbpf", libbpf_version_string()}},
                                     1.0}}});
  return out;
}

}  // namespace xdpgw::daemon
