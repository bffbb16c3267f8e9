// Source NAT through BPF_PROG_TEST_RUN on the real object: host A
// (198.18.1.2, behind port 0) is inside, host B (198.18.2.2, behind port 1)
// outside, and flows leaving port 1 are translated to the gateway's
// 198.18.2.1. Expected frames are built from scratch, so their checksums
// are computed independently of XDP's incremental updates, and every output
// is also checked with checksum_error().
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <set>
#include <vector>

#include "router_fixture.hpp"

namespace xdpgw::test {
namespace {

const Ipv4Addr kInside = ipv4("198.18.1.2");
const Ipv4Addr kInside2 = ipv4("198.18.1.3");
const Ipv4Addr kOutside = ipv4("198.18.2.2");
const Ipv4Addr kTranslated = ipv4("198.18.2.1");

Ipv4Fields v4(const Ipv4Addr& src, const Ipv4Addr& dst, uint8_t ttl = 64) {
  return {.src = src, .dst = dst, .ttl = ttl};
}

// The translated source port (or ICMP identifier) of an output frame:
// untagged IPv4 without options, L4 at 34.
uint16_t l4_source_id(const std::vector<uint8_t>& frame, bool icmp = false) {
  const size_t off = icmp ? 34 + 4 : 34;
  return static_cast<uint16_t>(frame.at(off) << 8 | frame.at(off + 1));
}

std::vector<uint8_t> quote(const std::vector<uint8_t>& frame, size_t size) {
  return std::vector<uint8_t>(frame.begin() + 14, frame.begin() + 14 + static_cast<long>(size));
}

class SnatTest : public RouterTest {
 protected:
  SnatTest() {
    install_static_routes();
    install_routes_to_a();
    add_local_address(AF_INET, kTranslated);
  }

  // A rule for sources in 198.18.1.0/24 leaving port 1, for each of
  // `protos`, translating to kTranslated.
  void add_rule(uint16_t port_lo = 1024, uint16_t port_hi = 65535, uint32_t flags = 0,
                std::vector<uint8_t> protos = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP}) {
    xdpgw_snat_rule rule{};
    rule.rule_id = 0;
    rule.flags = flags;
    rule.port_lo = port_lo;
    rule.port_hi = port_hi;
    rule.addr_count = 1;
    std::memcpy(&rule.addrs[0], kTranslated.data(), 4);
    for (uint8_t proto : protos) {
      xdpgw_snat_match_key key{};
      key.prefixlen = XDPGW_SNAT_MATCH_FIXED_BITS + 24;
      key.ifindex = static_cast<uint32_t>(port1_.ifindex_a());
      key.proto = proto;
      std::memcpy(key.addr, ipv4("198.18.1.0").data(), 4);
      ASSERT_EQ(bpf_map_update_elem(dp_->snat_rules_fd(), &key, &rule, BPF_ANY), 0);
    }
  }

  uint64_t snat_stat(uint32_t which) const {
    std::vector<uint64_t> per_cpu(static_cast<size_t>(libbpf_num_possible_cpus()));
    EXPECT_EQ(bpf_map_lookup_elem(dp_->snat_stats_fd(), &which, per_cpu.data()), 0);
    uint64_t total = 0;
    for (uint64_t v : per_cpu) total += v;
    return total;
  }

  size_t entries(int fd, size_t key_size) const {
    std::vector<uint8_t> key(key_size), next(key_size);
    size_t n = 0;
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      ++n;
      key = next;
      prev = key.data();
    }
    return n;
  }

  xdpgw_snat_flow flow_of(const Ipv4Addr& src, uint16_t sport, const Ipv4Addr& dst, uint16_t dport,
                          uint8_t proto) const {
    xdpgw_flow_key key{};
    std::memcpy(key.src, src.data(), 4);
    std::memcpy(key.dst, dst.data(), 4);
    key.sport = htons(sport);
    key.dport = htons(dport);
    key.proto = proto;
    key.family = AF_INET;
    xdpgw_snat_flow flow{};
    EXPECT_EQ(bpf_map_lookup_elem(dp_->snat_flows_fd(), &key, &flow), 0);
    return flow;
  }
};

TEST_F(SnatTest, TcpFlowIsTranslatedOutAndItsRepliesBack) {
  add_rule();
  const TcpFields syn{.sport = 40000, .dport = 80, .seq = 1, .flags = tcp_flags::kSyn};
  auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).tcp(syn).payload(10).build());
  const uint16_t port = l4_source_id(out.data);
  EXPECT_GE(port, 1024);
  TcpFields translated = syn;
  translated.sport = port;
  expect_forwarded(out, to_b().ipv4(v4(kTranslated, kOutside, 63)).tcp(translated).payload(10).build(),
                   "fwd_snat");

  // The reply comes to the gateway's own address and goes back to A.
  const TcpFields synack{.sport = 80, .dport = port, .seq = 9, .ack = 2,
                         .flags = tcp_flags::kSyn | tcp_flags::kAck};
  TcpFields restored = synack;
  restored.dport = 40000;
  expect_forwarded(run_on_port1(from_b().ipv4(v4(kOutside, kTranslated)).tcp(synack).payload(3).build()),
                   to_a().ipv4(v4(kOutside, kInside, 63)).tcp(restored).payload(3).build(),
                   "fwd_snat_reverse");

  const xdpgw_snat_flow flow = flow_of(kInside, 40000, kOutside, 80, IPPROTO_TCP);
  EXPECT_EQ(ntohs(flow.port), port);
  EXPECT_EQ(flow.state & (XDPGW_SNAT_S_OUT | XDPGW_SNAT_S_IN | XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN),
            XDPGW_SNAT_S_OUT | XDPGW_SNAT_S_IN | XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN);
  EXPECT_EQ(flow.packets_out, 1u);
  EXPECT_EQ(flow.packets_in, 1u);

  // The next packet of the flow keeps its port.
  const TcpFields ack{.sport = 40000, .dport = 80, .seq = 2, .ack = 10};
  auto again = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).tcp(ack).build());
  EXPECT_EQ(l4_source_id(again.data), port);
  EXPECT_EQ(snat_stat(XDPGW_SNAT_CREATED), 1u);
}

TEST_F(SnatTest, UdpKeepsAZeroChecksumAndTranslatesAComputedOne) {
  add_rule();
  for (bool zero : {false, true}) {
    SCOPED_TRACE(zero ? "zero checksum" : "checksum");
    const UdpFields udp{.sport = static_cast<uint16_t>(zero ? 5001 : 5000), .dport = 53,
                        .zero_checksum = zero};
    auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp(udp).payload(20).build());
    const uint16_t port = l4_source_id(out.data);
    UdpFields translated = udp;
    translated.sport = port;
    expect_forwarded(out, to_b().ipv4(v4(kTranslated, kOutside, 63)).udp(translated).payload(20).build(),
                     "fwd_snat");
    const UdpFields reply{.sport = 53, .dport = port, .zero_checksum = zero};
    UdpFields restored = reply;
    restored.dport = udp.sport;
    expect_forwarded(run_on_port1(from_b().ipv4(v4(kOutside, kTranslated)).udp(reply).payload(7).build()),
                     to_a().ipv4(v4(kOutside, kInside, 63)).udp(restored).payload(7).build(),
                     "fwd_snat_reverse");
  }
}

TEST_F(SnatTest, IcmpEchoIdentifierIsTranslatedBothWays) {
  add_rule();
  auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).icmp_echo(77, 1).payload(16).build());
  const uint16_t id = l4_source_id(out.data, /*icmp=*/true);
  expect_forwarded(out, to_b().ipv4(v4(kTranslated, kOutside, 63)).icmp_echo(id, 1).payload(16).build(),
                   "fwd_snat");
  expect_forwarded(
      run_on_port1(from_b().ipv4(v4(kOutside, kTranslated)).icmp_echo(id, 1, /*reply=*/true).payload(16).build()),
      to_a().ipv4(v4(kOutside, kInside, 63)).icmp_echo(77, 1, /*reply=*/true).payload(16).build(),
      "fwd_snat_reverse");
}

TEST_F(SnatTest, IcmpErrorAboutATranslatedFlowIsTranslatedInsideTheQuoteToo) {
  add_rule();
  const UdpFields udp{.sport = 6000, .dport = 33434};
  auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp(udp).payload(12).build());
  // A router on the way answers what it got: the translated datagram.
  const Ipv4Addr router = ipv4("198.18.2.254");
  auto in = from_b().ipv4(v4(router, kTranslated)).icmp(3, 3).payload(quote(out.data, 28 + 12)).build();
  // A receives it as if its own datagram had been quoted.
  auto as_sent = to_b().ipv4(v4(kInside, kOutside, 63)).udp(udp).payload(12).build();
  auto want = to_a().ipv4(v4(router, kInside, 63)).icmp(3, 3).payload(quote(as_sent, 28 + 12)).build();
  expect_forwarded(run_on_port1(in), want, "fwd_snat_reverse");
  EXPECT_EQ(snat_stat(XDPGW_SNAT_ICMP_ERRORS), 1u);
}

TEST_F(SnatTest, IcmpErrorQuotingATranslatedEchoGetsItsIdentifierBack) {
  add_rule();
  // ping -t 2: the echo request dies at the router beyond the gateway.
  auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside, 2)).icmp_echo(77, 5).payload(24).build());
  // (Identifiers are given out from 1024 on: 77 cannot be kept.)
  ASSERT_NE(l4_source_id(out.data, /*icmp=*/true), 77u);
  const Ipv4Addr router = ipv4("198.18.2.254");
  // Time exceeded, quoting the whole translated request (as Linux does).
  auto in = from_b().ipv4(v4(router, kTranslated)).icmp(11, 0).payload(quote(out.data, 28 + 24)).build();
  auto as_sent = to_b().ipv4(v4(kInside, kOutside, 1)).icmp_echo(77, 5).payload(24).build();
  auto want = to_a().ipv4(v4(router, kInside, 63)).icmp(11, 0).payload(quote(as_sent, 28 + 24)).build();
  expect_forwarded(run_on_port1(in), want, "fwd_snat_reverse");
  EXPECT_EQ(snat_stat(XDPGW_SNAT_ICMP_ERRORS), 1u);
  // Another identifier is no translated flow's: the kernel's, untouched.
  auto stray = out.data;
  stray.at(34 + 4) ^= 0x55;
  auto in_stray = from_b().ipv4(v4(router, kTranslated)).icmp(11, 0).payload(quote(stray, 28 + 8)).build();
  const auto passed = run_on_port1(in_stray);
  EXPECT_EQ(action_name(passed.action), "XDP_PASS");
  EXPECT_EQ(snat_stat(XDPGW_SNAT_ICMP_ERRORS), 1u);
}

TEST_F(SnatTest, TenThousandTcpAndUdpFlowsGetDistinctPorts) {
  add_rule();
  constexpr int kFlows = 10000;
  std::set<std::pair<bool, uint16_t>> ports;  // (tcp?, port): one owner each
  for (int i = 0; i < kFlows; ++i) {
    const uint16_t sport = static_cast<uint16_t>(10000 + i / 2);
    FrameBuilder frame = from_a().ipv4(v4(i % 4 < 2 ? kInside2 : kInside, kOutside));
    if (i % 2)
      frame.tcp({.sport = sport, .dport = 443, .flags = tcp_flags::kSyn});
    else
      frame.udp({.sport = sport, .dport = 443});
    auto out = run_on_port0(frame.build());
    ASSERT_EQ(out.delta.reasons, Reasons({{"fwd_snat", 1}})) << "flow " << i;
    ports.insert({i % 2 == 1, l4_source_id(out.data)});
  }
  EXPECT_EQ(ports.size(), static_cast<size_t>(kFlows));
  EXPECT_EQ(entries(dp_->snat_flows_fd(), sizeof(xdpgw_flow_key)), static_cast<size_t>(kFlows));
  EXPECT_EQ(entries(dp_->snat_ports_fd(), sizeof(xdpgw_snat_port_key)), static_cast<size_t>(kFlows));
}

TEST_F(SnatTest, ExhaustedPortRangeIsCountedAndDroppedOrPassedByPolicy) {
  add_rule(2000, 2003);
  std::set<uint16_t> ports;
  for (uint16_t i = 0; i < 4; ++i) {
    auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp({.sport = static_cast<uint16_t>(7000 + i), .dport = 9}).build());
    ASSERT_EQ(out.delta.reasons, Reasons({{"fwd_snat", 1}}));
    ports.insert(l4_source_id(out.data));
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{2000, 2001, 2002, 2003}));
  auto full = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp({.sport = 7100, .dport = 9}).build());
  EXPECT_EQ(action_name(full.action), "XDP_DROP");
  EXPECT_EQ(full.delta.reasons, Reasons({{"drop_snat_ports_exhausted", 1}}));

  add_rule(2000, 2003, XDPGW_SNAT_F_PASS_WHEN_FULL);
  auto passed = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp({.sport = 7101, .dport = 9}).build());
  EXPECT_EQ(action_name(passed.action), "XDP_PASS");
  EXPECT_EQ(passed.delta.reasons, Reasons({{"pass_snat_ports_exhausted", 1}}));
  // The flows that have ports keep them.
  auto old = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp({.sport = 7000, .dport = 9}).build());
  EXPECT_EQ(old.delta.reasons, Reasons({{"fwd_snat", 1}}));
}

TEST_F(SnatTest, PacketToATranslationFromAnotherRemoteIsUnsolicited) {
  add_rule();
  auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp({.sport = 5353, .dport = 53}).build());
  const uint16_t port = l4_source_id(out.data);
  auto stranger = run_on_port1(
      from_b().ipv4(v4(ipv4("198.18.2.99"), kTranslated)).udp({.sport = 53, .dport = port}).build());
  EXPECT_EQ(action_name(stranger.action), "XDP_DROP");
  EXPECT_EQ(stranger.delta.reasons, Reasons({{"drop_snat_unsolicited", 1}}));
  // Hairpin: another inside host addressing the translation is refused.
  auto hairpin = run_on_port0(
      from_a().ipv4(v4(kInside2, kTranslated)).udp({.sport = 53, .dport = port}).build());
  EXPECT_EQ(hairpin.delta.reasons, Reasons({{"drop_snat_unsolicited", 1}}));
  // Not a translated port at all: the gateway's kernel gets it, as before.
  auto local = run_on_port1(
      from_b().ipv4(v4(kOutside, kTranslated)).udp({.sport = 53, .dport = static_cast<uint16_t>(port ^ 1)}).build());
  EXPECT_EQ(local.delta.reasons, Reasons({{"pass_local_dest", 1}}));
}

TEST_F(SnatTest, FlowsOfOtherSourcesOrEgressesOrAGenerationWithoutSnatAreUntouched) {
  add_rule(1024, 65535, 0, {IPPROTO_TCP});
  // UDP has no rule; TCP from B towards A leaves by port 0, which has none.
  const UdpFields udp{.sport = 5000, .dport = 53};
  expect_forwarded(run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp(udp).build()),
                   to_b().ipv4(v4(kInside, kOutside, 63)).udp(udp).build());
  const TcpFields tcp{.sport = 80, .dport = 40000};
  expect_forwarded(run_on_port1(from_b().ipv4(v4(kOutside, kInside)).tcp(tcp).build()),
                   to_a().ipv4(v4(kOutside, kInside, 63)).tcp(tcp).build());
  // The skip bit: the TCP rule is there, but the generation says no snat.
  auto s = dp_->read_settings();
  s.skip |= XDPGW_SKIP_SNAT;
  dp_->write_settings(s);
  const TcpFields out_tcp{.sport = 40000, .dport = 80};
  expect_forwarded(run_on_port0(from_a().ipv4(v4(kInside, kOutside)).tcp(out_tcp).build()),
                   to_b().ipv4(v4(kInside, kOutside, 63)).tcp(out_tcp).build());
  EXPECT_EQ(entries(dp_->snat_flows_fd(), sizeof(xdpgw_flow_key)), 0u);
}

TEST_F(SnatTest, AnEstablishedOnlyPortForwardsOnlyRepliesAndErrorsAboutTranslatedFlows) {
  add_rule();
  const uint32_t port1 = static_cast<uint32_t>(port1_.ifindex_a());
  const uint32_t established_only = XDPGW_INBOUND_F_ESTABLISHED_ONLY;
  const ConfigTables tables = dp_->tables_of(dp_->active_generation());
  ASSERT_EQ(bpf_map_update_elem(tables.inbound.get(), &port1, &established_only, BPF_ANY), 0);
  auto s = dp_->read_settings();
  s.skip &= ~static_cast<uint32_t>(XDPGW_SKIP_INBOUND);
  dp_->write_settings(s);

  // Unsolicited: B opens a connection to A through the gateway.
  auto unsolicited = run_on_port1(
      from_b().ipv4(v4(kOutside, kInside)).tcp({.sport = 80, .dport = 40000, .flags = tcp_flags::kSyn}).build());
  EXPECT_EQ(action_name(unsolicited.action), "XDP_DROP");
  EXPECT_EQ(unsolicited.delta.reasons, Reasons({{"drop_inbound_not_established", 1}}));

  // A's flow out, and its reply, pass; so does an ICMP error about it.
  auto out = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).udp({.sport = 5000, .dport = 53}).payload(8).build());
  const uint16_t port = l4_source_id(out.data);
  auto reply = run_on_port1(from_b().ipv4(v4(kOutside, kTranslated)).udp({.sport = 53, .dport = port}).build());
  EXPECT_EQ(reply.delta.reasons, Reasons({{"fwd_snat_reverse", 1}}));
  auto error = run_on_port1(
      from_b().ipv4(v4(ipv4("198.18.2.254"), kTranslated)).icmp(3, 3).payload(quote(out.data, 28 + 8)).build());
  EXPECT_EQ(error.delta.reasons, Reasons({{"fwd_snat_reverse", 1}}));
  // The gateway's own address is the kernel's business.
  auto local = run_on_port1(from_b().ipv4(v4(kOutside, kTranslated)).tcp({.sport = 80, .dport = 22}).build());
  EXPECT_EQ(local.delta.reasons, Reasons({{"pass_local_dest", 1}}));
  // Port 0 (not established-only) still forwards new flows.
  auto from_inside = run_on_port0(from_a().ipv4(v4(kInside, kOutside)).tcp({.sport = 1, .dport = 2}).build());
  EXPECT_EQ(from_inside.delta.reasons, Reasons({{"fwd_snat", 1}}));
}

}  // namespace
}  // namespace xdpgw::test
