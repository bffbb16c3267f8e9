#include "datapath/apply.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/socket.h>

#include <cstring>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "datapath/netdev.hpp"

namespace xdpgw {
namespace {

void update(int fd, const void* key, const void* value, std::string_view what) {
  check_errno(bpf_map_update_elem(fd, key, value, BPF_ANY), what);
}

int family_of(config::IpFamily f) {
  return f == config::IpFamily::kV4 ? AF_INET : AF_INET6;
}

void apply_ports(Datapath& dp, const config::Config& cfg) {
  for (const auto& p : cfg.ports) {
    netdev::Interface dev = netdev::describe(p.name);
    xdpgw_port port{};
    port.ifindex = dev.ifindex;
    port.mtu = dev.mtu;
    std::memcpy(port.mac, dev.mac.data(), 6);
    port.flags = dev.up ? XDPGW_PORT_F_UP : 0;
    update(dp.ports_fd(), &dev.ifindex, &port, fmt::format("ports[{}]", p.name));

    bpf_devmap_val tx{};
    tx.ifindex = dev.ifindex;
    update(dp.tx_ports_fd(), &dev.ifindex, &tx, fmt::format("tx_ports[{}]", p.name));
  }
}

void apply_local_addresses(Datapath& dp) {
  uint8_t one = 1;
  for (const auto& a : netdev::local_addresses()) {
    xdpgw_addr_key key{};
    key.family = static_cast<uint32_t>(a.family);
    std::memcpy(key.addr, a.addr.data(), 16);
    update(dp.local_addrs_fd(), &key, &one, "local_addrs");
  }
}

AppliedState apply_static_routes(Datapath& dp, const config::Config& cfg) {
  AppliedState state;
  // One nexthop entry per distinct (via, port), shared by the routes using it.
  std::map<std::pair<config::IpAddr, uint32_t>, uint32_t> ids;
  for (const auto& r : cfg.routing.routes) {
    auto [it, fresh] = ids.try_emplace({r.via, r.ifindex},
                                       static_cast<uint32_t>(ids.size()));
    uint32_t id = it->second;
    if (fresh) {
      NexthopBinding nh;
      nh.id = id;
      nh.neighbour.family = family_of(r.via.family);
      nh.neighbour.addr = r.via.bytes;
      nh.neighbour.ifindex = r.ifindex;
      state.nexthops.push_back(nh);
      xdpgw_nexthop unresolved{};
      unresolved.ifindex = r.ifindex;
      update(dp.nexthops_fd(), &id, &unresolved, "nexthops");
    }
    xdpgw_route value{.nexthop_id = id};
    if (r.prefix.addr.family == config::IpFamily::kV4) {
      xdpgw_lpm_v4_key key{};
      key.prefixlen = r.prefix.length;
      std::memcpy(&key.addr, r.prefix.addr.bytes.data(), 4);
      update(dp.routes_v4_fd(), &key, &value, fmt::format("routes_v4[{}]", r.prefix.to_string()));
    } else {
      xdpgw_lpm_v6_key key{};
      key.prefixlen = r.prefix.length;
      std::memcpy(key.addr, r.prefix.addr.bytes.data(), 16);
      update(dp.routes_v6_fd(), &key, &value, fmt::format("routes_v6[{}]", r.prefix.to_string()));
    }
  }
  return state;
}

void apply_steering(Datapath& dp, const config::Config& cfg) {
  uint32_t idx = 0;
  for (uint32_t cpu : cfg.steering.cpus) {
    bpf_cpumap_val val{};
    val.qsize = cfg.steering.queue_size;
    val.bpf_prog.fd = dp.cpu_stage_fd();
    update(dp.cpu_map_fd(), &cpu, &val, fmt::format("cpu_map[{}]", cpu));
    update(dp.cpu_targets_fd(), &idx, &cpu, "cpu_targets");
    ++idx;
  }
}

uint32_t to_route_source(config::RouteSource s) {
  switch (s) {
    case config::RouteSource::kFib: return XDPGW_ROUTE_FIB;
    case config::RouteSource::kStatic: return XDPGW_ROUTE_STATIC;
    case config::RouteSource::kNone: return XDPGW_ROUTE_NONE;
  }
  return XDPGW_ROUTE_NONE;
}

}  // namespace

AppliedState apply(Datapath& dp, const config::Config& cfg) {
  apply_ports(dp, cfg);
  apply_local_addresses(dp);
  AppliedState state = apply_static_routes(dp, cfg);
  refresh_nexthops(dp, state);
  apply_steering(dp, cfg);
  // Settings last: the datapath starts routing only once everything it
  // routes with is in place.
  dp.write_settings(xdpgw_settings{
      .missed_tail_call_action = cfg.gateway.missed_tail_call ==
                                         config::MissedTailCall::kPass
                                     ? uint32_t(XDP_PASS)
                                     : uint32_t(XDP_DROP),
      .route_source = to_route_source(cfg.routing.source),
      .cpu_count = static_cast<uint32_t>(cfg.steering.cpus.size()),
      .reserved = 0});
  return state;
}

int refresh_nexthops(Datapath& dp, AppliedState& state) {
  int changed = 0;
  for (auto& nh : state.nexthops) {
    xdpgw_nexthop current{};
    check_errno(bpf_map_lookup_elem(dp.nexthops_fd(), &nh.id, &current),
                "read nexthops");
    auto mac = neigh::lookup(nh.neighbour);
    xdpgw_nexthop next = current;
    if (mac) {
      next.flags |= XDPGW_NH_F_RESOLVED;
      std::memcpy(next.dmac, mac->data(), 6);
      // The source MAC is the egress port's; the router takes it from the
      // ports map, this copy is for `xdpgw status`.
      xdpgw_port port{};
      if (bpf_map_lookup_elem(dp.ports_fd(), &nh.neighbour.ifindex, &port) == 0)
        std::memcpy(next.smac, port.mac, 6);
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
      update(dp.nexthops_fd(), &nh.id, &next, "nexthops");
      ++changed;
    }
  }
  return changed;
}

}  // namespace xdpgw
