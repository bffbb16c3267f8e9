#include "datapath/lb_apply.hpp"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "lb/maglev.hpp"

namespace xdpgw {

namespace {

uint8_t family_of(const config::IpAddr& a) {
  return a.family == config::IpFamily::kV4 ? AF_INET : AF_INET6;
}

xdpgw_vip_key vip_key(const config::Vip& vip) {
  xdpgw_vip_key key{};
  std::memcpy(key.addr, vip.addr.bytes.data(), 16);
  key.port = htons(vip.port);
  key.proto = vip.protocol == config::L4Protocol::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  key.family = family_of(vip.addr);
  return key;
}

xdpgw_backend backend_value(const config::Backend& be) {
  xdpgw_backend v{};
  std::memcpy(v.addr, be.addr.bytes.data(), 16);
  v.family = family_of(be.addr);
  v.port = htons(be.port);
  return v;
}

// Lowest id in [0, limit) not in `used`.
uint32_t first_free(const std::map<std::string, uint32_t>& ids, uint32_t limit,
                    std::string_view what) {
  std::set<uint32_t> used;
  for (const auto& [name, id] : ids) used.insert(id);
  for (uint32_t id = 0; id < limit; ++id)
    if (!used.contains(id)) return id;
  throw std::runtime_error(fmt::format("more than {} {}", limit, what));
}

void update(int fd, const void* key, const void* value, std::string_view what) {
  check_errno(bpf_map_update_elem(fd, key, value, BPF_ANY), what);
}

}  // namespace

uint32_t ring_slot(uint32_t vip_id, uint32_t gen) {
  return vip_id * XDPGW_CONFIG_GENERATIONS + gen;
}

void LbRuntime::adopt(const Datapath& dp, const config::Config& cfg) {
  if (dp.vips_fd() >= 0) {
    for (const auto& vip : cfg.lb.vips) {
      xdpgw_vip_key key = vip_key(vip);
      xdpgw_vip value{};
      if (bpf_map_lookup_elem(dp.vips_fd(), &key, &value) == 0) vip_ids_[vip.name] = value.vip_id;
    }
  }
  if (dp.backends_fd() >= 0) {
    for (uint32_t id = 0; id < XDPGW_MAX_BACKENDS; ++id) {
      xdpgw_backend v{};
      if (bpf_map_lookup_elem(dp.backends_fd(), &id, &v) != 0 || v.family == 0) continue;
      for (const auto& vip : cfg.lb.vips)
        for (const auto& be : vip.backends) {
          const xdpgw_backend want = backend_value(be);
          if (std::memcmp(&v, &want, sizeof(v)) == 0) backend_ids_[be.id()] = id;
        }
    }
  }
}

void LbRuntime::assign_ids(const config::Config& cfg) {
  std::map<std::string, uint32_t> vips, backends;
  for (const auto& vip : cfg.lb.vips) {
    if (auto it = vip_ids_.find(vip.name); it != vip_ids_.end()) vips[vip.name] = it->second;
    for (const auto& be : vip.backends)
      if (auto it = backend_ids_.find(be.id()); it != backend_ids_.end())
        backends[be.id()] = it->second;
  }
  for (const auto& vip : cfg.lb.vips) {
    if (!vips.contains(vip.name)) vips[vip.name] = first_free(vips, XDPGW_MAX_VIPS, "VIPs");
    for (const auto& be : vip.backends)
      if (!backends.contains(be.id()))
        backends[be.id()] = first_free(backends, XDPGW_MAX_BACKENDS, "backends");
  }
  vip_ids_ = std::move(vips);
  backend_ids_ = std::move(backends);
}

uint32_t LbRuntime::vip_id(const std::string& vip_name) const {
  if (auto id = find_vip_id(vip_name)) return *id;
  throw std::out_of_range(fmt::format("no id for VIP {:?}", vip_name));
}

std::optional<uint32_t> LbRuntime::find_vip_id(const std::string& vip_name) const {
  auto it = vip_ids_.find(vip_name);
  if (it == vip_ids_.end()) return std::nullopt;
  return it->second;
}

uint32_t LbRuntime::backend_id(const std::string& backend) const {
  auto it = backend_ids_.find(backend);
  if (it == backend_ids_.end())
    throw std::out_of_range(fmt::format("no id for backend {}", backend));
  return it->second;
}

void LbRuntime::set_healthy(const std::string& vip, const std::string& backend, bool healthy) {
  if (healthy) unhealthy_.erase({vip, backend});
  else unhealthy_.insert({vip, backend});
}

bool LbRuntime::healthy(const std::string& vip, const std::string& backend) const {
  return !unhealthy_.contains({vip, backend});
}

void LbRuntime::set_drained(const std::string& vip, const std::string& backend, bool drained) {
  if (drained) drained_.insert({vip, backend});
  else drained_.erase({vip, backend});
}

bool LbRuntime::drained(const std::string& vip, const std::string& backend) const {
  return drained_.contains({vip, backend});
}

void LbRuntime::prune(const config::Config& cfg) {
  std::set<Pair> present;
  for (const auto& vip : cfg.lb.vips)
    for (const auto& be : vip.backends) present.insert({vip.name, be.id()});
  std::erase_if(unhealthy_, [&](const Pair& p) { return !present.contains(p); });
  std::erase_if(drained_, [&](const Pair& p) { return !present.contains(p); });
}

uint32_t LbRuntime::effective_weight(const config::Vip& vip, const config::Backend& be) const {
  const std::string id = be.id();
  return healthy(vip.name, id) && !drained(vip.name, id) ? be.weight : 0;
}

size_t rebuild_ring(Datapath& dp, uint32_t gen, const config::Vip& vip, const LbRuntime& rt) {
  std::vector<lb::Backend> pool;
  pool.reserve(vip.backends.size());
  size_t usable = 0;
  for (const auto& be : vip.backends) {
    pool.push_back({.id = be.id(), .weight = rt.effective_weight(vip, be)});
    if (pool.back().weight > 0) ++usable;
  }
  const uint32_t slot = ring_slot(rt.vip_id(vip.name), gen);
  std::vector<uint32_t> table = lb::build_maglev_table(pool, vip.table_size);
  if (table.empty()) {
    dp.remove_ring(slot);
    return 0;
  }
  // Maglev speaks positions in `pool`; the datapath speaks backend ids.
  std::vector<uint32_t> ids(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) ids[i] = rt.backend_id(pool[i].id);
  for (uint32_t& entry : table) entry = ids[entry];
  dp.install_ring(slot, table);
  return usable;
}

namespace {
uint8_t synproxy_flags(config::SynproxyMode mode) {
  switch (mode) {
    case config::SynproxyMode::kOff: return 0;
    case config::SynproxyMode::kOn: return XDPGW_VIP_F_SYNPROXY_ON;
    case config::SynproxyMode::kAuto: return XDPGW_VIP_F_SYNPROXY_AUTO;
  }
  return 0;
}
}  // namespace

void fill_lb(Datapath& dp, const ConfigTables& t, uint32_t gen, const config::Config& cfg,
             const LbRuntime& rt) {
  xdpgw_lb_settings settings{};
  if (cfg.lb.tunnel_source_v4) std::memcpy(settings.tunnel_src4, cfg.lb.tunnel_source_v4->bytes.data(), 4);
  if (cfg.lb.tunnel_source_v6) std::memcpy(settings.tunnel_src6, cfg.lb.tunnel_source_v6->bytes.data(), 16);
  settings.udp_new_flows = cfg.lb.udp_new_flows_per_prefix;
  settings.synproxy_mss4 = cfg.lb.synproxy_mss4;
  settings.synproxy_mss6 = cfg.lb.synproxy_mss6;
  settings.synproxy_wscale = cfg.lb.synproxy_wscale;
  const uint32_t zero = 0;
  update(t.lb.get(), &zero, &settings, "lb settings");

  for (const auto& vip : cfg.lb.vips) {
    for (const auto& be : vip.backends) {
      const uint32_t id = rt.backend_id(be.id());
      const xdpgw_backend value = backend_value(be);
      update(t.backends.get(), &id, &value, fmt::format("backends[{}]", be.id()));
    }
    const uint32_t vip_id = rt.vip_id(vip.name);
    rebuild_ring(dp, gen, vip, rt);
    // A proxy VIP's connections end in the kernel stack (the daemon's
    // listener): XDP must not know it, so its packets go on to the router,
    // which passes them to the kernel as the gateway's own address. Its id,
    // backends and (unused) ring stay, so ids and stats behave as for the
    // other modes.
    if (vip.mode == config::LbMode::kProxy) continue;
    const xdpgw_vip_key key = vip_key(vip);
    const xdpgw_vip value{.vip_id = vip_id,
                          .ring_slot = ring_slot(vip_id, gen),
                          .ring_size = vip.table_size,
                          .mode = static_cast<uint8_t>(vip.mode == config::LbMode::kDsr ? XDPGW_LB_DSR
                                                                                        : XDPGW_LB_NAT),
                          .flags = synproxy_flags(vip.synproxy.mode),
                          .reserved = 0,
                          .syn_rate_limit = vip.syn_rate_limit};
    update(t.vips.get(), &key, &value, fmt::format("vips[{}]", vip.name));
  }
}

void remove_stale_rings(Datapath& dp, const config::Config& cfg, const LbRuntime& rt) {
  std::set<uint32_t> in_use;
  for (const auto& vip : cfg.lb.vips) in_use.insert(rt.vip_id(vip.name));
  for (uint32_t id = 0; id < XDPGW_MAX_VIPS; ++id) {
    if (in_use.contains(id)) continue;
    for (uint32_t gen = 0; gen < XDPGW_CONFIG_GENERATIONS; ++gen) {
      try {
        dp.remove_ring(ring_slot(id, gen));
      } catch (const std::exception& e) {
        spdlog::warn("{}", e.what());
      }
    }
  }
}

}  // namespace xdpgw
