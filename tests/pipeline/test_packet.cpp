// The pipeline's parse stage builds exactly the conn_table key XDP builds
// (bpf/lib/flow.h), and its rule match agrees with the BPF one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "harness/frame.hpp"
#include "pipeline/packet.hpp"
#include "pipeline/pipeline.hpp"

namespace xdpgw::test {
namespace {

const MacAddr kA = mac("02:00:00:00:0a:02");
const MacAddr kB = mac("02:00:00:00:0a:01");

TEST(PipelineParse, Ipv4UdpKeyHasXdpsLayout) {
  auto f = FrameBuilder().eth(kB, kA).ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
               .udp({.sport = 5000, .dport = 53}).payload(8).build();
  pipeline::ParsedPacket p;
  ASSERT_EQ(pipeline::parse(f, p), pipeline::ParseStatus::Ok);
  xdpgw_flow_key want{};
  std::memcpy(want.src, ipv4("198.18.1.2").data(), 4);
  std::memcpy(want.dst, ipv4("198.18.2.2").data(), 4);
  want.sport = htons(5000);
  want.dport = htons(53);
  want.proto = IPPROTO_UDP;
  want.family = AF_INET;
  EXPECT_EQ(std::memcmp(&p.key, &want, sizeof(want)), 0);
  EXPECT_EQ(p.dport, 53);
}

TEST(PipelineParse, Ipv6TcpKey) {
  auto f = FrameBuilder().eth(kB, kA).ipv6({.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")})
               .tcp({.sport = 1, .dport = 443}).build();
  pipeline::ParsedPacket p;
  ASSERT_EQ(pipeline::parse(f, p), pipeline::ParseStatus::Ok);
  EXPECT_EQ(p.key.family, AF_INET6);
  EXPECT_EQ(std::memcmp(p.key.dst, ipv6("2001:2:0:2::2").data(), 16), 0);
  EXPECT_EQ(p.key.pad, 0);
}

// What XDP parses past before it punts, the pipeline parses past too
// (tests/bpf/test_punt.cpp compares the keys with XDP's own).
TEST(PipelineParse, VlanTagsAndIpv6ExtensionHeadersAreSkippedAsXdpSkipsThem) {
  pipeline::ParsedPacket p;
  auto tagged = FrameBuilder().eth(kB, kA).qinq(100).vlan(7)
                    .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                    .udp({.sport = 5000, .dport = 53}).build();
  ASSERT_EQ(pipeline::parse(tagged, p), pipeline::ParseStatus::Ok);
  EXPECT_EQ(p.vlan_depth, 2);
  EXPECT_EQ(p.l3_off, 14 + 8);
  EXPECT_EQ(p.dport, 53);

  auto ext = FrameBuilder().eth(kB, kA).ipv6({.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")})
                 .hop_by_hop().routing().dest_opts(2).tcp({.sport = 1, .dport = 443}).build();
  ASSERT_EQ(pipeline::parse(ext, p), pipeline::ParseStatus::Ok);
  EXPECT_EQ(p.key.proto, IPPROTO_TCP);
  EXPECT_EQ(p.dport, 443);
  EXPECT_EQ(p.vlan_depth, 0);

  auto frag6 = FrameBuilder().eth(kB, kA).ipv6({.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")})
                   .dest_opts().fragment(0, true).udp({.sport = 1, .dport = 2}).build();
  EXPECT_EQ(pipeline::parse(frag6, p), pipeline::ParseStatus::Fragment);

  FrameBuilder deep = FrameBuilder().eth(kB, kA).ipv6({.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")});
  for (int i = 0; i <= XDPGW_IPV6_EXT_MAX_CHAIN; ++i) deep.dest_opts();
  EXPECT_EQ(pipeline::parse(deep.udp({.sport = 1, .dport = 2}).build(), p), pipeline::ParseStatus::BadIpHeader);

  auto three_tags = FrameBuilder().eth(kB, kA).vlan(1).vlan(2).vlan(3)
                        .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                        .udp({.sport = 1, .dport = 2}).build();
  EXPECT_EQ(pipeline::parse(three_tags, p), pipeline::ParseStatus::NotIp);

  auto cut = tagged;
  cut.resize(14 + 8 + 20 + 2);  // the UDP ports cut in half
  EXPECT_EQ(pipeline::parse(cut, p), pipeline::ParseStatus::TooShort);
}

TEST(PipelineParse, WhatItCannotJudgeIsReported) {
  pipeline::ParsedPacket p;
  auto arp = FrameBuilder().eth(kB, kA).ethertype(0x0806).payload(28).build();
  EXPECT_EQ(pipeline::parse(arp, p), pipeline::ParseStatus::NotIp);
  auto frag = FrameBuilder().eth(kB, kA).ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2"),
                                               .more_fragments = true})
                  .udp({.sport = 1, .dport = 2}).build();
  EXPECT_EQ(pipeline::parse(frag, p), pipeline::ParseStatus::Fragment);
  auto icmp = FrameBuilder().eth(kB, kA).ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                  .icmp_echo(1, 1).build();
  EXPECT_EQ(pipeline::parse(icmp, p), pipeline::ParseStatus::NotTcpUdp);
  std::vector<uint8_t> short_frame(10, 0);
  EXPECT_EQ(pipeline::parse(short_frame, p), pipeline::ParseStatus::TooShort);
}

// The prefix and port-range edges of one rule. That XDP decides the same
// for every field is checked by running both on one grid of frames
// (tests/bpf/test_punt.cpp, XdpAndThePipelineAgreeOnWhichPacketsARuleTakes).
TEST(PipelineClassify, RuleMatchesInsideItsPrefixAndPortRangeOnly) {
  xdpgw_punt_rule r{};
  r.proto = IPPROTO_UDP;
  r.dst_prefixlen = 23;
  std::memcpy(r.dst, ipv4("198.18.2.0").data(), 4);
  r.sport_hi = 65535;
  r.dport_lo = 53;
  r.dport_hi = 53;
  xdpgw_flow_key k{};
  k.family = AF_INET;
  k.proto = IPPROTO_UDP;
  k.dport = htons(53);
  std::memcpy(k.dst, ipv4("198.18.3.9").data(), 4);  // inside /23
  EXPECT_TRUE(pipeline::rule_matches(r, k));
  std::memcpy(k.dst, ipv4("198.18.4.9").data(), 4);
  EXPECT_FALSE(pipeline::rule_matches(r, k));
  std::memcpy(k.dst, ipv4("198.18.2.9").data(), 4);
  k.dport = htons(54);
  EXPECT_FALSE(pipeline::rule_matches(r, k));
}

}  // namespace
}  // namespace xdpgw::test
