// The router action through BPF_PROG_TEST_RUN: exact rewritten bytes for
// IPv4 and IPv6 with static routes and with the kernel FIB, and every case
// that must go to the kernel instead, each with its own counter.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "router_fixture.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test {
namespace {

TEST_F(RouterTest, StaticIpv4RewritesMacsTtlAndChecksum) {
  install_static_routes();
  auto in = from_a().ipv4(kV4).tcp({.sport = 40000, .dport = 80, .seq = 7}).payload(32).build();
  auto want_ip = kV4;
  want_ip.ttl = 63;
  auto want = to_b().ipv4(want_ip).tcp({.sport = 40000, .dport = 80, .seq = 7}).payload(32).build();
  expect_forwarded(run_on_port0(in), want);
}

TEST_F(RouterTest, StaticIpv4ChecksumCarryIsFolded) {
  // Decrementing TTL adds 0x0100 to the checksum; only a checksum of 0xFEFF
  // wraps past 0xFFFF and needs the end-around carry folded (RFC 1624) to
  // equal a from-scratch computation (0x0000 rather than 0xFFFF, which a
  // receiver would also accept, so compare bytes, not validity). Search the
  // IP id for such a header.
  install_static_routes();
  constexpr size_t kChecksumOffset = 14 + 10;
  auto frame_with = [](uint16_t id, uint8_t ttl, FrameBuilder b) {
    auto ip = kV4;
    ip.id = id;
    ip.ttl = ttl;
    return b.ipv4(ip).udp({.sport = 1, .dport = 2}).build();
  };
  std::optional<uint16_t> wrapping_id;
  for (uint32_t id = 0; id <= 0xFFFF && !wrapping_id; ++id) {
    auto f = frame_with(static_cast<uint16_t>(id), 64, from_a());
    if (f[kChecksumOffset] == 0xFE && f[kChecksumOffset + 1] == 0xFF)
      wrapping_id = static_cast<uint16_t>(id);
  }
  ASSERT_TRUE(wrapping_id) << "no IP id gives checksum 0xFEFF";
  auto want = frame_with(*wrapping_id, 63, to_b());
  ASSERT_EQ(want[kChecksumOffset], 0x00);
  expect_forwarded(run_on_port0(frame_with(*wrapping_id, 64, from_a())), want);
}

// xdpgw neither needs nor touches XDP metadata (some kernels and drivers
// refuse it): a frame that arrives with some (a reused buffer, an upstream
// program's) is forwarded in XDP like any other, its metadata left as it was.
TEST_F(RouterTest, ArrivingMetadataIsNeitherNeededNorTouched) {
  install_static_routes();
  auto in = from_a().ipv4(kV4).udp({.sport = 1, .dport = 2}).build();
  auto ns = gw_.enter();
  auto before = CounterSnapshot::take(*dp_);
  auto res = prog_test_run(dp_->dispatcher_fd(), in,
                           {.meta = std::vector<uint8_t>(20, 0xee),
                            .ingress_ifindex = static_cast<uint32_t>(port0_.ifindex_a())});
  auto delta = CounterDelta::between(before, CounterSnapshot::take(*dp_));
  EXPECT_EQ(action_name(res.action), "XDP_REDIRECT");
  EXPECT_EQ(delta.reasons, Reasons({{"fwd_redirect", 1}}));
  EXPECT_EQ(res.meta, std::vector<uint8_t>(20, 0xee));
}

TEST_F(RouterTest, StaticIpv6RewritesMacsAndHopLimit) {
  install_static_routes();
  auto in = from_a().ipv6(kV6).udp({.sport = 5353, .dport = 53}).payload(11).build();
  auto want_ip = kV6;
  want_ip.hop_limit = 63;
  auto want = to_b().ipv6(want_ip).udp({.sport = 5353, .dport = 53}).payload(11).build();
  expect_forwarded(run_on_port0(in), want);
}

TEST_F(RouterTest, StaticForwardsOtherProtocolsAndIcmp) {
  install_static_routes();
  auto gre = kV4;
  gre.protocol = 47;
  auto out = run_on_port0(from_a().ipv4(gre).payload(30).build());
  EXPECT_EQ(action_name(out.action), "XDP_REDIRECT");
  EXPECT_EQ(out.delta.handlers, Reasons({{"other", 1}}));
  auto echo = run_on_port0(from_a().ipv6(kV6).icmpv6_echo(9, 1).payload(16).build());
  EXPECT_EQ(action_name(echo.action), "XDP_REDIRECT");
  EXPECT_EQ(echo.delta.handlers, Reasons({{"icmpv6", 1}}));
}

TEST_F(RouterTest, FibIpv4AndIpv6UseTheKernelsRoutesAndNeighbours) {
  set_route_source(XDPGW_ROUTE_FIB);
  auto want_v4 = kV4;
  want_v4.ttl = 63;
  expect_forwarded(run_on_port0(from_a().ipv4(kV4).udp({.sport = 9, .dport = 10}).payload(5).build()),
                   to_b().ipv4(want_v4).udp({.sport = 9, .dport = 10}).payload(5).build());
  auto want_v6 = kV6;
  want_v6.hop_limit = 63;
  expect_forwarded(run_on_port0(from_a().ipv6(kV6).tcp({.sport = 9, .dport = 10}).build()),
                   to_b().ipv6(want_v6).tcp({.sport = 9, .dport = 10}).build());
}

TEST_F(RouterTest, FibWithoutNeighbourPassesToTheKernel) {
  set_route_source(XDPGW_ROUTE_FIB);
  auto ip = kV4;
  ip.dst = ipv4("198.18.2.77");  // on-link, never resolved
  auto frame = from_a().ipv4(ip).udp({}).build();
  auto out = run_on_port0(frame);
  EXPECT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_no_neigh", 1}}));
  EXPECT_EQ(out.data, frame);
}

TEST_F(RouterTest, FibWithForwardingOffPassesToTheKernel) {
  set_route_source(XDPGW_ROUTE_FIB);
  gw_.sysctl("net.ipv4.ip_forward", "0");
  auto out = run_on_port0(from_a().ipv4(kV4).udp({}).build());
  EXPECT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_fwd_disabled", 1}}));
}

TEST_F(RouterTest, FibNoRoutePassesToTheKernel) {
  set_route_source(XDPGW_ROUTE_FIB);
  auto ip = kV4;
  ip.dst = ipv4("198.19.200.1");  // no route in the gateway namespace
  auto out = run_on_port0(from_a().ipv4(ip).udp({}).build());
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_no_route", 1}}));
}

// The egress is checked by the redirect itself, before anything is
// rewritten: a route out of a device that is not (or no longer) a gateway
// port sends the packet to the kernel as it came, whatever the source.
TEST_F(RouterTest, AnEgressThatIsNotAPortPassesUnmodified) {
  install_static_routes();
  uint32_t ifindex = port1_.ifindex_a();
  {
    auto in = gw_.enter();
    ASSERT_EQ(bpf_map_delete_elem(dp_->tx_ports_fd(), &ifindex), 0);
  }
  for (uint32_t source : {XDPGW_ROUTE_STATIC, XDPGW_ROUTE_FIB}) {
    set_route_source(source);
    for (const auto& frame : {from_a().ipv4(kV4).udp({}).build(), from_a().ipv6(kV6).udp({}).build()}) {
      auto out = run_on_port0(frame);
      EXPECT_EQ(action_name(out.action), "XDP_PASS") << "source " << source;
      EXPECT_EQ(out.delta.reasons, Reasons({{"pass_egress_not_port", 1}})) << "source " << source;
      EXPECT_EQ(out.data, frame) << "source " << source << ": a passed frame was modified";
    }
  }
}

// The FIB does not forward to the gateway's own addresses; the local table
// names why, and only then is it read.
TEST_F(RouterTest, FibToALocalAddressPassesAsLocal) {
  set_route_source(XDPGW_ROUTE_FIB);
  add_local_address(AF_INET, ipv4("198.18.1.1"));
  add_local_address(AF_INET6, ipv6("2001:2:0:1::1"));
  auto ip = kV4;
  ip.dst = ipv4("198.18.1.1");
  auto ip6 = kV6;
  ip6.dst = ipv6("2001:2:0:1::1");
  for (const auto& frame : {from_a().ipv4(ip).udp({}).build(), from_a().ipv6(ip6).udp({}).build()}) {
    auto out = run_on_port0(frame);
    EXPECT_EQ(action_name(out.action), "XDP_PASS");
    EXPECT_EQ(out.delta.reasons, Reasons({{"pass_local_dest", 1}}));
  }
}

// Every case that must reach the kernel unmodified, with its own counter.
struct PassCase {
  std::string name;
  std::function<std::vector<uint8_t>()> frame;
  std::string reason;
  bool resolved = true;
};
// Test names and failure messages show the case name, not its bytes.
void PrintTo(const PassCase& c, std::ostream* os) { *os << c.name; }

class RouterPass : public RouterTest, public ::testing::WithParamInterface<PassCase> {};

TEST_P(RouterPass, GoesToTheKernelUnmodified) {
  const auto& c = GetParam();
  install_static_routes(c.resolved);
  add_local_address(AF_INET, ipv4("198.18.1.1"));
  add_local_address(AF_INET6, ipv6("2001:2:0:1::1"));
  auto frame = c.frame();
  auto out = run_on_port0(frame);
  EXPECT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_EQ(out.delta.reasons, Reasons({{c.reason, 1}}));
  EXPECT_EQ(out.data, frame) << "a passed frame was modified";
}

Ipv4Fields v4_with(std::function<void(Ipv4Fields&)> f) {
  auto ip = kV4;
  f(ip);
  return ip;
}
Ipv6Fields v6_with(std::function<void(Ipv6Fields&)> f) {
  auto ip = kV6;
  f(ip);
  return ip;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RouterPass,
    ::testing::Values(
        PassCase{"ipv4_ttl_1", [] { return from_a().ipv4(v4_with([](auto& i) { i.ttl = 1; })).udp({}).build(); }, "pass_ttl_exceeded"},
        PassCase{"ipv4_ttl_0", [] { return from_a().ipv4(v4_with([](auto& i) { i.ttl = 0; })).tcp({}).build(); }, "pass_ttl_exceeded"},
        PassCase{"ipv6_hop_limit_1", [] { return from_a().ipv6(v6_with([](auto& i) { i.hop_limit = 1; })).udp({}).build(); }, "pass_ttl_exceeded"},
        PassCase{"ipv4_to_gateway", [] { return from_a().ipv4(v4_with([](auto& i) { i.dst = ipv4("198.18.1.1"); })).icmp_echo(1, 1).build(); }, "pass_local_dest"},
        PassCase{"ipv6_to_gateway", [] { return from_a().ipv6(v6_with([](auto& i) { i.dst = ipv6("2001:2:0:1::1"); })).icmpv6_echo(1, 1).build(); }, "pass_local_dest"},
        PassCase{"ipv4_options", [] { return from_a().ipv4(v4_with([](auto& i) { i.options = {0x94, 4, 0, 0}; })).udp({}).build(); }, "pass_ipv4_options"},
        PassCase{"ipv4_fragment", [] { return from_a().ipv4(v4_with([](auto& i) { i.more_fragments = true; })).udp({}).payload(8).build(); }, "pass_ipv4_fragment"},
        PassCase{"ipv4_later_fragment", [] { return from_a().ipv4(v4_with([](auto& i) { i.frag_offset = 3; i.protocol = 17; })).payload(8).build(); }, "pass_ipv4_fragment"},
        PassCase{"ipv6_fragment", [] { return from_a().ipv6(kV6).fragment(0, true).tcp({}).build(); }, "pass_ipv6_fragment"},
        PassCase{"ipv6_hop_by_hop", [] { return from_a().ipv6(kV6).hop_by_hop().udp({}).build(); }, "pass_ipv6_hop_by_hop"},
        PassCase{"ipv4_multicast", [] { return from_a().ipv4(v4_with([](auto& i) { i.dst = ipv4("224.0.0.5"); })).udp({}).build(); }, "pass_multicast"},
        PassCase{"ipv4_broadcast", [] { return from_a().ipv4(v4_with([](auto& i) { i.dst = ipv4("255.255.255.255"); })).udp({}).build(); }, "pass_multicast"},
        PassCase{"ipv6_multicast_nd", [] { return from_a().ipv6(v6_with([](auto& i) { i.dst = ipv6("ff02::1:ff00:2"); i.hop_limit = 255; })).icmpv6(135, 0).payload(20).build(); }, "pass_multicast"},
        PassCase{"ipv6_link_local_dst", [] { return from_a().ipv6(v6_with([](auto& i) { i.dst = ipv6("fe80::1"); })).udp({}).build(); }, "pass_link_local"},
        PassCase{"ipv6_link_local_src", [] { return from_a().ipv6(v6_with([](auto& i) { i.src = ipv6("fe80::2"); })).udp({}).build(); }, "pass_link_local"},
        PassCase{"ipv4_no_route", [] { return from_a().ipv4(v4_with([](auto& i) { i.dst = ipv4("198.19.0.1"); })).udp({}).build(); }, "pass_no_route"},
        PassCase{"ipv6_no_route", [] { return from_a().ipv6(v6_with([](auto& i) { i.dst = ipv6("2001:2:0:9::1"); })).udp({}).build(); }, "pass_no_route"},
        PassCase{"ipv4_unresolved_nexthop", [] { return from_a().ipv4(kV4).udp({}).build(); }, "pass_no_neigh", false},
        PassCase{"ipv4_over_mtu", [] { return from_a().ipv4(kV4).udp({}).payload(1500).build(); }, "pass_frag_needed"},
        PassCase{"vlan_tagged", [] { return from_a().vlan(42).ipv4(kV4).tcp({}).build(); }, "pass_vlan_tagged"},
        PassCase{"qinq_tagged_ipv6", [] { return from_a().qinq(1).vlan(2).ipv6(kV6).udp({}).build(); }, "pass_vlan_tagged"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace xdpgw::test

// ---- flow export (bpf/lib/flow_export.h) ----------------------------------

namespace xdpgw::test {
namespace {

class FlowExportTest : public RouterTest {
 protected:
  // This CPU-summed view of one flow_cache entry; nullopt when absent.
  std::optional<xdpgw_fe_value> flow(const xdpgw_fe_key& key) const {
    const int ncpus = libbpf_num_possible_cpus();
    std::vector<xdpgw_fe_value> per_cpu(static_cast<std::size_t>(ncpus));
    if (bpf_map_lookup_elem(dp_->flow_cache_fd(), &key, per_cpu.data()) != 0) return std::nullopt;
    xdpgw_fe_value sum{};
    for (const auto& v : per_cpu) {
      sum.packets += v.packets;
      sum.bytes += v.bytes;
      sum.tcp_flags |= v.tcp_flags;
      if (v.packets) {
        sum.egress_ifindex = v.egress_ifindex;
        sum.fwd_reason = v.fwd_reason;
        sum.first_ns = v.first_ns;
      }
    }
    return sum;
  }
  xdpgw_fe_key tcp_key(uint16_t sport, uint16_t dport) const {
    xdpgw_fe_key k{};
    std::memcpy(k.flow.src, kV4.src.data(), 4);
    std::memcpy(k.flow.dst, kV4.dst.data(), 4);
    k.flow.sport = htons(sport);
    k.flow.dport = htons(dport);
    k.flow.proto = IPPROTO_TCP;
    k.flow.family = AF_INET;
    k.ingress_ifindex = static_cast<uint32_t>(port0_.ifindex_a());
    return k;
  }
  void set_skip(uint32_t skip) {
    auto s = dp_->read_settings();
    s.skip = skip;
    dp_->write_settings(s);
  }
  void set_sampling(uint32_t every) {
    const std::vector<xdpgw_fe_cfg> cfg(static_cast<std::size_t>(libbpf_num_possible_cpus()),
                                        xdpgw_fe_cfg{.sample_every = every, .countdown = 0});
    const uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(dp_->flow_cfg_fd(), &zero, cfg.data(), BPF_ANY), 0);
  }
};

TEST_F(FlowExportTest, RoutedPacketsAddToTheirFlowWithPortsFlagsAndLengths) {
  install_static_routes();
  set_skip(XDPGW_SKIP_POLICY | XDPGW_SKIP_PUNT | XDPGW_SKIP_LB);
  const auto syn = from_a().ipv4(kV4).tcp({.sport = 40000, .dport = 80, .flags = tcp_flags::kSyn}).build();
  const auto fin = from_a().ipv4(kV4).tcp({.sport = 40000, .dport = 80, .flags = tcp_flags::kFin | tcp_flags::kAck})
                       .payload(100).build();
  EXPECT_EQ(run_on_port0(syn).action, XDP_REDIRECT);
  EXPECT_EQ(run_on_port0(fin).action, XDP_REDIRECT);
  const auto v = flow(tcp_key(40000, 80));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->packets, 2u);
  EXPECT_EQ(v->bytes, (syn.size() - 14) + (fin.size() - 14)) << "IP total lengths";
  EXPECT_EQ(v->tcp_flags, tcp_flags::kSyn | tcp_flags::kFin | tcp_flags::kAck);
  EXPECT_EQ(v->egress_ifindex, static_cast<uint32_t>(port1_.ifindex_a()));
  EXPECT_EQ(v->fwd_reason, XDPGW_R_FWD_REDIRECT);
  EXPECT_NE(v->first_ns, 0u);
}

TEST_F(FlowExportTest, OffMeansNoEntryAndPassedPacketsAreNotFlows) {
  install_static_routes();
  set_skip(XDPGW_SKIP_POLICY | XDPGW_SKIP_PUNT | XDPGW_SKIP_LB | XDPGW_SKIP_FLOW_EXPORT);
  const auto in = from_a().ipv4(kV4).tcp({.sport = 40001, .dport = 80}).build();
  EXPECT_EQ(run_on_port0(in).action, XDP_REDIRECT);
  EXPECT_FALSE(flow(tcp_key(40001, 80)).has_value());
  // On, but not routed by XDP (no route: to the kernel): no flow either.
  set_skip(XDPGW_SKIP_POLICY | XDPGW_SKIP_PUNT | XDPGW_SKIP_LB);
  auto elsewhere = kV4;
  elsewhere.dst = ipv4("198.51.100.1");
  const auto passed = from_a().ipv4(elsewhere).tcp({.sport = 40001, .dport = 80}).build();
  EXPECT_EQ(run_on_port0(passed).action, XDP_PASS);
  xdpgw_fe_key k = tcp_key(40001, 80);
  std::memcpy(k.flow.dst, elsewhere.dst.data(), 4);
  EXPECT_FALSE(flow(k).has_value());
}

TEST_F(FlowExportTest, SamplingAccountsAboutOneInN) {
  install_static_routes();
  set_skip(XDPGW_SKIP_POLICY | XDPGW_SKIP_PUNT | XDPGW_SKIP_LB);
  set_sampling(4);
  const auto in = from_a().ipv4(kV4).udp({.sport = 5, .dport = 6}).build();
  for (int i = 0; i < 400; ++i) ASSERT_EQ(run_on_port0(in).action, XDP_REDIRECT);
  xdpgw_fe_key k = tcp_key(5, 6);
  k.flow.proto = IPPROTO_UDP;
  const auto v = flow(k);
  ASSERT_TRUE(v.has_value());
  // 1 in 4 on average: each sampled packet is followed by a uniform random
  // gap of 0..6 skipped ones (mean 3), so 400 packets give ~100, within a few
  // percent; the bounds are far wider than that spread.
  EXPECT_GE(v->packets, 50u);
  EXPECT_LE(v->packets, 150u);
}

}  // namespace
}  // namespace xdpgw::test
