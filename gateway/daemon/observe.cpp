#include "daemon/observe.hpp"

#include <linux/if_link.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fmt/format.h>

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

}  // namespace

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
  return out;
}

std::string format_stats(const nlohmann::json& stats, const std::string& instance) {
  std::string out = fmt::format("instance {}\n{:<28} {:>14} {:>16}  {}\n", instance, "reason",
                                "packets", "bytes", "outcome");
  for (const auto& [name, c] : stats["reasons"].items())
    out += fmt::format("{:<28} {:>14} {:>16}  {}\n", name, c["packets"].get<uint64_t>(),
                       c["bytes"].get<uint64_t>(), c["outcome"].get<std::string>());
  out += fmt::format("\n{:<28} {:>14} {:>16}\n", "handler", "packets", "bytes");
  for (const auto& [name, c] : stats["handlers"].items())
    out += fmt::format("{:<28} {:>14} {:>16}\n", name, c["packets"].get<uint64_t>(),
                       c["bytes"].get<uint64_t>());
  return out;
}

std::string format_status(const nlohmann::json& s) {
  std::string out = fmt::format(
      "instance {} (pid {}), config {}\n"
      "  config generation {}, route source {}, {} static routes, steering {}\n"
      "  dispatcher prog id {}, pins in {}\n"
      "  reloads: {} attempted, {} refused; last: {}{}\n",
      s["instance"].get<std::string>(), s["pid"].get<int>(), s["config"].get<std::string>(),
      s["generation"].get<uint32_t>(), s["route_source"].get<std::string>(),
      s["static_routes"].get<size_t>(),
      s["steering_cpus"].empty() ? std::string("off") : s["steering_cpus"].dump(),
      s["dispatcher_prog_id"].get<uint32_t>(), s["pin_dir"].get<std::string>(),
      s["reloads"]["attempts"].get<uint64_t>(), s["reloads"]["failures"].get<uint64_t>(),
      s["reloads"]["last_ok"].get<bool>() ? "ok" : "REFUSED",
      s["reloads"]["last_message"].get<std::string>().empty()
          ? std::string()
          : " (" + s["reloads"]["last_message"].get<std::string>() + ")");
  for (const auto& w : s["warnings"]) out += "  WARNING: " + w.get<std::string>() + "\n";
  for (const auto& p : s["ports"]) {
    if (!p["present"].get<bool>()) {
      out += fmt::format("port {} (ifindex {}): MISSING\n", p["name"].get<std::string>(),
                         p["ifindex"].get<uint32_t>());
    } else {
      out += fmt::format(
          "port {} (ifindex {}, {}): {}{}, mtu {}, XDP {} prog {}, rx {} pkts ({} dropped), "
          "tx {} pkts\n",
          p["name"].get<std::string>(), p["ifindex"].get<uint32_t>(),
          p["kind"].get<std::string>().empty() ? "device" : p["kind"].get<std::string>(),
          p["up"].get<bool>() ? "up" : "DOWN",
          p["carrier"].get<bool>() ? "" : " (no carrier)", p["mtu"].get<uint32_t>(),
          p["attach_mode"].get<std::string>(), p["xdp_prog_id"].get<uint32_t>(),
          p["rx_packets"].get<uint64_t>(), p["rx_dropped"].get<uint64_t>(),
          p["tx_packets"].get<uint64_t>());
    }
    for (const auto& w : p["warnings"]) out += "  WARNING: " + w.get<std::string>() + "\n";
  }
  return out;
}

}  // namespace xdpgw::daemon
