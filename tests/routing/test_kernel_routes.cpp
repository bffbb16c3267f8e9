// The route mirror's decisions (routing/kernel_routes.hpp) for kernel states
// built by hand: what each prefix's trie entry says, and which prefixes an
// event marks for rewriting. The e2e test (tests/e2e/test_kernel_routes_e2e)
// checks the same against a real kernel; these pin down the corner cases.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <string>

#include "routing/kernel_routes.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::routing {
namespace {

Addr addr(const std::string& text) {
  Addr a{};
  inet_pton(text.find(':') == std::string::npos ? AF_INET : AF_INET6, text.c_str(), a.data());
  return a;
}

uint8_t family_of(const std::string& text) {
  return text.find(':') == std::string::npos ? AF_INET : AF_INET6;
}

Prefix prefix(const std::string& text) {
  const auto slash = text.find('/');
  const std::string a = text.substr(0, slash);
  return Prefix::make(family_of(a), addr(a), uint8_t(std::stoi(text.substr(slash + 1))));
}

KernelRoute via(const std::string& dst, const std::string& gw, uint32_t oif,
                uint32_t table = RT_TABLE_MAIN) {
  return KernelRoute{.dst = prefix(dst), .table = table, .type = RTN_UNICAST, .oif = oif,
                     .gateway = addr(gw)};
}

KernelRoute onlink(const std::string& dst, uint32_t oif) {
  return KernelRoute{.dst = prefix(dst), .table = RT_TABLE_MAIN, .type = RTN_UNICAST, .oif = oif};
}

NeighKey neigh(const std::string& a, uint32_t ifindex) {
  return NeighKey{.family = family_of(a), .addr = addr(a), .ifindex = ifindex};
}

constexpr NeighState kUsable{.mac = {2, 0, 0, 0, 0, 1}, .usable = true};

TEST(KernelRoutes, RouteViaAGatewayNamesItsNexthop) {
  KernelRoutes k;
  k.add_route(via("198.19.0.0/16", "198.18.1.10", 2), false);
  EXPECT_EQ(k.decide(prefix("198.19.0.0/16")), Entry{.nexthop = neigh("198.18.1.10", 2)});
  EXPECT_EQ(k.take_dirty(), std::set<Prefix>{prefix("198.19.0.0/16")});
}

TEST(KernelRoutes, LowestMetricWinsAndReplaceTakesTheSlot) {
  KernelRoutes k;
  auto a = via("198.19.0.0/16", "198.18.1.10", 2);
  a.priority = 100;
  auto b = via("198.19.0.0/16", "198.18.1.11", 2);
  b.priority = 50;
  k.add_route(a, false);
  k.add_route(b, false);
  EXPECT_EQ(k.decide(prefix("198.19.0.0/16"))->nexthop, neigh("198.18.1.11", 2));
  auto c = via("198.19.0.0/16", "198.18.1.12", 2);
  c.priority = 50;
  k.add_route(c, /*replace=*/true);
  EXPECT_EQ(k.decide(prefix("198.19.0.0/16"))->nexthop, neigh("198.18.1.12", 2));
  EXPECT_FALSE(k.remove_route(c));
  EXPECT_EQ(k.decide(prefix("198.19.0.0/16"))->nexthop, neigh("198.18.1.10", 2));
  EXPECT_EQ(k.route_count(), 1u);
}

TEST(KernelRoutes, OnLinkPrefixPassesAndNeighboursGetHostEntries) {
  KernelRoutes k;
  k.add_route(onlink("198.18.1.0/24", 2), false);
  EXPECT_EQ(k.decide(prefix("198.18.1.0/24")), Entry{.pass_reason = XDPGW_R_PASS_NO_NEIGH});
  k.take_dirty();
  k.set_neighbour(neigh("198.18.1.7", 2), kUsable);
  EXPECT_EQ(k.take_dirty(), std::set<Prefix>{prefix("198.18.1.7/32")});
  EXPECT_EQ(k.decide(prefix("198.18.1.7/32")), Entry{.nexthop = neigh("198.18.1.7", 2)});
  // A neighbour on another device than the route's: not this route's host.
  k.set_neighbour(neigh("198.18.1.8", 3), kUsable);
  EXPECT_EQ(k.decide(prefix("198.18.1.8/32")), std::nullopt);
  // Unusable (failed, incomplete): no entry; the /24 sends it to the kernel.
  k.set_neighbour(neigh("198.18.1.7", 2), NeighState{});
  EXPECT_EQ(k.decide(prefix("198.18.1.7/32")), std::nullopt);
}

TEST(KernelRoutes, AMoreSpecificRouteShadowsTheHostEntry) {
  KernelRoutes k;
  k.add_route(onlink("198.18.1.0/24", 2), false);
  k.set_neighbour(neigh("198.18.1.7", 2), kUsable);
  k.take_dirty();
  // The kernel now sends 198.18.1.0/28 via a gateway: so must XDP, even for
  // the known neighbour inside it.
  k.add_route(via("198.18.1.0/28", "198.18.1.20", 2), false);
  const auto dirty = k.take_dirty();
  EXPECT_TRUE(dirty.contains(prefix("198.18.1.7/32"))) << "the host entry is recomputed";
  EXPECT_EQ(k.decide(prefix("198.18.1.7/32")), std::nullopt);
}

TEST(KernelRoutes, LocalTableComesFirst) {
  KernelRoutes k;
  k.add_route(via("198.18.5.0/24", "198.18.1.10", 2), false);
  KernelRoute anyip{.dst = prefix("198.18.5.0/26"), .table = RT_TABLE_LOCAL, .type = RTN_LOCAL};
  KernelRoute bcast{.dst = prefix("198.18.1.255/32"), .table = RT_TABLE_LOCAL, .type = RTN_BROADCAST};
  k.add_route(via("198.18.5.0/27", "198.18.1.11", 2), false);
  k.take_dirty();
  k.add_route(anyip, false);
  k.add_route(bcast, false);
  const auto dirty = k.take_dirty();
  EXPECT_TRUE(dirty.contains(prefix("198.18.5.0/27"))) << "a main route inside the local one";
  EXPECT_EQ(k.decide(prefix("198.18.5.0/27")), Entry{.pass_reason = XDPGW_R_PASS_LOCAL_DEST});
  EXPECT_EQ(k.decide(prefix("198.18.5.0/26")), Entry{.pass_reason = XDPGW_R_PASS_LOCAL_DEST});
  EXPECT_EQ(k.decide(prefix("198.18.5.0/24"))->nexthop, neigh("198.18.1.10", 2));
  EXPECT_EQ(k.decide(prefix("198.18.1.255/32")), Entry{.pass_reason = XDPGW_R_PASS_MULTICAST});
}

TEST(KernelRoutes, RejectRoutesPassAndMultipathAsksTheFib) {
  KernelRoutes k;
  for (uint8_t type : {RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT}) {
    KernelRoute r{.dst = prefix("198.19.1.0/24"), .table = RT_TABLE_MAIN, .type = type};
    k.add_route(r, true);
    EXPECT_EQ(k.decide(prefix("198.19.1.0/24")), Entry{.pass_reason = XDPGW_R_PASS_NO_ROUTE});
    k.remove_route(r);
  }
  auto mp = via("2001:2:0:8000::/64", "2001:2:0:1::10", 2);
  mp.multipath = true;
  k.add_route(mp, false);
  EXPECT_EQ(k.decide(prefix("2001:2:0:8000::/64")), Entry{.ask_fib = true});
  // IPv6 "append": a second route in the same slot is a sibling.
  k.add_route(via("2001:2:0:8001::/64", "2001:2:0:1::10", 2), false);
  k.add_route(via("2001:2:0:8001::/64", "2001:2:0:2::10", 3), false);
  EXPECT_EQ(k.decide(prefix("2001:2:0:8001::/64")), Entry{.ask_fib = true});
  // One sibling deleted: what remains needs a dump; the FIB stays exact.
  EXPECT_TRUE(k.remove_route(via("2001:2:0:8001::/64", "2001:2:0:2::10", 3)));
  EXPECT_EQ(k.decide(prefix("2001:2:0:8001::/64")), Entry{.ask_fib = true});
}

TEST(KernelRoutes, PolicyRulesLeaveOnlyTheFib) {
  KernelRoutes k;
  k.add_route(via("198.19.0.0/16", "198.18.1.10", 2), false);
  k.add_route(via("2001:2:0:8000::/49", "2001:2:0:1::10", 2), false);
  k.take_dirty();
  k.set_foreign_rules(AF_INET, true);
  EXPECT_TRUE(k.policy_mode(AF_INET));
  EXPECT_FALSE(k.policy_mode(AF_INET6));
  const auto dirty = k.take_dirty();
  EXPECT_TRUE(dirty.contains(prefix("0.0.0.0/0")));
  EXPECT_EQ(k.decide(prefix("0.0.0.0/0")), Entry{.ask_fib = true});
  EXPECT_EQ(k.decide(prefix("198.19.0.0/16")), std::nullopt);
  EXPECT_EQ(k.decide(prefix("2001:2:0:8000::/49"))->nexthop, neigh("2001:2:0:1::10", 2));
  k.set_foreign_rules(AF_INET, false);
  EXPECT_EQ(k.decide(prefix("0.0.0.0/0")), std::nullopt);
  // Routes in the default table (rule 32767) are policy too.
  k.add_route(via("0.0.0.0/0", "198.18.1.10", 2, RT_TABLE_DEFAULT), false);
  EXPECT_TRUE(k.policy_mode(AF_INET));
}

}  // namespace
}  // namespace xdpgw::routing
