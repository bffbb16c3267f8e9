#include "datapath/apply.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>
#include <linux/bpf.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <system_error>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "datapath/netdev.hpp"
#include "datapath/snat_apply.hpp"

namespace xdpgw {
namespace {

void update(int fd, const void* key, const void* value, std::string_view what) {
  check_errno(bpf_map_update_elem(fd, key, value, BPF_ANY), what);
}

int family_of(config::IpFamily f) {
  return f == config::IpFamily::kV4 ? AF_INET : AF_INET6;
}

std::set<uint32_t> keys_of(int map_fd) {
  std::set<uint32_t> keys;
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    keys.insert(next);
    key = next;
    prev = &key;
  }
  return keys;
}

// What a nexthop needs of its egress port, by ifindex.
struct EgressPort {
  std::array<uint8_t, 6> mac{};
  uint32_t mtu = 0;
};

std::map<uint32_t, EgressPort> describe_ports(const config::Config& cfg) {
  std::map<uint32_t, EgressPort> ports;
  for (const auto& p : cfg.ports) {
    netdev::Interface dev = netdev::describe(p.name);
    ports[dev.ifindex] = EgressPort{.mac = dev.mac, .mtu = dev.mtu};
  }
  return ports;
}

// The gateway's own addresses: for naming why the FIB does not forward a
// packet (local table), and, with static routing, as host routes that send
// their packets to the kernel.
void fill_local_addresses(const ConfigTables& t, bool host_routes) {
  uint8_t one = 1;
  const xdpgw_route local{.nexthop_id = XDPGW_NH_LOCAL};
  for (const auto& a : netdev::local_addresses()) {
    xdpgw_addr_key key{};
    key.family = static_cast<uint32_t>(a.family);
    std::memcpy(key.addr, a.addr.data(), 16);
    update(t.local.get(), &key, &one, "local_addrs");
    if (!host_routes) continue;
    // After the config's routes: a config route to the same host loses, as
    // the kernel's local table wins over its main table.
    if (a.family == AF_INET) {
      xdpgw_lpm_v4_key route{.prefixlen = 32, .addr = 0};
      std::memcpy(&route.addr, a.addr.data(), 4);
      update(t.routes4.get(), &route, &local, "routes4[local]");
    } else {
      xdpgw_lpm_v6_key route{.prefixlen = 128, .addr = {}};
      std::memcpy(route.addr, a.addr.data(), 16);
      update(t.routes6.get(), &route, &local, "routes6[local]");
    }
  }
}

std::vector<NexthopBinding> fill_static_routes(const ConfigTables& t,
                                               const config::Config& cfg) {
  const std::map<uint32_t, EgressPort> ports = describe_ports(cfg);
  std::vector<NexthopBinding> bindings;
  // One nexthop entry per distinct (via, port), shared by the routes using it.
  std::map<std::pair<config::IpAddr, uint32_t>, uint32_t> ids;
  for (const auto& r : cfg.routing.routes) {
    auto [it, fresh] = ids.try_emplace({r.via, r.ifindex},
                                       static_cast<uint32_t>(ids.size()));
    uint32_t id = it->second;
    if (fresh) {
      if (id >= XDPGW_MAX_NEXTHOPS)
        throw std::runtime_error(fmt::format("more than {} distinct nexthops",
                                             XDPGW_MAX_NEXTHOPS));
      NexthopBinding nh;
      nh.id = id;
      nh.neighbour.family = family_of(r.via.family);
      nh.neighbour.addr = r.via.bytes;
      nh.neighbour.ifindex = r.ifindex;
      bindings.push_back(nh);
      xdpgw_nexthop unresolved{};
      unresolved.ifindex = r.ifindex;
      if (auto port = ports.find(r.ifindex); port != ports.end()) {
        std::memcpy(unresolved.smac, port->second.mac.data(), 6);
        unresolved.mtu = port->second.mtu;
      } else {
        // Not a gateway port: the router's redirect check passes its
        // packets to the kernel (pass_egress_not_port), not the MTU.
        unresolved.mtu = UINT32_MAX;
      }
      update(t.nexthops.get(), &id, &unresolved, "nexthops");
    }
    xdpgw_route value{.nexthop_id = id};
    if (r.prefix.addr.family == config::IpFamily::kV4) {
      xdpgw_lpm_v4_key key{};
      key.prefixlen = r.prefix.length;
      std::memcpy(&key.addr, r.prefix.addr.bytes.data(), 4);
      update(t.routes4.get(), &key, &value, fmt::format("routes4[{}]", r.prefix.to_string()));
    } else {
      xdpgw_lpm_v6_key key{};
      key.prefixlen = r.prefix.length;
      std::memcpy(key.addr, r.prefix.addr.bytes.data(), 16);
      update(t.routes6.get(), &key, &value, fmt::format("routes6[{}]", r.prefix.to_string()));
    }
  }
  return bindings;
}

void fill_cpus(const ConfigTables& t, const config::Config& cfg) {
  uint32_t idx = 0;
  for (uint32_t cpu : cfg.steering.cpus) {
    update(t.cpus.get(), &idx, &cpu, "cpu_targets");
    ++idx;
  }
}

uint32_t to_route_source(config::RouteSource s) {
  switch (s) {
    case config::RouteSource::kFib: return XDPGW_ROUTE_FIB;
    case config::RouteSource::kStatic: return XDPGW_ROUTE_STATIC;
    case config::RouteSource::kKernel: return XDPGW_ROUTE_KERNEL;
    case config::RouteSource::kNone: return XDPGW_ROUTE_NONE;
  }
  return XDPGW_ROUTE_NONE;
}

// Adds the ports the new config redirects to; returns the ones only the old
// config did (tx_ports is shared by both generations).
std::set<uint32_t> add_tx_ports(Datapath& dp, const config::Config& cfg) {
  std::set<uint32_t> stale = keys_of(dp.tx_ports_fd());
  for (const auto& p : cfg.ports) {
    bpf_devmap_val tx{};
    tx.ifindex = p.ifindex;
    update(dp.tx_ports_fd(), &p.ifindex, &tx, fmt::format("tx_ports[{}]", p.name));
    stale.erase(p.ifindex);
  }
  return stale;
}

void remove_stale_ports(Datapath& dp, const std::set<uint32_t>& stale) {
  for (uint32_t ifindex : stale)
    if (bpf_map_delete_elem(dp.tx_ports_fd(), &ifindex) != 0 && errno != ENOENT)
      spdlog::warn("remove tx_ports[{}]: {}", ifindex, std::error_code(errno, std::generic_category()).message());
}

// Makes generation `gen`'s CPUMAP hold exactly the configured CPUs, each
// running `gen`'s second stage. Only packets steered under `gen` use it, and
// `gen` is not active yet. An entry exists per CPU (ARRAY semantics); a zero
// qsize means unused. Replace an entry only when it differs, because
// replacing one tears down that CPU's queue.
void fill_cpu_map(Datapath& dp, uint32_t gen, const config::Config& cfg) {
  const int possible = libbpf_num_possible_cpus();
  if (possible < 0) throw_errno(possible, "libbpf_num_possible_cpus");
  for (uint32_t cpu : cfg.steering.cpus)
    if (cpu >= static_cast<uint32_t>(possible))
      throw std::runtime_error(fmt::format(
          "steering CPU {} does not exist (this machine has {} possible CPUs)", cpu, possible));
  const std::set<uint32_t> wanted(cfg.steering.cpus.begin(), cfg.steering.cpus.end());
  const int map_fd = dp.cpu_map_fd(gen);
  bpf_prog_info stage{};
  uint32_t len = sizeof(stage);
  // Without steering the stage may not be loaded at all (Datapath).
  if (!wanted.empty())
    check_errno(bpf_obj_get_info_by_fd(dp.cpu_stage_fd(gen), &stage, &len), "cpu stage info");
  for (uint32_t cpu = 0; cpu < static_cast<uint32_t>(possible); ++cpu) {
    bpf_cpumap_val cur{};
    const bool in_use = bpf_map_lookup_elem(map_fd, &cpu, &cur) == 0 && cur.qsize != 0;
    if (!wanted.contains(cpu)) {
      if (in_use && bpf_map_delete_elem(map_fd, &cpu) != 0 && errno != ENOENT)
        throw_errno(errno, fmt::format("remove cpu_map_g{}[{}]", gen, cpu));
      continue;
    }
    if (in_use && cur.qsize == cfg.steering.queue_size && cur.bpf_prog.id == stage.id) continue;
    bpf_cpumap_val want{};
    want.qsize = cfg.steering.queue_size;
    want.bpf_prog.fd = dp.cpu_stage_fd(gen);
    update(map_fd, &cpu, &want, fmt::format("cpu_map_g{}[{}]", gen, cpu));
  }
}

// Rules in file order from index 0; the first index without
// XDPGW_PUNT_F_VALID (a fresh inner map is all zero) ends the list.
void fill_punt(const ConfigTables& t, const config::Config& cfg) {
  for (uint32_t i = 0; i < cfg.punt.rules.size(); ++i) {
    const xdpgw_punt_rule r = to_punt_rule(cfg.punt.rules[i], i);
    update(t.punt.get(), &i, &r, "punt rule");
  }
}


// ---- policy (bpf/lib/policy.h) ----

void update_lpm(int fd4, int fd6, const config::IpPrefix& prefix, const void* value,
                std::string_view what) {
  if (prefix.addr.family == config::IpFamily::kV4) {
    xdpgw_lpm_v4_key key{};
    key.prefixlen = prefix.length;
    std::memcpy(&key.addr, prefix.addr.bytes.data(), 4);
    update(fd4, &key, value, fmt::format("{}[{}]", what, prefix.to_string()));
  } else {
    xdpgw_lpm_v6_key key{};
    key.prefixlen = prefix.length;
    std::memcpy(key.addr, prefix.addr.bytes.data(), 16);
    update(fd6, &key, value, fmt::format("{}[{}]", what, prefix.to_string()));
  }
}

uint8_t ip_protocol(config::AclProtocol p) {
  switch (p) {
    case config::AclProtocol::kTcp: return IPPROTO_TCP;
    case config::AclProtocol::kUdp: return IPPROTO_UDP;
    case config::AclProtocol::kIcmp: return IPPROTO_ICMP;
    case config::AclProtocol::kIcmpv6: return IPPROTO_ICMPV6;
    case config::AclProtocol::kAny: break;
  }
  return 0;
}

uint32_t acl_action(config::AclAction a) {
  return a == config::AclAction::kAllow ? XDPGW_ACL_ALLOW : XDPGW_ACL_DENY;
}

config::IpPrefix any_prefix(config::IpFamily f) {
  return config::IpPrefix{.addr = {.family = f, .bytes = {}}, .length = 0};
}

// Sort key of one side: a named set before any single prefix (sets are
// lists of specific exceptions: block lists, allow lists), then longer
// prefixes before shorter, an unconstrained side last.
int specificity(const std::optional<config::IpPrefix>& prefix, const std::string& set) {
  if (!set.empty()) return 129;
  return prefix ? int(prefix->length) : -1;
}

// Evaluation order (documented in shared.h and README): most specific
// source, then most specific destination, then file order.
std::vector<std::size_t> acl_evaluation_order(const std::vector<config::AclRule>& rules) {
  std::vector<std::size_t> order(rules.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](std::size_t i) {
    return std::pair(specificity(rules[i].src, rules[i].src_set),
                     specificity(rules[i].dst, rules[i].dst_set));
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) > key(b); });
  return order;
}

using AclSetsByPrefix = std::unordered_map<config::IpPrefix, xdpgw_acl_ruleset, config::IpPrefixHash>;

void add_rule(xdpgw_acl_ruleset& set, std::size_t rule) {
  set.bits[rule / 64] |= uint64_t{1} << (rule % 64);
}

// One side (source or destination) of one family. The trie holds every
// prefix a rule names there plus /0, each mapped to the rules whose prefixes
// contain it: then the longest stored prefix matching an address carries
// exactly the rules that match the address. With sets of 100k prefixes,
// containment is found by looking up each stored prefix's ancestors (only
// at the prefix lengths that occur), not by comparing every pair.
void fill_acl_side(int fd4, int fd6, config::IpFamily family, const config::Policy& policy,
                   const std::vector<const config::AclRule*>& by_eval,
                   std::optional<config::IpPrefix> config::AclRule::*prefix_of,
                   std::string config::AclRule::*set_of, std::string_view what) {
  AclSetsByPrefix named;  // prefix -> the rules that name it
  xdpgw_acl_ruleset unconstrained{};
  named[any_prefix(family)];
  for (std::size_t i = 0; i < by_eval.size(); ++i) {
    const config::AclRule& r = *by_eval[i];
    if (!r.matches(family)) continue;
    if (const auto& prefix = r.*prefix_of) {
      add_rule(named[*prefix], i);
    } else if (const auto& name = r.*set_of; !name.empty()) {
      for (const config::IpPrefix& p : policy.find_set(name)->prefixes)
        if (p.addr.family == family) add_rule(named[p], i);
    } else {
      add_rule(unconstrained, i);
    }
  }
  std::set<uint8_t> lengths;
  for (const auto& [prefix, rules] : named) lengths.insert(prefix.length);
  for (const auto& [prefix, own] : named) {
    xdpgw_acl_ruleset set = unconstrained;
    for (uint8_t length : lengths) {
      if (length > prefix.length) break;
      const auto ancestor =
          length == prefix.length
              ? named.find(prefix)
              : named.find(config::IpPrefix{.addr = prefix.addr, .length = length}.network());
      if (ancestor == named.end()) continue;
      for (std::size_t w = 0; w < XDPGW_ACL_WORDS; ++w) set.bits[w] |= ancestor->second.bits[w];
    }
    update_lpm(fd4, fd6, prefix, &set, what);
  }
}

void fill_acl(const ConfigTables& t, const config::Policy& policy) {
  const auto order = acl_evaluation_order(policy.acl);
  std::vector<const config::AclRule*> by_eval;
  for (uint32_t i = 0; i < order.size(); ++i) {
    const config::AclRule& r = policy.acl[order[i]];
    by_eval.push_back(&r);
    xdpgw_acl_rule value{};
    value.ifindex = r.in_ifindex;
    value.proto = ip_protocol(r.protocol);
    value.action = static_cast<uint8_t>(acl_action(r.action));
    value.rule_id = static_cast<uint16_t>(r.stats_slot);
    value.state = r.state == config::AclState::kNew           ? XDPGW_ACL_STATE_NEW
                  : r.state == config::AclState::kEstablished ? XDPGW_ACL_STATE_ESTABLISHED
                                                              : XDPGW_ACL_STATE_ANY;
    if (r.src_ports || r.dst_ports) {
      value.flags = XDPGW_ACL_F_PORTS;
      const config::PortRange any;
      value.sport_lo = r.src_ports.value_or(any).first;
      value.sport_hi = r.src_ports.value_or(any).last;
      value.dport_lo = r.dst_ports.value_or(any).first;
      value.dport_hi = r.dst_ports.value_or(any).last;
    }
    update(t.acl_rules.get(), &i, &value, fmt::format("acl_rules[{}]", i));
  }
  if (policy.acl.empty()) return;
  for (auto family : {config::IpFamily::kV4, config::IpFamily::kV6}) {
    fill_acl_side(t.acl_src4.get(), t.acl_src6.get(), family, policy, by_eval,
                  &config::AclRule::src, &config::AclRule::src_set, "acl_src");
    fill_acl_side(t.acl_dst4.get(), t.acl_dst6.get(), family, policy, by_eval,
                  &config::AclRule::dst, &config::AclRule::dst_set, "acl_dst");
  }
}

void fill_ratelimit(const ConfigTables& t, const config::RateLimit& rl) {
  for (uint32_t id = 0; id < rl.classes.size(); ++id) {
    const config::RateClass& c = rl.classes[id];
    xdpgw_rl_class value =
        rl_class_params(c.packets_per_second, c.burst, c.bytes_per_second, c.burst_bytes);
    update(t.rl_classes.get(), &id, &value, fmt::format("rl_classes[{}]", c.name));
    for (const auto& prefix : c.sources)
      update_lpm(t.rl_src4.get(), t.rl_src6.get(), prefix, &id, "rl_src");
  }
}

void fill_policy(const ConfigTables& t, const config::Policy& policy) {
  fill_acl(t, policy);
  fill_ratelimit(t, policy.ratelimit);
  xdpgw_policy value{
      .acl_rules = static_cast<uint32_t>(policy.acl.size()),
      .acl_default = acl_action(policy.acl_default),
      .rl_enabled = policy.ratelimit.enabled() ? 1u : 0u,
      .rl_default_class = policy.ratelimit.default_class.value_or(XDPGW_RL_NO_CLASS)};
  uint32_t zero = 0;
  update(t.policy.get(), &zero, &value, "policy");
}

}  // namespace

xdpgw_punt_rule to_punt_rule(const config::PuntRule& rule, uint32_t id) {
  xdpgw_punt_rule r{};
  r.proto = rule.protocol == config::PuntProtocol::kTcp   ? IPPROTO_TCP
            : rule.protocol == config::PuntProtocol::kUdp ? IPPROTO_UDP
                                                          : 0;
  for (auto [prefix, addr, len] : {std::tuple{&rule.src, r.src, &r.src_prefixlen},
                                   std::tuple{&rule.dst, r.dst, &r.dst_prefixlen}}) {
    if (!*prefix) continue;
    std::memcpy(addr, (*prefix)->addr.bytes.data(), 16);
    *len = (*prefix)->length;
    r.family = static_cast<uint8_t>(family_of((*prefix)->addr.family));
  }
  r.sport_lo = rule.sport.first;
  r.sport_hi = rule.sport.last;
  r.dport_lo = rule.dport.first;
  r.dport_hi = rule.dport.last;
  // rule.mode stays in userspace: the pipeline offloads or not
  // (pipeline/from_config.cpp); XDP punts either way.
  r.flags = XDPGW_PUNT_F_VALID | (rule.fallback_drop ? XDPGW_PUNT_F_FALLBACK_DROP : 0u);
  r.rule_id = id;
  return r;
}

xdpgw_rl_class rl_class_params(uint64_t packets_per_second, uint64_t burst,
                               uint64_t bytes_per_second, uint64_t burst_bytes) {
  // Validation bounds keep every product below 2^63: interval <= 1e9 << 8
  // < 2^38, limit < 2^62; byte_limit <= 1e9 * 2^38 / 1000 < 2^58.
  constexpr uint64_t kOneSecond = uint64_t{1'000'000'000} << XDPGW_RL_FRAC_BITS;
  if (packets_per_second == 0 || packets_per_second > uint64_t{100'000'000} || burst == 0 ||
      burst > uint64_t{10'000'000})
    throw std::out_of_range(
        fmt::format("rate {} / burst {} outside the validated range", packets_per_second, burst));
  if ((bytes_per_second == 0) != (burst_bytes == 0) ||
      (bytes_per_second != 0 && (bytes_per_second < 1000 || bytes_per_second > 100'000'000'000 ||
                                 burst_bytes > 1'000'000'000)))
    throw std::out_of_range(fmt::format("byte rate {} / burst {} outside the validated range",
                                        bytes_per_second, burst_bytes));
  // Rounded up: a rate that does not divide evenly errs below, never above.
  const uint64_t interval = (kOneSecond + packets_per_second - 1) / packets_per_second;
  xdpgw_rl_class c{.interval = interval, .limit = burst * interval, .bytes_per_second = 0,
                   .byte_limit = 0};
  if (bytes_per_second != 0) {
    c.bytes_per_second = bytes_per_second;
    // Rounded down: the byte bucket never holds more than burst_bytes.
    c.byte_limit = static_cast<uint64_t>(static_cast<unsigned __int128>(burst_bytes) *
                                         kOneSecond / bytes_per_second);
  }
  return c;
}

uint32_t skipped_stages(const config::Config& cfg) {
  uint32_t skip = 0;
  if (cfg.policy.acl.empty() && !cfg.policy.ratelimit.enabled()) skip |= XDPGW_SKIP_POLICY;
  if (!cfg.punt.enabled()) skip |= XDPGW_SKIP_PUNT;
  if (cfg.lb.vips.empty()) skip |= XDPGW_SKIP_LB;
  if (!cfg.flow_export.enabled()) skip |= XDPGW_SKIP_FLOW_EXPORT;
  const bool inbound_filter = std::any_of(cfg.ports.begin(), cfg.ports.end(),
                                          [](const config::Port& p) { return p.inbound_established_only; });
  if (!inbound_filter) skip |= XDPGW_SKIP_INBOUND;
  if (!cfg.nat.enabled() && !inbound_filter) skip |= XDPGW_SKIP_SNAT;
  return skip;
}

void check_features(uint32_t features, const config::Config& cfg) {
  std::vector<std::string> missing;
  auto need = [&](bool used, uint32_t bit, std::string_view what, std::string_view probe) {
    if (used && !(features & bit))
      missing.push_back(fmt::format("{} needs {}, which this kernel does not offer XDP", what, probe));
  };
  need(cfg.routing.source == config::RouteSource::kFib, XDPGW_FEAT_FIB,
       "routing.source = \"fib\"", "bpf_fib_lookup (use routing.source = \"static\")");
  need(!cfg.policy.acl.empty(), XDPGW_FEAT_ACL, "[[acl]] rules", "bpf_loop");
  need(cfg.steering.enabled(), XDPGW_FEAT_STEERING, "[steering] cpus",
       "CPUMAP second-stage programs (leave cpus empty)");
  for (const auto& vip : cfg.lb.vips)
    need(vip.synproxy.mode != config::SynproxyMode::kOff, XDPGW_FEAT_SYNCOOKIE,
         fmt::format("[vip.synproxy] of VIP {:?}", vip.name),
         "bpf_tcp_raw_gen_syncookie/check_syncookie (set its mode = \"off\" and use "
         "syn_rate_limit)");
  if (!missing.empty())
    throw std::runtime_error(fmt::format("{}; `xdpgw check --kernel` lists what is missing",
                                         fmt::join(missing, "; ")));
}

AppliedState apply(Datapath& dp, const config::Config& cfg) {
  LbRuntime lb;
  lb.adopt(dp, cfg);
  return apply(dp, cfg, lb);
}

AppliedState apply(Datapath& dp, const config::Config& cfg, LbRuntime& lb) {
  check_features(dp.features(), cfg);
  // Ids are committed to `lb` only once the new generation is live: a
  // failed apply leaves the running one's ids as they were.
  LbRuntime next = lb;
  next.assign_ids(cfg);
  next.prune(cfg);
  Datapath::Staged staged = dp.stage_generation();
  const ConfigTables& t = staged.tables;
  AppliedState state;
  state.generation = staged.gen;
  state.nexthops = fill_static_routes(t, cfg);
  fill_local_addresses(t, cfg.routing.source == config::RouteSource::kStatic);
  fill_cpus(t, cfg);
  fill_policy(t, cfg.policy);
  fill_lb(dp, t, staged.gen, cfg, next);
  fill_punt(t, cfg);
  fill_snat(t, cfg.nat);
  fill_inbound(t, cfg.ports);
  write_settings(t.settings.get(),
                 xdpgw_settings{
                     .missed_tail_call_action =
                         cfg.gateway.missed_tail_call == config::MissedTailCall::kPass
                             ? uint32_t(XDP_PASS)
                             : uint32_t(XDP_DROP),
                     .route_source = to_route_source(cfg.routing.source),
                     .cpu_count = static_cast<uint32_t>(cfg.steering.cpus.size()),
                     .skip = skipped_stages(cfg)});
  state.nexthops_table = std::move(staged.tables.nexthops);
  // Resolve before the switch, so the new generation starts with the MACs
  // the kernel already knows.
  refresh_nexthops(state);

  // Not generational: the sampling interval is one word, and a packet of
  // either generation may use the new one. Every CPU's copy, countdowns
  // restarted.
  const std::vector<xdpgw_fe_cfg> fe(static_cast<std::size_t>(libbpf_num_possible_cpus()),
                                     xdpgw_fe_cfg{.sample_every = cfg.flow_export.sampling, .countdown = 0});
  const uint32_t zero = 0;
  check_errno(bpf_map_update_elem(dp.flow_cfg_fd(), &zero, fe.data(), BPF_ANY), "write flow_cfg");

  fill_cpu_map(dp, staged.gen, cfg);
  const std::set<uint32_t> stale_ports = add_tx_ports(dp, cfg);
  dp.activate(staged.gen);
  lb = std::move(next);
  remove_stale_ports(dp, stale_ports);
  remove_stale_rings(dp, cfg, lb);
  return state;
}

int refresh_nexthops(AppliedState& state) {
  int changed = 0;
  for (auto& nh : state.nexthops) {
    xdpgw_nexthop current{};
    check_errno(bpf_map_lookup_elem(state.nexthops_table.get(), &nh.id, &current),
                "read nexthops");
    auto mac = neigh::lookup(nh.neighbour);
    xdpgw_nexthop next = current;
    if (mac) {
      next.flags |= XDPGW_NH_F_RESOLVED;
      std::memcpy(next.dmac, mac->data(), 6);
    } else {
      next.flags &= ~XDPGW_NH_F_RESOLVED;
      // Not fatal: until it resolves, packets for this nexthop go to the
      // kernel (PASS_NO_NEIGH), which resolves on its own when it can.
      try {
        neigh::request_resolution(nh.neighbour);
      } catch (const std::exception& e) {
        spdlog::warn("nexthop {}: {}", nh.id, e.what());
      }
    }
    nh.resolved = mac.has_value();
    if (std::memcmp(&next, &current, sizeof(next)) != 0) {
      update(state.nexthops_table.get(), &nh.id, &next, "nexthops");
      ++changed;
    }
  }
  return changed;
}

}  // namespace xdpgw
