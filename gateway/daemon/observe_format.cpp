// Text rendering of what observe.hpp reports, for the CLI.
#include <fmt/format.h>

#include "daemon/observe.hpp"

namespace xdpgw::daemon {

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
  if (!stats.contains("policy")) return out;  // pinned-map fallback: no config names
  const auto& p = stats["policy"];
  if (!p["ratelimit"]["classes"].empty()) {
    out += fmt::format("\n{:<28} {:>14} {:>14} {:>12}\n", "ratelimit class", "passed",
                       "dropped", "new buckets");
    for (const auto& c : p["ratelimit"]["classes"])
      out += fmt::format("{:<28} {:>14} {:>14} {:>12}\n", c["class"].get<std::string>(),
                         c["passed"].get<uint64_t>(), c["dropped"].get<uint64_t>(),
                         c["new_buckets"].get<uint64_t>());
    out += fmt::format("sources tracked {}, evicted {}\n",
                       p["ratelimit"]["tracked_sources"].get<uint64_t>(),
                       p["ratelimit"]["evicted"].get<uint64_t>());
  }
  if (!p["acl"]["rules"].empty()) {
    out += fmt::format("\n{:<5} {:<32} {:<48} {:>14}\n", "line", "acl rule", "match", "packets");
    for (const auto& r : p["acl"]["rules"])
      out += fmt::format("{:<5} {:<32} {:<48} {:>14}\n", r["line"].get<uint32_t>(), r["rule"].get<std::string>(),
                         r["match"].get<std::string>(), r["packets"].get<uint64_t>());
    out += fmt::format("{:<5} {:<32} {:<48} {:>14}\n", "-", "default",
                       p["acl"]["default"]["action"].get<std::string>(),
                       p["acl"]["default"]["packets"].get<uint64_t>());
  }
  for (const auto& set : p["acl"]["prefix_sets"])
    out += fmt::format("prefix set @{}: {} IPv4 and {} IPv6 prefixes\n", set["name"].get<std::string>(),
                       set["ipv4"].get<int64_t>(), set["ipv6"].get<int64_t>());
  if (stats.contains("snat")) {
    const auto& n = stats["snat"];
    out += fmt::format("\nsource NAT: {} translations created, {} allocation races, {} ports found taken, "
                       "{} ICMP errors translated\n",
                       n["created"].get<uint64_t>(), n["raced"].get<uint64_t>(), n["port_taken"].get<uint64_t>(),
                       n["icmp_errors"].get<uint64_t>());
    for (const auto& [addr, count] : n["translations_by_address"].items()) {
      std::string ports;
      if (n["ports_in_use"].contains(addr))
        for (const auto& [proto, used] : n["ports_in_use"][addr].items())
          ports += fmt::format(" {} {}", proto, used.get<uint64_t>());
      out += fmt::format("  {:<16} {} live translations, ports in use:{}\n", addr, count.get<uint64_t>(), ports);
    }
    std::string expired;
    for (const auto& [proto, count] : n["expired"].items())
      expired += fmt::format(" {} {}", proto, count.get<uint64_t>());
    out += fmt::format("  expired:{}\n", expired.empty() ? std::string(" none") : expired);
  }
  return out;
}

namespace {

// routing.source = "kernel": what the route mirror holds and how it keeps up.
std::string format_route_mirror(const nlohmann::json& m) {
  std::string resyncs;
  for (const auto& [cause, n] : m["resyncs"].items())
    resyncs += fmt::format("{}{} {}", resyncs.empty() ? "" : ", ", cause, n.get<uint64_t>());
  const double ago = m["last_event_seconds_ago"].get<double>();
  std::string out = fmt::format(
      "  kernel routes mirrored: {} IPv4 + {} IPv6 entries ({} ask the FIB, {} pass to the "
      "kernel) from {} kernel routes and {} neighbours; {} nexthops ({} resolved)\n"
      "  mirror events: {}, last {}; resyncs: {} (last took {} ms); periodic resyncs that "
      "found a difference: {} ({} entries)\n",
      m["entries_v4"].get<size_t>(), m["entries_v6"].get<size_t>(),
      m["entries_fib"].get<size_t>(), m["entries_pass"].get<size_t>(),
      m["kernel_routes"].get<size_t>(), m["neighbours"].get<size_t>(),
      m["nexthops"].get<size_t>(), m["nexthops_resolved"].get<size_t>(),
      m["events"].get<uint64_t>(), ago < 0 ? std::string("never") : fmt::format("{:.1f} s ago", ago),
      resyncs.empty() ? std::string("none") : resyncs, m["last_resync_ms"].get<double>(),
      m["periodic_resyncs_with_difference"].get<uint64_t>(),
      m["differences_found"].get<uint64_t>());
  for (const auto& [family, why] : m["policy_fallback"].items())
    if (!why.is_null())
      out += fmt::format("  WARNING: {}: {}: every packet asks bpf_fib_lookup\n", family,
                         why.get<std::string>());
  if (m["errors"].get<uint64_t>() > 0)
    out += fmt::format("  WARNING: route mirror errors: {} (last: {})\n",
                       m["errors"].get<uint64_t>(), m["last_error"].get<std::string>());
  return out;
}

// How the daemon follows the kernel (kernel_watch.hpp): events by kind,
// resyncs and what they had to repair, the last port re-attached.
std::string format_kernel_events(const nlohmann::json& k) {
  std::string events;
  for (const auto& [kind, n] : k["events"].items())
    events += fmt::format("{}{} {}", events.empty() ? "" : ", ", kind, n.get<uint64_t>());
  std::string out = fmt::format(
      "  kernel events: {}; overruns {}; resyncs {} (found what events missed: {})\n",
      events.empty() ? std::string("none") : events, k["overruns"].get<uint64_t>(),
      k["resyncs"].get<uint64_t>(), k["resync_repairs"].get<uint64_t>());
  if (k.contains("last_reattach")) {
    const auto& r = k["last_reattach"];
    out += fmt::format("  last port re-attached: {} as ifindex {}, by {}, in {:.1f} ms\n",
                       r["port"].get<std::string>(), r["ifindex"].get<uint32_t>(),
                       r["by"].get<std::string>(), r["apply_ms"].get<double>());
  }
  return out;
}

}  // namespace

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
  if (s.contains("route_mirror")) out += format_route_mirror(s["route_mirror"]);
  if (s.contains("kernel_events")) out += format_kernel_events(s["kernel_events"]);
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
