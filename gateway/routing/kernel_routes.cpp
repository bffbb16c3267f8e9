#include "routing/kernel_routes.hpp"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "xdpgw/shared.h"

namespace xdpgw::routing {
namespace {

uint8_t max_len_of(uint8_t family) { return family == AF_INET ? 32 : 128; }

Addr mask(const Addr& a, uint8_t len) {
  Addr out{};
  for (uint8_t i = 0; i < 16; ++i) {
    const int bits = std::clamp(int(len) - i * 8, 0, 8);
    out[i] = static_cast<uint8_t>(a[i] & (0xff00 >> bits));
  }
  return out;
}

// The last address of `p` (all host bits set), for range scans of maps
// ordered by address.
Addr last_of(const Prefix& p) {
  Addr out = p.addr;
  const uint8_t bytes = p.family == AF_INET ? 4 : 16;
  for (uint8_t i = 0; i < bytes; ++i) {
    const int bits = std::clamp(int(p.len) - i * 8, 0, 8);
    out[i] = static_cast<uint8_t>(out[i] | (0xff >> bits));
  }
  return out;
}

int table_kind(uint32_t table) {
  switch (table) {
    case RT_TABLE_MAIN: return 0;
    case RT_TABLE_LOCAL: return 1;
    default: return 2;  // RT_TABLE_DEFAULT
  }
}

std::string addr_string(uint8_t family, const Addr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, a.data(), buf, sizeof(buf));
  return buf;
}

}  // namespace

Prefix Prefix::make(uint8_t family, const Addr& addr, uint8_t len) {
  return Prefix{.family = family, .addr = mask(addr, len), .len = len};
}

Prefix Prefix::host(uint8_t family, const Addr& addr) {
  return make(family, addr, max_len_of(family));
}

bool Prefix::contains(const Prefix& o) const {
  return family == o.family && len <= o.len && mask(o.addr, len) == addr;
}

std::string Prefix::to_string() const { return fmt::format("{}/{}", addr_string(family, addr), len); }

std::string NeighKey::to_string() const {
  return fmt::format("{} ifindex {}", addr_string(family, addr), ifindex);
}

// ---- input ----------------------------------------------------------------

void KernelRoutes::count_length(const KernelRoute& r, int delta) {
  auto& n = lengths_[family_index(r.dst.family)][table_kind(r.table)][r.dst.len];
  n = static_cast<uint32_t>(int64_t(n) + delta);
  route_count_ = static_cast<size_t>(int64_t(route_count_) + delta);
}

void KernelRoutes::add_route(const KernelRoute& r, bool replace) {
  auto& list = routes_[r.dst];
  auto slot = std::find_if(list.begin(), list.end(), [&](const auto& o) { return o.same_slot(r); });
  if (slot == list.end()) {
    list.push_back(r);
    count_length(r, +1);
  } else if (replace) {
    *slot = r;
  } else if (*slot == r) {
    return;  // seen already (an event replayed after a dump)
  } else if (r.dst.family == AF_INET6) {
    // IPv6 "append": a sibling in the same slot makes it multipath.
    slot->multipath = true;
  } else {
    // IPv4 "append": an alias behind the first; the first one is used.
    if (std::find(list.begin(), list.end(), r) != list.end()) return;
    list.push_back(r);
    count_length(r, +1);
  }
  mark_route_change(r.dst, r.table);
}

bool KernelRoutes::remove_route(const KernelRoute& r) {
  auto it = routes_.find(r.dst);
  if (it == routes_.end()) return false;
  auto& list = it->second;
  bool sibling_only = false;
  auto match = std::find_if(list.begin(), list.end(), [&](const auto& o) {
    return o.same_slot(r) && o.type == r.type && o.oif == r.oif && o.gateway == r.gateway;
  });
  if (match == list.end())
    match = std::find_if(list.begin(), list.end(), [&](const auto& o) { return o.same_slot(r); });
  if (match == list.end()) return false;
  if (match->multipath && !r.multipath && r.dst.family == AF_INET6) {
    // One IPv6 sibling went; the others stay (and keep asking the FIB).
    sibling_only = true;
  } else {
    count_length(*match, -1);
    list.erase(match);
    if (list.empty()) routes_.erase(it);
  }
  mark_route_change(r.dst, r.table);
  return sibling_only;
}

void KernelRoutes::set_neighbour(const NeighKey& k, const NeighState& s) {
  auto [it, fresh] = neigh_.try_emplace(k, s);
  if (!fresh) {
    if (it->second == s) return;
    it->second = s;
  }
  dirty_.insert(Prefix::host(k.family, k.addr));
}

void KernelRoutes::remove_neighbour(const NeighKey& k) {
  if (neigh_.erase(k) > 0) dirty_.insert(Prefix::host(k.family, k.addr));
}

void KernelRoutes::set_foreign_rules(uint8_t family, bool present) {
  bool& cur = foreign_rules_[family_index(family)];
  if (cur == present) return;
  cur = present;
  mark_everything();
}

void KernelRoutes::mark_route_change(const Prefix& p, uint32_t table) {
  if (table_kind(table) == 2) {
    // The default table only matters as "policy mode or not".
    mark_everything();
    return;
  }
  dirty_.insert(p);
  // Host entries inside the prefix depend on the longest match there.
  const NeighKey lo{.family = p.family, .addr = p.addr, .ifindex = 0};
  const NeighKey hi{.family = p.family, .addr = last_of(p), .ifindex = UINT32_MAX};
  for (auto it = neigh_.lower_bound(lo); it != neigh_.end() && !(hi < it->first); ++it)
    dirty_.insert(Prefix::host(p.family, it->first.addr));
  // A local route decides every prefix inside it (rule 0 comes first).
  if (table_kind(table) == 1) {
    const Prefix from{.family = p.family, .addr = p.addr, .len = 0};
    for (auto it = routes_.lower_bound(from); it != routes_.end(); ++it) {
      if (it->first.family != p.family || last_of(p) < it->first.addr) break;
      if (p.contains(it->first)) dirty_.insert(it->first);
    }
  }
}

void KernelRoutes::mark_everything() {
  for (const Prefix& p : candidates()) dirty_.insert(p);
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
    dirty_.insert(Prefix{.family = family, .addr = {}, .len = 0});
}

std::set<Prefix> KernelRoutes::take_dirty() { return std::exchange(dirty_, {}); }

// ---- output ---------------------------------------------------------------

bool KernelRoutes::policy_mode(uint8_t family) const {
  const int fam = family_index(family);
  if (foreign_rules_[fam]) return true;
  // IPv4's rule 32767 looks up the default table after main.
  const auto& defaults = lengths_[fam][2];
  return std::any_of(defaults.begin(), defaults.end(), [](uint32_t n) { return n > 0; });
}

std::string KernelRoutes::policy_reason(uint8_t family) const {
  if (foreign_rules_[family_index(family)]) return "`ip rule` has rules beyond local/main/default";
  if (policy_mode(family)) return "the default routing table (253) has routes";
  return {};
}

std::optional<NeighState> KernelRoutes::neighbour(const NeighKey& k) const {
  auto it = neigh_.find(k);
  if (it == neigh_.end()) return std::nullopt;
  return it->second;
}

const KernelRoute* KernelRoutes::best_in(const Prefix& p, uint32_t table) const {
  auto it = routes_.find(p);
  if (it == routes_.end()) return nullptr;
  const KernelRoute* best = nullptr;
  for (const auto& r : it->second)
    if (r.table == table && (best == nullptr || r.priority < best->priority)) best = &r;
  return best;
}

const KernelRoute* KernelRoutes::cover(const Prefix& p, uint32_t table) const {
  const auto& lengths = lengths_[family_index(p.family)][table_kind(table)];
  for (int len = p.len; len >= 0; --len) {
    if (lengths[len] == 0) continue;
    if (const auto* r = best_in(Prefix::make(p.family, p.addr, uint8_t(len)), table)) return r;
  }
  return nullptr;
}

std::optional<Entry> KernelRoutes::route_entry(const KernelRoute& r, const Prefix& p) const {
  switch (r.type) {
    case RTN_UNICAST: break;
    case RTN_LOCAL:
    case RTN_ANYCAST: return Entry{.pass_reason = XDPGW_R_PASS_LOCAL_DEST};
    case RTN_BROADCAST:
    case RTN_MULTICAST: return Entry{.pass_reason = XDPGW_R_PASS_MULTICAST};
    case RTN_BLACKHOLE:
    case RTN_UNREACHABLE:
    case RTN_PROHIBIT:
    case RTN_THROW: return Entry{.pass_reason = XDPGW_R_PASS_NO_ROUTE};
    default: return Entry{.pass_reason = XDPGW_R_PASS_FIB_OTHER};
  }
  // A route the trie cannot express exactly: the FIB decides, as the kernel
  // would (its multipath hash, its TOS and source selectors).
  const auto here = routes_.find(p);
  const bool tos_specific =
      here != routes_.end() && std::any_of(here->second.begin(), here->second.end(),
                                           [](const auto& o) { return o.tos != 0; });
  if (r.multipath || r.nh_object || r.foreign_gateway || r.src_len != 0 || tos_specific)
    return Entry{.ask_fib = true};
  if (r.gateway)
    return Entry{.nexthop = NeighKey{.family = p.family, .addr = *r.gateway, .ifindex = r.oif}};
  if (p.len == p.max_len())
    return Entry{.nexthop = NeighKey{.family = p.family, .addr = p.addr, .ifindex = r.oif}};
  // On-link prefix: the next hop is each destination itself (host entries).
  return Entry{.pass_reason = XDPGW_R_PASS_NO_NEIGH};
}

std::optional<Entry> KernelRoutes::host_entry(const Prefix& p) const {
  const KernelRoute* r = cover(p, RT_TABLE_MAIN);
  if (r == nullptr || r->type != RTN_UNICAST || r->gateway || r->multipath || r->nh_object ||
      r->foreign_gateway || r->src_len != 0)
    return std::nullopt;
  const auto entry = route_entry(*r, r->dst);
  if (!entry || entry->ask_fib) return std::nullopt;
  const NeighKey key{.family = p.family, .addr = p.addr, .ifindex = r->oif};
  const auto n = neigh_.find(key);
  if (n == neigh_.end() || !n->second.usable) return std::nullopt;
  return Entry{.nexthop = key};
}

std::optional<Entry> KernelRoutes::decide(const Prefix& p) const {
  if (policy_mode(p.family))
    return p.len == 0 ? std::optional<Entry>(Entry{.ask_fib = true}) : std::nullopt;
  if (const KernelRoute* local = cover(p, RT_TABLE_LOCAL)) {
    const bool broadcast = local->type == RTN_BROADCAST || local->type == RTN_MULTICAST;
    return Entry{.pass_reason = uint16_t(broadcast ? XDPGW_R_PASS_MULTICAST
                                                   : XDPGW_R_PASS_LOCAL_DEST)};
  }
  if (const KernelRoute* r = best_in(p, RT_TABLE_MAIN)) return route_entry(*r, p);
  if (p.len == p.max_len()) return host_entry(p);
  return std::nullopt;
}

std::vector<Prefix> KernelRoutes::candidates() const {
  std::vector<Prefix> out;
  out.reserve(routes_.size() + neigh_.size() + 2);
  for (const auto& [p, list] : routes_) out.push_back(p);
  for (const auto& [k, s] : neigh_) out.push_back(Prefix::host(k.family, k.addr));
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
    if (policy_mode(family)) out.push_back(Prefix{.family = family, .addr = {}, .len = 0});
  return out;
}

}  // namespace xdpgw::routing
