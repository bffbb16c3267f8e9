// The kernel's routing state as the route mirror sees it (routes of the main,
// local and default tables, the neighbour table, whether `ip rule` holds more
// than the defaults), and the one function that turns it into what XDP's
// kernel-route tries hold: decide(prefix). Pure: fed from rtnetlink messages
// by route_mirror.cpp, testable without a kernel.
//
// What the tries hold, prefix by prefix (decide()):
//  - a prefix covered by a local-table route (local, broadcast, anycast):
//    pass to the kernel, as rule 0 (`lookup local`) sends it there first;
//  - the best main-table route (lowest metric) at the prefix:
//      unicast via a gateway      -> nexthop (gateway, device);
//      unicast on-link, host len  -> nexthop (the destination, device);
//      unicast on-link, shorter   -> pass (no neighbour): the next hop is the
//                                    destination itself, different for each
//                                    address; see the host entries below;
//      multipath, nexthop object, TOS-specific, source-specific, RFC 5549
//                                 -> ask bpf_fib_lookup (the kernel's hash
//                                    and selectors decide, exactly);
//      blackhole, unreachable, prohibit, throw -> pass (no route): the
//                                    kernel answers with its ICMP error;
//  - host entries (/32, /128) for every usable neighbour whose address the
//    kernel routes on-link through the neighbour's own device: what makes
//    on-link prefixes forwardable in XDP. Other on-link destinations go to
//    the kernel, which resolves them; the neighbour event that follows adds
//    their entry;
//  - with policy rules (anything in `ip rule` beyond local/main/default) or
//    routes in the default table, a family holds only /0 = ask the FIB: the
//    mirror cannot be exact there, bpf_fib_lookup is.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace xdpgw::routing {

using Addr = std::array<uint8_t, 16>;  // network order; IPv4 in the first 4 bytes

// family: AF_INET or AF_INET6. Host bits beyond len are zero.
struct Prefix {
  uint8_t family = 0;
  Addr addr{};
  uint8_t len = 0;

  static Prefix make(uint8_t family, const Addr& addr, uint8_t len);  // masks host bits
  static Prefix host(uint8_t family, const Addr& addr);
  uint8_t max_len() const { return family == 2 /* AF_INET */ ? 32 : 128; }
  bool contains(const Prefix& other) const;
  std::string to_string() const;
  auto operator<=>(const Prefix&) const = default;
};

// A neighbour (ARP/NDP entry), and a nexthop: an address on a device.
struct NeighKey {
  uint8_t family = 0;
  Addr addr{};
  uint32_t ifindex = 0;
  std::string to_string() const;
  auto operator<=>(const NeighKey&) const = default;
};

using Mac = std::array<uint8_t, 6>;

// One route as rtnetlink describes it (RTM_NEWROUTE / RTM_DELROUTE).
struct KernelRoute {
  Prefix dst;
  uint32_t table = 0;     // RT_TABLE_MAIN, _LOCAL or _DEFAULT (others are not kept)
  uint8_t type = 0;       // RTN_*
  uint8_t tos = 0;
  uint8_t src_len = 0;    // source-specific route (IPv6 "from")
  uint32_t priority = 0;  // metric
  uint32_t oif = 0;
  std::optional<Addr> gateway;  // RTA_GATEWAY, same family as dst
  bool multipath = false;       // RTA_MULTIPATH, or IPv6 siblings appended
  bool nh_object = false;       // RTA_NH_ID
  bool foreign_gateway = false; // RTA_VIA (IPv4 route via an IPv6 gateway)
  bool operator==(const KernelRoute&) const = default;
  // The kernel's identity of a route within its prefix: what replace and
  // delete match on.
  bool same_slot(const KernelRoute& o) const {
    return table == o.table && tos == o.tos && priority == o.priority && src_len == o.src_len;
  }
};

// What one trie entry says, with the nexthop named by key (the mirror maps
// keys to kr_nexthops ids).
struct Entry {
  uint16_t pass_reason = 0;  // enum xdpgw_reason; 0 = forward
  bool ask_fib = false;
  std::optional<NeighKey> nexthop;
  bool operator==(const Entry&) const = default;
};

struct NeighState {
  Mac mac{};
  bool usable = false;  // reachable, stale, delay, probe, permanent, noarp, with a MAC
  bool operator==(const NeighState&) const = default;
};

class KernelRoutes {
 public:
  // ---- input (each marks the prefixes whose decision may change) ----
  // RTM_NEWROUTE. `replace`: NLM_F_REPLACE was set.
  void add_route(const KernelRoute& r, bool replace);
  // RTM_DELROUTE. True when it removed one sibling of an IPv6 multipath
  // route: what remains is unknown without a dump (the entry keeps asking
  // the FIB meanwhile, which is exact).
  bool remove_route(const KernelRoute& r);
  void set_neighbour(const NeighKey& k, const NeighState& s);
  void remove_neighbour(const NeighKey& k);
  // Whether `ip rule` holds rules beyond the defaults, per family.
  void set_foreign_rules(uint8_t family, bool present);

  // ---- output ----
  std::optional<Entry> decide(const Prefix& p) const;
  // Every prefix decide() may answer for.
  std::vector<Prefix> candidates() const;
  // Prefixes marked since the last call.
  std::set<Prefix> take_dirty();
  std::optional<NeighState> neighbour(const NeighKey& k) const;
  // Policy mode of a family (only /0 = ask the FIB), and why.
  bool policy_mode(uint8_t family) const;
  std::string policy_reason(uint8_t family) const;
  size_t route_count() const { return route_count_; }
  size_t neighbour_count() const { return neigh_.size(); }

 private:
  const KernelRoute* best_in(const Prefix& p, uint32_t table) const;
  // The most specific route of `table` containing `p` (itself included).
  const KernelRoute* cover(const Prefix& p, uint32_t table) const;
  std::optional<Entry> route_entry(const KernelRoute& r, const Prefix& p) const;
  std::optional<Entry> host_entry(const Prefix& p) const;
  void mark_route_change(const Prefix& p, uint32_t table);
  void mark_everything();
  void count_length(const KernelRoute& r, int delta);
  int family_index(uint8_t family) const { return family == 2 ? 0 : 1; }

  std::map<Prefix, std::vector<KernelRoute>> routes_;
  size_t route_count_ = 0;
  // Routes per prefix length, per family and table kind (0 main, 1 local,
  // 2 default): the lengths a longest-prefix search has to try.
  std::array<std::array<std::array<uint32_t, 129>, 3>, 2> lengths_{};
  std::map<NeighKey, NeighState> neigh_;
  std::array<bool, 2> foreign_rules_{};
  std::set<Prefix> dirty_;
};

}  // namespace xdpgw::routing
