// rtnetlink messages (RTM_*ROUTE, RTM_*NEIGH, RTM_*RULE) read into the
// route mirror's model (kernel_routes.hpp), and a full dump of the kernel's
// routes, neighbours and rules into a fresh model. Only what the mirror
// keeps: the main, local and default tables, no route-cache entries, no
// proxy, multicast or broadcast neighbours.
#pragma once

#include <optional>

#include "routing/kernel_routes.hpp"

struct nlmsghdr;

namespace xdpgw::routing {

// nullopt for a route the mirror does not keep.
std::optional<KernelRoute> parse_route(const ::nlmsghdr* nlh);

struct ParsedNeigh {
  NeighKey key;
  NeighState state;
};
// nullopt for a neighbour entry the mirror does not keep.
std::optional<ParsedNeigh> parse_neigh(const ::nlmsghdr* nlh);

// A rule and whether it is one of the kernel's default set ("0: lookup
// local", "32766: lookup main", for IPv4 "32767: lookup default", with no
// selector).
struct RuleInfo {
  uint8_t family = 0;
  bool is_default = false;
};
std::optional<RuleInfo> parse_rule(const ::nlmsghdr* nlh);

// Routes (both families), neighbours and rules, dumped on a fresh socket.
// Throws std::system_error on netlink failures.
KernelRoutes dump_kernel();

}  // namespace xdpgw::routing
