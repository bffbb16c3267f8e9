#include "daemon/snat_table.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <cstring>
#include <set>

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "daemon/flow_walk.hpp"
#include "datapath/datapath.hpp"
#include "datapath/netdev.hpp"
#include "datapath/snat_apply.hpp"

namespace xdpgw::daemon {
namespace {

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool expired(const xdpgw_flow_key& k, const xdpgw_snat_flow& f, const config::NatTimeouts& t,
             uint64_t now_ns) {
  const uint64_t timeout_ns = uint64_t{snat_timeout_s(k.proto, f.state, t)} * 1'000'000'000ull;
  return now_ns > f.last_seen_ns && now_ns - f.last_seen_ns > timeout_ns;
}

std::string state_text(uint8_t proto, uint32_t s) {
  if (proto == IPPROTO_TCP) {
    if (s & XDPGW_SNAT_S_RST) return "reset";
    if ((s & XDPGW_SNAT_S_FIN_OUT) && (s & XDPGW_SNAT_S_FIN_IN)) return "closed";
    if (s & (XDPGW_SNAT_S_FIN_OUT | XDPGW_SNAT_S_FIN_IN)) return "closing";
    if ((s & XDPGW_SNAT_S_SYN_OUT) && (s & XDPGW_SNAT_S_SYN_IN)) return "established";
    return "opening";
  }
  return (s & XDPGW_SNAT_S_IN) ? "replied" : "unreplied";
}

}  // namespace

uint32_t snat_timeout_s(uint8_t proto, uint32_t s, const config::NatTimeouts& t) {
  switch (proto) {
    case IPPROTO_TCP:
      if ((s & XDPGW_SNAT_S_RST) || ((s & XDPGW_SNAT_S_FIN_OUT) && (s & XDPGW_SNAT_S_FIN_IN)))
        return t.tcp_closed_s;
      if ((s & (XDPGW_SNAT_S_FIN_OUT | XDPGW_SNAT_S_FIN_IN)) ||
          !((s & XDPGW_SNAT_S_SYN_OUT) && (s & XDPGW_SNAT_S_SYN_IN)))
        return t.tcp_transitory_s;
      return t.tcp_established_s;
    case IPPROTO_UDP:
      return (s & XDPGW_SNAT_S_IN) ? t.udp_replied_s : t.udp_s;
    default:
      return t.icmp_s;
  }
}

SnatExpiryPass remove_snat_translations(int flows_fd, int ports_fd, const SnatDoomed& doomed) {
  SnatExpiryPass pass;
  std::vector<xdpgw_flow_key> candidates;
  walk_flows<xdpgw_snat_flow>(flows_fd, [&](const xdpgw_flow_key& k, const xdpgw_snat_flow& f) {
    ++pass.scanned;
    if (doomed(k, f)) candidates.push_back(k);
    return true;
  });
  for (const xdpgw_flow_key& k : candidates) {
    xdpgw_snat_flow f{};
    if (bpf_map_lookup_elem(flows_fd, &k, &f) != 0) continue;  // gone meanwhile
    if (!doomed(k, f)) continue;                                 // a packet came
    if (bpf_map_delete_elem(flows_fd, &k) != 0) {
      if (errno == ENOENT) continue;
      throw_errno(errno, "delete an expired translation");
    }
    xdpgw_snat_port_key pk{.addr = f.addr, .port = f.port, .proto = k.proto, .pad = 0};
    xdpgw_flow_key owner{};
    // Only the port this flow owns: never one a newer flow holds.
    if (bpf_map_lookup_elem(ports_fd, &pk, &owner) == 0 && std::memcmp(&owner, &k, sizeof(k)) == 0 &&
        bpf_map_delete_elem(ports_fd, &pk) != 0 && errno != ENOENT)
      throw_errno(errno, "free the port of an expired translation");
    ++pass.expired[k.proto];
  }
  return pass;
}

SnatExpiryPass expire_snat(int flows_fd, int ports_fd, const config::NatTimeouts& t, uint64_t now_ns) {
  return remove_snat_translations(flows_fd, ports_fd, [&](const xdpgw_flow_key& k, const xdpgw_snat_flow& f) {
    return expired(k, f, t, now_ns);
  });
}

SnatTable::SnatTable(boost::asio::io_context& io, const Datapath& dp, const config::Config& running)
    : dp_(dp),
      cfg_(running),
      job_(io, "snat_expiry", std::chrono::milliseconds(running.nat.timeouts.expiry_interval_ms),
           [this] { expire_now(); }) {}

void SnatTable::configure(const config::Nat& nat) {
  job_.set_interval(std::chrono::milliseconds(nat.timeouts.expiry_interval_ms));
  // A translation to an address no rule gives out any more (a masquerade
  // port renumbered, a rule changed or removed) can never be answered:
  // ended now, as Linux does with masquerade entries when the address goes.
  std::set<uint32_t> current;
  for (const xdpgw_snat_rule& r : snat_rule_values(nat, [](std::string_view port) { return netdev::primary_ipv4(port); }))
    for (uint32_t i = 0; i < r.addr_count; ++i) current.insert(r.addrs[i]);
  const SnatExpiryPass ended = remove_snat_translations(
      dp_.snat_flows_fd(), dp_.snat_ports_fd(),
      [&](const xdpgw_flow_key&, const xdpgw_snat_flow& f) { return !current.contains(f.addr); });
  uint64_t n = 0;
  for (const auto& [proto, count] : ended.expired) n += count;
  if (n > 0) {
    ended_by_config_ += n;
    spdlog::info("source NAT: {} translations ended: no rule translates to their address any more", n);
  }
  // Translations an earlier config (or run) made expire even when this one
  // has no [[snat]]: the job runs whenever a datapath may hold some.
  if (!started_) {
    job_.start();
    started_ = true;
  }
}

void SnatTable::expire_now() {
  const SnatExpiryPass pass =
      expire_snat(dp_.snat_flows_fd(), dp_.snat_ports_fd(), cfg_.nat.timeouts, monotonic_ns());
  for (const auto& [proto, n] : pass.expired) expired_[proto] += n;
  ++passes_;
}

SnatTable::Usage SnatTable::usage() const {
  Usage u;
  walk_flows<xdpgw_snat_flow>(dp_.snat_flows_fd(), [&](const xdpgw_flow_key& k, const xdpgw_snat_flow& f) {
    const std::string a = addr_text(reinterpret_cast<const uint8_t*>(&f.addr), AF_INET);
    ++u.translations[a];
    ++u.ports_in_use[{a, std::string(proto_name(k.proto))}];
    return true;
  });
  return u;
}

nlohmann::json SnatTable::flows(size_t limit) const {
  nlohmann::json list = nlohmann::json::array();
  uint64_t total = 0;
  const uint64_t now = monotonic_ns();
  walk_flows<xdpgw_snat_flow>(dp_.snat_flows_fd(), [&](const xdpgw_flow_key& k, const xdpgw_snat_flow& f) {
    ++total;
    if (list.size() >= limit) return true;
    list.push_back({{"protocol", proto_name(k.proto)},
                    {"inside", endpoint_text(k.src, k.family, k.sport)},
                    {"outside", endpoint_text(k.dst, k.family, k.dport)},
                    {"translated", endpoint_text(reinterpret_cast<const uint8_t*>(&f.addr), AF_INET, f.port)},
                    {"state", state_text(k.proto, f.state)},
                    {"idle_s", now > f.last_seen_ns ? (now - f.last_seen_ns) / 1'000'000'000ull : 0},
                    {"timeout_s", snat_timeout_s(k.proto, f.state, cfg_.nat.timeouts)},
                    {"packets_out", f.packets_out},
                    {"packets_in", f.packets_in}});
    return true;
  });
  return {{"total", total}, {"translations", std::move(list)}};
}

nlohmann::json SnatTable::stats() const {
  nlohmann::json s;
  const Usage u = usage();
  s["translations_by_address"] = u.translations;
  nlohmann::json ports = nlohmann::json::object();
  for (const auto& [key, n] : u.ports_in_use) ports[key.first][key.second] = n;
  s["ports_in_use"] = std::move(ports);
  nlohmann::json exp = nlohmann::json::object();
  for (const auto& [proto, n] : expired_) exp[std::string(proto_name(proto))] = n;
  s["expired"] = std::move(exp);
  s["expiry_passes"] = passes_;
  s["ended_by_config"] = ended_by_config_;
  const int cpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus > 0 ? cpus : 1));
  const char* names[XDPGW_SNAT_STAT_COUNT] = {"created", "raced", "port_taken", "icmp_errors"};
  for (uint32_t i = 0; i < XDPGW_SNAT_STAT_COUNT; ++i) {
    check_errno(bpf_map_lookup_elem(dp_.snat_stats_fd(), &i, per_cpu.data()), "read snat_stats");
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    s[names[i]] = sum;
  }
  return s;
}

void SnatTable::metrics(std::vector<control::MetricFamily>& out) const {
  const Usage u = usage();
  control::MetricFamily active{.name = "xdpgw_snat_translations",
                               .help = "Live source-NAT translations, by translated address.",
                               .type = "gauge",
                               .samples = {}};
  for (const auto& [a, n] : u.translations) active.samples.push_back({{{"address", a}}, static_cast<double>(n)});
  out.push_back(std::move(active));
  control::MetricFamily ports{.name = "xdpgw_snat_ports_in_use",
                              .help = "Translated ports (ICMP: identifiers) in use, by address and protocol.",
                              .type = "gauge",
                              .samples = {}};
  for (const auto& [key, n] : u.ports_in_use)
    ports.samples.push_back({{{"address", key.first}, {"protocol", key.second}}, static_cast<double>(n)});
  out.push_back(std::move(ports));
  control::MetricFamily exp{.name = "xdpgw_snat_expired_total",
                            .help = "Translations ended by their timeout, by protocol.",
                            .type = "counter",
                            .samples = {}};
  for (uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_ICMP}}) {
    auto it = expired_.find(proto);
    exp.samples.push_back({{{"protocol", std::string(proto_name(proto))}},
                           static_cast<double>(it == expired_.end() ? 0 : it->second)});
  }
  out.push_back(std::move(exp));
}

}  // namespace xdpgw::daemon
