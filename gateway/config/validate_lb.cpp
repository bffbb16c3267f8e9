// [lb] and [[vip]]: the load balancer's VIPs, their backends and health
// checks, and the tunnel sources DSR needs.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "config/validate_detail.hpp"
#include "lb/maglev.hpp"

namespace xdpgw::config::detail {
namespace {

std::optional<IpAddr> check_address(const Located<std::string>& raw, std::string_view what,
                                    ErrorList& errors) {
  std::string why;
  auto addr = IpAddr::parse(raw.value, &why);
  if (!addr) errors.add(raw.pos, "{} {}", what, why);
  return addr;
}

bool is_valid_vip_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxVipNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
         });
}

std::optional<HealthCheck> check_health(const RawHealthCheck& raw, ErrorList& errors) {
  HealthCheck hc;
  bool ok = true;
  if (const auto* kind = require(raw.kind, "kind", "[vip.health_check]", raw.pos, errors)) {
    if (auto k = check_choice(raw.kind, "kind", kHealthCheckKinds, errors)) hc.kind = *k;
    else ok = false;
    (void)kind;
  } else {
    ok = false;
  }
  if (raw.port) {
    if (auto port = check_range(*raw.port, "port", 1, 65535, errors)) hc.port = static_cast<uint16_t>(*port);
    else ok = false;
  }
  if (raw.path) {
    if (hc.kind != HealthCheckKind::kHttp) {
      errors.add(raw.path->pos, "path is only used by kind = \"http\"");
      ok = false;
    } else if (!raw.path->value.starts_with('/') || raw.path->value.size() > kMaxHealthPathLength ||
               std::any_of(raw.path->value.begin(), raw.path->value.end(),
                           [](char c) { return c <= ' ' || c == 0x7f; })) {
      errors.add(raw.path->pos,
                 "path {:?} must start with '/', hold no spaces or control characters and be at most {} bytes",
                 raw.path->value, kMaxHealthPathLength);
      ok = false;
    } else {
      hc.path = raw.path->value;
    }
  }
  if (raw.interval_ms) {
    if (auto v = check_range(*raw.interval_ms, "interval_ms", kMinHealthIntervalMs, kMaxHealthIntervalMs, errors))
      hc.interval_ms = static_cast<uint32_t>(*v);
    else ok = false;
  }
  if (raw.timeout_ms) {
    if (auto v = check_range(*raw.timeout_ms, "timeout_ms", 1, kMaxHealthIntervalMs, errors))
      hc.timeout_ms = static_cast<uint32_t>(*v);
    else ok = false;
  }
  if (ok && hc.timeout_ms >= hc.interval_ms) {
    // A probe still running when the next one is due would overlap it.
    errors.add(raw.timeout_ms ? raw.timeout_ms->pos : raw.pos,
               "timeout_ms {} must be shorter than interval_ms {}", hc.timeout_ms, hc.interval_ms);
    ok = false;
  }
  if (raw.rise) {
    if (auto v = check_range(*raw.rise, "rise", 1, kMaxRiseFall, errors)) hc.rise = static_cast<uint32_t>(*v);
    else ok = false;
  }
  if (raw.fall) {
    if (auto v = check_range(*raw.fall, "fall", 1, kMaxRiseFall, errors)) hc.fall = static_cast<uint32_t>(*v);
    else ok = false;
  }
  for (const auto* raw_status : {&raw.status_min, &raw.status_max}) {
    if (*raw_status && hc.kind != HealthCheckKind::kHttp) {
      errors.add((*raw_status)->pos, "status_min/status_max are only used by kind = \"http\"");
      ok = false;
    }
  }
  if (raw.status_min) {
    if (auto v = check_range(*raw.status_min, "status_min", 100, 599, errors)) hc.status_min = static_cast<uint16_t>(*v);
    else ok = false;
  }
  if (raw.status_max) {
    if (auto v = check_range(*raw.status_max, "status_max", 100, 599, errors)) hc.status_max = static_cast<uint16_t>(*v);
    else ok = false;
  }
  if (ok && hc.status_min > hc.status_max) {
    errors.add(raw.status_max ? raw.status_max->pos : raw.pos,
               "status_max {} is below status_min {}", hc.status_max, hc.status_min);
    ok = false;
  }
  if (!ok) return std::nullopt;
  return hc;
}

std::optional<Backend> check_backend(const RawBackend& raw, const Vip& vip, ErrorList& errors) {
  const auto* address = require(raw.address, "address", "[[vip.backend]]", raw.pos, errors);
  if (address == nullptr) return std::nullopt;
  auto addr = check_address(*address, "backend", errors);
  if (!addr) return std::nullopt;
  Backend be{.addr = *addr};
  bool ok = true;
  if (vip.mode == LbMode::kNat && addr->family != vip.addr.family) {
    errors.add(address->pos, "backend {:?} is {} but VIP {:?} is {}; mode \"nat\" cannot translate between families (\"dsr\" can)",
               address->value, to_string(addr->family), vip.name, to_string(vip.addr.family));
    ok = false;
  }
  if (raw.port) {
    if (auto port = check_range(*raw.port, "port", 1, 65535, errors)) be.port = static_cast<uint16_t>(*port);
    else ok = false;
  } else {
    be.port = vip.port;
  }
  if (raw.weight) {
    if (auto w = check_range(*raw.weight, "weight", 0, kMaxBackendWeight, errors)) be.weight = static_cast<uint32_t>(*w);
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return be;
}

std::optional<Vip> check_vip(const RawVip& raw, ErrorList& errors) {
  constexpr std::string_view kTable = "[[vip]]";
  Vip vip;
  bool ok = true;
  if (const auto* name = require(raw.name, "name", kTable, raw.pos, errors)) {
    if (is_valid_vip_name(name->value)) vip.name = name->value;
    else {
      errors.add(name->pos, "VIP name {:?} must match [A-Za-z0-9_.-]{{1,{}}}", name->value, kMaxVipNameLength);
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const auto* address = require(raw.address, "address", kTable, raw.pos, errors)) {
    if (auto addr = check_address(*address, "address", errors)) vip.addr = *addr;
    else ok = false;
  } else {
    ok = false;
  }
  if (require(raw.protocol, "protocol", kTable, raw.pos, errors)) {
    if (auto p = check_choice(raw.protocol, "protocol", kL4Protocols, errors)) vip.protocol = *p;
    else ok = false;
  } else {
    ok = false;
  }
  if (raw.port) {
    if (auto port = check_range(*raw.port, "port", 0, 65535, errors)) vip.port = static_cast<uint16_t>(*port);
    else ok = false;
  }
  if (raw.mode) {
    if (auto m = check_choice(raw.mode, "mode", kLbModes, errors)) vip.mode = *m;
    else ok = false;
  }
  if (raw.table_size) {
    if (auto size = check_range(*raw.table_size, "table_size", 2, kMaxMaglevTableSize, errors)) {
      if (!lb::is_prime(static_cast<uint64_t>(*size))) {
        errors.add(raw.table_size->pos, "table_size {} must be a prime (next one: {})", *size,
                   lb::next_prime(static_cast<uint32_t>(*size)));
        ok = false;
      } else {
        vip.table_size = static_cast<uint32_t>(*size);
      }
    } else {
      ok = false;
    }
  }
  if (raw.syn_rate_limit) {
    if (vip.protocol != L4Protocol::kTcp) {
      errors.add(raw.syn_rate_limit->pos, "syn_rate_limit is for TCP VIPs; this one is {:?}",
                 to_string(vip.protocol));
      ok = false;
    } else if (vip.mode == LbMode::kProxy) {
      errors.add(raw.syn_rate_limit->pos,
                 "syn_rate_limit is for nat and dsr VIPs; a proxy VIP's SYNs reach the kernel, "
                 "whose tcp_syncookies answer a flood");
      ok = false;
    } else if (auto n = check_range(*raw.syn_rate_limit, "syn_rate_limit", 0, kMaxUdpNewFlowsPerPrefix,
                                    errors)) {
      vip.syn_rate_limit = static_cast<uint32_t>(*n);
    } else {
      ok = false;
    }
  }
  if (raw.synproxy) {
    const RawSynproxy& sp = *raw.synproxy;
    if (sp.mode) {
      if (auto m = check_choice(sp.mode, "mode", kSynproxyModes, errors)) vip.synproxy.mode = *m;
      else ok = false;
    }
    if (sp.threshold_syn_per_second) {
      if (auto n = check_range(*sp.threshold_syn_per_second, "threshold_syn_per_second", 1,
                               kMaxSynproxyThreshold, errors))
        vip.synproxy.threshold_syn_per_second = static_cast<uint32_t>(*n);
      else
        ok = false;
    }
    if (vip.synproxy.mode != SynproxyMode::kOff) {
      // Cookies need both directions through the gateway: the ACK to the
      // backend and the sequence translation of every later packet.
      if (vip.protocol != L4Protocol::kTcp) {
        errors.add(sp.pos, "VIP {:?}: synproxy is for TCP VIPs", vip.name);
        ok = false;
      } else if (vip.mode == LbMode::kDsr) {
        errors.add(sp.pos,
                   "VIP {:?}: synproxy needs mode \"nat\" (a dsr backend answers the client "
                   "directly, so the gateway cannot complete its handshake); use syn_rate_limit",
                   vip.name);
        ok = false;
      } else if (vip.mode == LbMode::kProxy) {
        errors.add(sp.pos,
                   "VIP {:?}: a proxy VIP's SYNs reach the kernel, whose tcp_syncookies answer "
                   "a flood; synproxy is for nat VIPs",
                   vip.name);
        ok = false;
      }
    }
  }
  if (vip.mode == LbMode::kProxy) {
    // The daemon listens on VIP:port: one TCP port, not "every port".
    if (vip.protocol != L4Protocol::kTcp) {
      errors.add(raw.mode->pos, "VIP {:?}: mode \"proxy\" is for protocol \"tcp\" only", vip.name);
      ok = false;
    } else if (raw.port && vip.port == 0) {
      errors.add(raw.port->pos, "VIP {:?}: mode \"proxy\" listens on one port; port 0 (every port) cannot be proxied",
                 vip.name);
      ok = false;
    } else if (!raw.port) {
      errors.add(raw.pos, "VIP {:?}: mode \"proxy\" needs a port", vip.name);
      ok = false;
    }
    if (raw.proxy_protocol) vip.proxy_protocol = raw.proxy_protocol->value;
    const auto u32 = [&](const RawInteger& value, const char* key, int64_t lo, int64_t hi, uint32_t& out) {
      if (!value) return;
      if (auto v = check_range(*value, key, lo, hi, errors)) out = static_cast<uint32_t>(*v);
      else ok = false;
    };
    u32(raw.max_connections, "max_connections", 1, kMaxProxyMaxConnections, vip.max_connections);
    u32(raw.idle_timeout_ms, "idle_timeout_ms", 0, 86'400'000, vip.idle_timeout_ms);
    u32(raw.connect_timeout_ms, "connect_timeout_ms", 1, 600'000, vip.connect_timeout_ms);
    u32(raw.connect_tries, "connect_tries", 1, kMaxProxyConnectTries, vip.connect_tries);
  } else {
    for (const auto& [value, key] : {std::pair{raw.max_connections, "max_connections"},
                                     std::pair{raw.idle_timeout_ms, "idle_timeout_ms"},
                                     std::pair{raw.connect_timeout_ms, "connect_timeout_ms"},
                                     std::pair{raw.connect_tries, "connect_tries"}}) {
      if (value) {
        errors.add(value->pos, "{} is only used by mode = \"proxy\"", key);
        ok = false;
      }
    }
    if (raw.proxy_protocol) {
      errors.add(raw.proxy_protocol->pos, "proxy_protocol is only used by mode = \"proxy\"");
      ok = false;
    }
  }
  if (raw.health_check) {
    vip.health_check = check_health(*raw.health_check, errors);
    if (!vip.health_check) ok = false;
  }
  if (raw.backends.empty()) {
    errors.add(raw.pos, "{} {:?} has no [[vip.backend]]", kTable, vip.name);
    ok = false;
  }
  std::map<std::string, SourcePos> first_seen;
  for (const RawBackend& raw_backend : raw.backends) {
    auto be = check_backend(raw_backend, vip, errors);
    if (!be) {
      ok = false;
      continue;
    }
    if (auto [first, inserted] = first_seen.emplace(be->id(), raw_backend.pos); !inserted) {
      errors.add(raw_backend.pos, "duplicate backend {} in VIP {:?} (first at {})", be->id(),
                 vip.name, line_col(first->second));
      ok = false;
      continue;
    }
    vip.backends.push_back(*be);
  }
  if (ok && vip.backends.size() > vip.table_size) {
    errors.add(raw.pos, "VIP {:?} has {} backends but table_size {}: Maglev needs more slots than backends",
               vip.name, vip.backends.size(), vip.table_size);
    ok = false;
  }
  if (!ok) return std::nullopt;
  return vip;
}

}  // namespace

LoadBalancer check_lb(const std::optional<RawLb>& raw, const std::vector<RawVip>& raw_vips,
                      ErrorList& errors) {
  LoadBalancer lb;
  if (raw) {
    if (raw->tunnel_source_v4) {
      auto addr = check_address(*raw->tunnel_source_v4, "tunnel_source_v4", errors);
      if (addr && addr->family != IpFamily::kV4)
        errors.add(raw->tunnel_source_v4->pos, "tunnel_source_v4 {:?} is not an IPv4 address",
                   raw->tunnel_source_v4->value);
      else if (addr)
        lb.tunnel_source_v4 = addr;
    }
    if (raw->tunnel_source_v6) {
      auto addr = check_address(*raw->tunnel_source_v6, "tunnel_source_v6", errors);
      if (addr && addr->family != IpFamily::kV6)
        errors.add(raw->tunnel_source_v6->pos, "tunnel_source_v6 {:?} is not an IPv6 address",
                   raw->tunnel_source_v6->value);
      else if (addr)
        lb.tunnel_source_v6 = addr;
    }
    if (raw->conn_table_size)
      if (auto size = check_range(*raw->conn_table_size, "conn_table_size", kMinConnTableSize,
                                  kMaxConnTableSize, errors))
        lb.conn_table_size = static_cast<uint32_t>(*size);
    if (raw->embryonic_table_size)
      if (auto size = check_range(*raw->embryonic_table_size, "embryonic_table_size",
                                  kMinEmbryonicTableSize, kMaxEmbryonicTableSize, errors))
        lb.embryonic_table_size = static_cast<uint32_t>(*size);
    if (raw->udp_new_flows_per_prefix)
      if (auto n = check_range(*raw->udp_new_flows_per_prefix, "udp_new_flows_per_prefix", 0,
                               kMaxUdpNewFlowsPerPrefix, errors))
        lb.udp_new_flows_per_prefix = static_cast<uint32_t>(*n);
    if (raw->synproxy_mss4)
      if (auto n = check_range(*raw->synproxy_mss4, "synproxy_mss4", 536, 65495, errors))
        lb.synproxy_mss4 = static_cast<uint16_t>(*n);
    if (raw->synproxy_mss6)
      if (auto n = check_range(*raw->synproxy_mss6, "synproxy_mss6", 1220, 65475, errors))
        lb.synproxy_mss6 = static_cast<uint16_t>(*n);
    if (raw->synproxy_wscale)
      if (auto n = check_range(*raw->synproxy_wscale, "synproxy_wscale", 0, kMaxSynproxyWscale, errors))
        lb.synproxy_wscale = static_cast<uint8_t>(*n);
    if (raw->proxy_stop_grace_ms)
      if (auto ms = check_range(*raw->proxy_stop_grace_ms, "proxy_stop_grace_ms", 0, kMaxProxyStopGraceMs, errors))
        lb.proxy_stop_grace_ms = static_cast<uint32_t>(*ms);
  }
  if (raw_vips.size() > kMaxVips)
    errors.add(raw_vips[kMaxVips].pos, "more than {} [[vip]] tables", kMaxVips);

  std::map<std::string, SourcePos> names;
  std::map<std::tuple<IpAddr, L4Protocol, uint16_t>, SourcePos> listeners;
  std::set<std::string> backend_ids;
  for (const RawVip& raw_vip : raw_vips) {
    auto vip = check_vip(raw_vip, errors);
    if (!vip) continue;
    if (auto [first, inserted] = names.emplace(vip->name, raw_vip.pos); !inserted) {
      errors.add(raw_vip.name->pos, "duplicate VIP name {:?} (first at {})", vip->name,
                 line_col(first->second));
      continue;
    }
    if (auto [first, inserted] = listeners.emplace(std::tuple(vip->addr, vip->protocol, vip->port), raw_vip.pos);
        !inserted) {
      errors.add(raw_vip.pos, "VIP {:?}: {} {} port {} is already a VIP (at {})", vip->name,
                 vip->addr.to_string(), to_string(vip->protocol), vip->port, line_col(first->second));
      continue;
    }
    if (vip->mode == LbMode::kDsr) {
      for (const Backend& be : vip->backends) {
        const bool v4 = be.addr.family == IpFamily::kV4;
        if ((v4 && !lb.tunnel_source_v4) || (!v4 && !lb.tunnel_source_v6)) {
          errors.add(raw_vip.pos,
                     "VIP {:?} uses mode \"dsr\" with {} backend {} but [lb] has no tunnel_source_{}",
                     vip->name, to_string(be.addr.family), be.id(), v4 ? "v4" : "v6");
          break;
        }
      }
    }
    for (const Backend& be : vip->backends) backend_ids.insert(be.id());
    lb.vips.push_back(std::move(*vip));
  }
  // XDP looks a packet's exact port up first, then its address's "every
  // port" VIP: a nat/dsr VIP on every port of a proxy VIP's address would
  // take the proxy's packets before the kernel stack sees them.
  for (const Vip& proxy : lb.vips) {
    if (proxy.mode != LbMode::kProxy) continue;
    for (const Vip& other : lb.vips)
      if (other.mode != LbMode::kProxy && other.port == 0 && other.addr == proxy.addr &&
          other.protocol == L4Protocol::kTcp)
        errors.add(raw_vips.front().pos, "VIP {:?} (mode \"proxy\") is shadowed by VIP {:?}, which takes every TCP port of {} in XDP",
                   proxy.name, other.name, proxy.addr.to_string());
  }
  if (backend_ids.size() > kMaxBackendsTotal)
    errors.add(raw_vips.empty() ? SourcePos{} : raw_vips.front().pos,
               "{} distinct backends; at most {} are supported", backend_ids.size(), kMaxBackendsTotal);
  return lb;
}

}  // namespace xdpgw::config::detail
