#include "daemon/lb_observe.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common/error.hpp"
#include "daemon/flow_walk.hpp"

namespace xdpgw::daemon {
namespace {

// The kernel does not report LRU evictions; every entry XDP created and
// that is no longer there was evicted (the daemon deletes none). Entries the
// AF_XDP pipeline writes are not counted as inserts, so this is a lower
// bound when the pipeline offloads verdicts.
struct ConnTableFill {
  size_t entries;
  uint64_t inserted;
  uint64_t evicted;
};

ConnTableFill conn_table_fill(const Datapath& dp) {
  ConnTableFill f{};
  f.entries = count_flows(dp.conn_table_fd());
  f.inserted = read_conn_stat(dp.conn_stats_fd(), XDPGW_CONN_INSERTED);
  f.evicted = f.inserted > f.entries ? f.inserted - f.entries : 0;
  return f;
}

// The embryonic table (shared.h, xdpgw_embryonic): XDP deletes what it
// promotes, so evictions are inserted - deleted - entries.
struct EmbryonicFill {
  size_t entries;
  uint64_t inserted, promoted, refused, deleted, evicted, udp_capped;
};

// Entries of the embryonic table, in batches like the connection table.
size_t count_embryonic(int fd) {
  size_t n = 0;
  walk_flows<xdpgw_embryonic>(fd, [&](const xdpgw_flow_key&, const xdpgw_embryonic&) {
    ++n;
    return true;
  });
  return n;
}

EmbryonicFill embryonic_fill(const Datapath& dp) {
  EmbryonicFill f{};
  f.entries = count_embryonic(dp.embryonic_fd());
  const int stats = dp.conn_stats_fd();
  f.inserted = read_conn_stat(stats, XDPGW_CONN_EMBRYONIC_INSERTED);
  f.promoted = read_conn_stat(stats, XDPGW_CONN_PROMOTED);
  f.refused = read_conn_stat(stats, XDPGW_CONN_PROMOTION_REFUSED);
  f.deleted = read_conn_stat(stats, XDPGW_CONN_EMBRYONIC_DELETED);
  f.udp_capped = read_conn_stat(stats, XDPGW_CONN_UDP_CAPPED);
  const uint64_t gone = f.deleted + f.entries;
  f.evicted = f.inserted > gone ? f.inserted - gone : 0;
  return f;
}

nlohmann::json counter_json(const xdpgw_lb_counter& c) {
  return {{"packets", c.packets}, {"bytes", c.bytes}, {"new_flows", c.new_flows}};
}

std::string_view action_name(uint8_t action) {
  switch (action) {
    case XDPGW_FLOW_LB_NAT: return "nat";
    case XDPGW_FLOW_LB_DSR: return "dsr";
    case XDPGW_FLOW_LB_REVERSE_NAT: return "reverse_nat";
    case XDPGW_FLOW_FORWARD: return "forward";
    case XDPGW_FLOW_PASS: return "pass";
    case XDPGW_FLOW_DROP: return "drop";
    case XDPGW_FLOW_PUNT: return "punt";
    default: return "none";
  }
}

}  // namespace

std::string addr_text(const uint8_t* addr, uint8_t family) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (inet_ntop(family == AF_INET ? AF_INET : AF_INET6, addr, buf.data(), buf.size()) == nullptr)
    return "?";
  return buf.data();
}

std::string endpoint_text(const uint8_t* addr, uint8_t family, uint16_t port_be) {
  const std::string a = addr_text(addr, family);
  return family == AF_INET6 ? fmt::format("[{}]:{}", a, ntohs(port_be))
                            : fmt::format("{}:{}", a, ntohs(port_be));
}

std::string_view proto_name(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    default: return "other";
  }
}

xdpgw_lb_counter read_lb_counter(int map_fd, uint32_t id) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  // Per-CPU values are copied rounded up to 8 bytes; 24 already is.
  std::vector<xdpgw_lb_counter> per_cpu(static_cast<size_t>(cpus));
  check_errno(bpf_map_lookup_elem(map_fd, &id, per_cpu.data()),
              fmt::format("read LB counter {}", id));
  xdpgw_lb_counter total{};
  for (const auto& c : per_cpu) {
    total.packets += c.packets;
    total.bytes += c.bytes;
    total.new_flows += c.new_flows;
  }
  return total;
}

xdpgw_synproxy_counter read_synproxy_counter(int map_fd, uint32_t vip_id) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  std::vector<xdpgw_synproxy_counter> per_cpu(static_cast<size_t>(cpus));
  check_errno(bpf_map_lookup_elem(map_fd, &vip_id, per_cpu.data()),
              fmt::format("read synproxy counter {}", vip_id));
  xdpgw_synproxy_counter total{};
  for (const auto& c : per_cpu) {
    total.cookies_sent += c.cookies_sent;
    total.cookies_valid += c.cookies_valid;
    total.cookies_failed += c.cookies_failed;
    total.backend_answered += c.backend_answered;
    total.backend_syn_repeats += c.backend_syn_repeats;
    total.syns += c.syns;
  }
  return total;
}

uint64_t read_conn_stat(int map_fd, uint32_t key) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  check_errno(bpf_map_lookup_elem(map_fd, &key, per_cpu.data()), "read conn_stats");
  uint64_t total = 0;
  for (uint64_t v : per_cpu) total += v;
  return total;
}


size_t count_flows(int conn_table_fd) {
  size_t n = 0;
  walk_flows(conn_table_fd, [&](const xdpgw_flow_key&, const xdpgw_flow&) {
    ++n;
    return true;
  });
  return n;
}

nlohmann::json lb_json(const config::Config& cfg, const Datapath& dp, const LbRuntime& lb) {
  nlohmann::json out;
  const ConnTableFill fill = conn_table_fill(dp);
  out["conn_table"] = {{"entries", fill.entries},
                       {"capacity", cfg.lb.conn_table_size},
                       {"inserted", fill.inserted},
                       {"evicted", fill.evicted}};
  const EmbryonicFill emb = embryonic_fill(dp);
  out["embryonic"] = {{"entries", emb.entries},
                      {"capacity", cfg.lb.embryonic_table_size},
                      {"inserted", emb.inserted},
                      {"promoted", emb.promoted},
                      {"promotions_refused", emb.refused},
                      {"evicted", emb.evicted}};
  out["udp_new_flows_capped"] = emb.udp_capped;
  out["vips"] = nlohmann::json::array();
  for (const auto& vip : cfg.lb.vips) {
    auto id = lb.find_vip_id(vip.name);
    if (!id) continue;
    nlohmann::json v{{"name", vip.name},
                     {"address", vip.addr.to_string()},
                     {"protocol", config::to_string(vip.protocol)},
                     {"port", vip.port},
                     {"mode", config::to_string(vip.mode)},
                     {"table_size", vip.table_size},
                     {"counters", counter_json(read_lb_counter(dp.vip_stats_fd(), *id))}};
    v["backends"] = nlohmann::json::array();
    size_t usable = 0;
    for (const auto& be : vip.backends) {
      const std::string bid = be.id();
      const bool healthy = lb.healthy(vip.name, bid), drained = lb.drained(vip.name, bid);
      if (lb.effective_weight(vip, be) > 0) ++usable;
      v["backends"].push_back(
          {{"backend", bid},
           {"weight", be.weight},
           {"healthy", healthy},
           {"drained", drained},
           {"counters", counter_json(read_lb_counter(dp.backend_stats_fd(), lb.backend_id(bid)))}});
    }
    v["usable_backends"] = usable;
    out["vips"].push_back(std::move(v));
  }
  return out;
}

nlohmann::json flows_json(const Datapath& dp, size_t limit) {
  nlohmann::json list = nlohmann::json::array();
  size_t total = 0;
  // Hits the per-CPU flow caches hold back, by key bytes.
  std::unordered_map<std::string, Datapath::CachedCounts> held;
  for (const Datapath::CachedCounts& c : dp.cached_flow_counts()) {
    auto [it, fresh] = held.try_emplace(
        std::string(reinterpret_cast<const char*>(&c.key), sizeof(c.key)), c);
    if (!fresh) {
      it->second.packets += c.packets;
      it->second.bytes += c.bytes;
    }
  }
  walk_flows(dp.conn_table_fd(), [&](const xdpgw_flow_key& k, const xdpgw_flow& entry) {
    ++total;
    if (list.size() < limit) {
      xdpgw_flow f = entry;
      if (auto it = held.find(std::string(reinterpret_cast<const char*>(&k), sizeof(k)));
          it != held.end()) {
        f.packets += it->second.packets;
        f.bytes += it->second.bytes;
      }
      nlohmann::json j{{"protocol", proto_name(k.proto)},
                       {"src", endpoint_text(k.src, k.family, k.sport)},
                       {"dst", endpoint_text(k.dst, k.family, k.dport)},
                       {"action", action_name(f.action)},
                       {"packets", f.packets},
                       {"bytes", f.bytes},
                       {"created_ns", f.created_ns},
                       {"last_seen_ns", f.last_seen_ns},
                       {"offloaded", (f.flags & XDPGW_FLOW_F_OFFLOADED) != 0},
                       {"syn_cookie", (f.flags & XDPGW_FLOW_F_SYNPROXY) != 0}};
      if (f.action == XDPGW_FLOW_LB_NAT || f.action == XDPGW_FLOW_LB_DSR ||
          f.action == XDPGW_FLOW_LB_REVERSE_NAT) {
        j["target"] = endpoint_text(f.target, f.target_family, f.target_port);
        j["vip_id"] = f.vip_id;
        j["backend_id"] = f.backend_id;
      }
      list.push_back(std::move(j));
    }
    return true;
  });
  return {{"total", total}, {"flows", std::move(list)}};
}

std::vector<control::MetricFamily> lb_metrics(const config::Config& cfg, const Datapath& dp,
                                              const LbRuntime& lb) {
  using control::MetricFamily;
  using control::Sample;
  MetricFamily vip_packets{"xdpgw_vip_packets_total", "Packets load-balanced per VIP (both directions)", "counter", {}};
  MetricFamily vip_bytes{"xdpgw_vip_bytes_total", "Bytes load-balanced per VIP", "counter", {}};
  MetricFamily vip_flows{"xdpgw_vip_flows_total", "New flows per VIP", "counter", {}};
  MetricFamily be_packets{"xdpgw_backend_packets_total", "Packets per backend", "counter", {}};
  MetricFamily be_bytes{"xdpgw_backend_bytes_total", "Bytes per backend", "counter", {}};
  MetricFamily be_flows{"xdpgw_backend_flows_total", "New flows per backend", "counter", {}};
  MetricFamily be_up{"xdpgw_backend_usable",
                     "1 when the backend takes new flows of the VIP (healthy, not drained, weight > 0)",
                     "gauge", {}};
  for (const auto& vip : cfg.lb.vips) {
    auto id = lb.find_vip_id(vip.name);
    if (!id) continue;
    const auto c = read_lb_counter(dp.vip_stats_fd(), *id);
    std::vector<std::pair<std::string, std::string>> labels{{"vip", vip.name}};
    vip_packets.samples.push_back(Sample{labels, double(c.packets)});
    vip_bytes.samples.push_back(Sample{labels, double(c.bytes)});
    vip_flows.samples.push_back(Sample{labels, double(c.new_flows)});
    for (const auto& be : vip.backends) {
      const auto bc = read_lb_counter(dp.backend_stats_fd(), lb.backend_id(be.id()));
      std::vector<std::pair<std::string, std::string>> bl{{"vip", vip.name}, {"backend", be.id()}};
      be_packets.samples.push_back(Sample{bl, double(bc.packets)});
      be_bytes.samples.push_back(Sample{bl, double(bc.bytes)});
      be_flows.samples.push_back(Sample{bl, double(bc.new_flows)});
      be_up.samples.push_back(Sample{bl, lb.effective_weight(vip, be) > 0 ? 1.0 : 0.0});
    }
  }
  std::vector<MetricFamily> out;
  for (auto* f : {&vip_packets, &vip_bytes, &vip_flows, &be_packets, &be_bytes, &be_flows, &be_up})
    out.push_back(std::move(*f));
  const ConnTableFill fill = conn_table_fill(dp);
  out.push_back(MetricFamily{"xdpgw_conn_table_entries", "Flows in the connection table", "gauge",
                             {Sample{{}, double(fill.entries)}}});
  out.push_back(MetricFamily{"xdpgw_conn_table_inserts_total", "Flows XDP created", "counter",
                             {Sample{{}, double(fill.inserted)}}});
  out.push_back(MetricFamily{"xdpgw_conn_table_evictions_total",
                             "Flows the LRU evicted to make room (inserted - entries)", "counter",
                             {Sample{{}, double(fill.evicted)}}});
  out.push_back(MetricFamily{"xdpgw_conn_table_capacity",
                             "Connection table size; when full the least recently used flow is evicted",
                             "gauge", {Sample{{}, double(cfg.lb.conn_table_size)}}});
  const EmbryonicFill emb = embryonic_fill(dp);
  out.push_back(MetricFamily{"xdpgw_lb_embryonic_entries",
                             "TCP flows of the load balancer not proven yet (a SYN and nothing else)",
                             "gauge", {Sample{{}, double(emb.entries)}}});
  out.push_back(MetricFamily{"xdpgw_lb_embryonic_capacity", "Embryonic table size", "gauge",
                             {Sample{{}, double(cfg.lb.embryonic_table_size)}}});
  out.push_back(MetricFamily{"xdpgw_lb_embryonic_inserts_total", "Embryonic entries XDP created",
                             "counter", {Sample{{}, double(emb.inserted)}}});
  out.push_back(MetricFamily{"xdpgw_lb_embryonic_evictions_total",
                             "Embryonic entries the LRU evicted (a SYN flood evicts only these)",
                             "counter", {Sample{{}, double(emb.evicted)}}});
  out.push_back(MetricFamily{"xdpgw_lb_promotions_total",
                             "Embryonic flows proven and moved to the connection table", "counter",
                             {Sample{{}, double(emb.promoted)}}});
  out.push_back(MetricFamily{"xdpgw_lb_promotions_refused_total",
                             "Packets of embryonic NAT flows whose ACK did not answer the backend's "
                             "SYN-ACK", "counter", {Sample{{}, double(emb.refused)}}});
  out.push_back(MetricFamily{"xdpgw_lb_udp_new_flows_capped_total",
                             "UDP new flows over their source prefix's cap (not stored; NAT ones "
                             "dropped)", "counter", {Sample{{}, double(emb.udp_capped)}}});
  return out;
}

std::string format_lb(const nlohmann::json& lb) {
  std::string out = fmt::format("connection table: {} of {} entries, {} evicted\n",
                                lb["conn_table"]["entries"].get<size_t>(),
                                lb["conn_table"]["capacity"].get<uint32_t>(),
                                lb["conn_table"]["evicted"].get<uint64_t>());
  if (lb.contains("embryonic"))
    out += fmt::format("embryonic TCP flows: {} of {} entries, {} promoted, {} evicted, {} "
                       "promotions refused; UDP new flows capped: {}\n",
                       lb["embryonic"]["entries"].get<size_t>(),
                       lb["embryonic"]["capacity"].get<uint32_t>(),
                       lb["embryonic"]["promoted"].get<uint64_t>(),
                       lb["embryonic"]["evicted"].get<uint64_t>(),
                       lb["embryonic"]["promotions_refused"].get<uint64_t>(),
                       lb["udp_new_flows_capped"].get<uint64_t>());
  if (lb.contains("syn_flood") && lb["syn_flood"]["active"].get<bool>())
    out += fmt::format("SYN FLOOD: {:.0f} TCP flows a second stay unproven; established flows "
                       "are not affected\n",
                       lb["syn_flood"]["unproven_per_second"].get<double>());
  for (const auto& v : lb["vips"]) {
    out += fmt::format("vip {} {} {} port {} ({}): {} of {} backends usable, {} pkts, {} flows{}\n",
                       v["name"].get<std::string>(), v["address"].get<std::string>(),
                       v["protocol"].get<std::string>(), v["port"].get<uint16_t>(),
                       v["mode"].get<std::string>(), v["usable_backends"].get<size_t>(),
                       v["backends"].size(), v["counters"]["packets"].get<uint64_t>(),
                       v["counters"]["new_flows"].get<uint64_t>(),
                       v.contains("new_flows_per_second")
                           ? fmt::format(" ({:.0f} new/s)", v["new_flows_per_second"].get<double>())
                           : std::string());
    for (const auto& b : v["backends"])
      out += fmt::format("  backend {:<28} weight {:>5}  {:<9} {:>12} pkts {:>10} flows\n",
                         b["backend"].get<std::string>(), b["weight"].get<uint32_t>(),
                         b["drained"].get<bool>() ? "DRAINED"
                         : b["healthy"].get<bool>() ? "up" : "DOWN",
                         b["counters"]["packets"].get<uint64_t>(),
                         b["counters"]["new_flows"].get<uint64_t>());
  }
  return out;
}

std::string format_flows(const nlohmann::json& flows) {
  std::string out = fmt::format("{} flows in the connection table{}\n", flows["total"].get<size_t>(),
                                flows["flows"].size() < flows["total"].get<size_t>()
                                    ? fmt::format(" (showing {})", flows["flows"].size())
                                    : std::string());
  for (const auto& f : flows["flows"]) {
    out += fmt::format("{:<6} {:>44} -> {:<44} {:<11} {}", f["protocol"].get<std::string>(),
                       f["src"].get<std::string>(), f["dst"].get<std::string>(),
                       f["action"].get<std::string>(),
                       f.contains("target") ? "=> " + f["target"].get<std::string>() : std::string());
    out += fmt::format("  {} pkts {} bytes{}{}\n", f["packets"].get<uint64_t>(), f["bytes"].get<uint64_t>(),
                       f.value("offloaded", false) ? "  [offloaded]" : "",
                       // Opened by a SYN cookie: sequence numbers translated.
                       f.value("syn_cookie", false) ? "  [SYN cookie]" : "");
  }
  if (flows.contains("proxied")) {
    const auto& p = flows["proxied"];
    out += fmt::format("{} proxied connections{}\n", p["total"].get<size_t>(),
                       p["connections"].size() < p["total"].get<size_t>()
                           ? fmt::format(" (showing {})", p["connections"].size())
                           : std::string());
    for (const auto& c : p["connections"])
      out += fmt::format("proxy  {:>44} => {:<44} {:<11} {} bytes to backend, {} to client  [{}]\n",
                         c["client"].get<std::string>(), c["backend"].get<std::string>(),
                         c["state"].get<std::string>(), c["to_backend_bytes"].get<uint64_t>(),
                         c["to_client_bytes"].get<uint64_t>(), c["vip"].get<std::string>());
  }
  if (flows.contains("snat") && flows["snat"]["total"].get<size_t>() > 0) {
    const auto& t = flows["snat"];
    out += fmt::format("{} source-NAT translations{}\n", t["total"].get<size_t>(),
                       t["translations"].size() < t["total"].get<size_t>()
                           ? fmt::format(" (showing {})", t["translations"].size())
                           : std::string());
    for (const auto& x : t["translations"])
      out += fmt::format("{:<6} {:>21} as {:<21} -> {:<21} {:<11} idle {}s of {}s  {} pkts out {} in\n",
                         x["protocol"].get<std::string>(), x["inside"].get<std::string>(),
                         x["translated"].get<std::string>(), x["outside"].get<std::string>(),
                         x["state"].get<std::string>(), x["idle_s"].get<uint64_t>(),
                         x["timeout_s"].get<uint32_t>(), x["packets_out"].get<uint64_t>(),
                         x["packets_in"].get<uint64_t>());
  }
  return out;
}

}  // namespace xdpgw::daemon
