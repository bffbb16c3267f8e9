// Punt rules and offloaded flow verdicts (bpf/lib/punt.h) through
// BPF_PROG_TEST_RUN: which packets a rule takes, the fallback when no AF_XDP
// socket serves the queue, and conn_table verdicts applied by XDP with the
// flow's counters moving. Redirects into a real socket are covered end to end
// in tests/pipeline.
#include <arpa/inet.h>
#include <sched.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "datapath/events.hpp"
#include "pipeline/packet.hpp"
#include "pipeline/pipeline.hpp"
#include "router_fixture.hpp"
#include "harness/cpu.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test {
namespace {

xdpgw_punt_rule udp_dns_rule(uint32_t extra_flags = 0) {
  xdpgw_punt_rule r{};
  r.proto = IPPROTO_UDP;
  r.family = AF_INET;
  r.dst_prefixlen = 24;
  std::memcpy(r.dst, ipv4("198.18.2.0").data(), 4);
  r.sport_lo = 0;
  r.sport_hi = 65535;
  r.dport_lo = 53;
  r.dport_hi = 54;
  r.flags = XDPGW_PUNT_F_VALID | extra_flags;
  return r;
}

// The router fixture's two ports with its static routes to host B.
class PuntTest : public RouterTest {
 protected:
  PuntTest() { install_static_routes(); }

  void set_rule(uint32_t index, const xdpgw_punt_rule& r) {
    ASSERT_EQ(bpf_map_update_elem(dp_->punt_rules_fd(), &index, &r, BPF_ANY), 0);
  }

  static std::vector<uint8_t> udp_frame(uint16_t dport, const char* dst = "198.18.2.2") {
    return FrameBuilder()
        .eth(kPort0Mac, kHostAMac)
        .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4(dst)})
        .udp({.sport = 5000, .dport = dport})
        .payload(32)
        .build();
  }

  static xdpgw_flow_key key_of(uint16_t dport) {
    xdpgw_flow_key k{};
    std::memcpy(k.src, ipv4("198.18.1.2").data(), 4);
    std::memcpy(k.dst, ipv4("198.18.2.2").data(), 4);
    k.sport = htons(5000);
    k.dport = htons(dport);
    k.proto = IPPROTO_UDP;
    k.family = AF_INET;
    return k;
  }

  void offload(uint16_t dport, uint8_t action) {
    xdpgw_flow_key k = key_of(dport);
    xdpgw_flow f{};
    f.action = action;
    f.flags = XDPGW_FLOW_F_OFFLOADED;
    ASSERT_EQ(bpf_map_update_elem(dp_->conn_table_fd(), &k, &f, BPF_ANY), 0);
  }

  xdpgw_flow flow(uint16_t dport) {
    xdpgw_flow_key k = key_of(dport);
    xdpgw_flow f{};
    EXPECT_EQ(bpf_map_lookup_elem(dp_->conn_table_fd(), &k, &f), 0);
    return f;
  }

};

TEST_F(PuntTest, WithoutRulesNothingIsPunted) {
  auto out = run_on_port0(udp_frame(53));
  EXPECT_EQ(action_name(out.action), "XDP_REDIRECT");
  EXPECT_EQ(out.delta.reasons, (Reasons{{"fwd_redirect", 1}}));
}

TEST_F(PuntTest, AMatchWithoutASocketFallsBackToPass) {
  set_rule(0, udp_dns_rule());
  auto out = run_on_port0(udp_frame(53));
  EXPECT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_EQ(out.delta.reasons, (Reasons{{"pass_punt_fallback", 1}}));
}

TEST_F(PuntTest, AMatchWithoutASocketFallsBackToDropWhenTheRuleSaysSo) {
  set_rule(0, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));
  auto out = run_on_port0(udp_frame(54));
  EXPECT_EQ(action_name(out.action), "XDP_DROP");
  EXPECT_EQ(out.delta.reasons, (Reasons{{"drop_punt_fallback", 1}}));
}

TEST_F(PuntTest, PortsPrefixesAndProtocolOutsideTheRuleAreRouted) {
  set_rule(0, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));
  for (const auto& frame : {udp_frame(55), udp_frame(52), udp_frame(53, "198.18.3.2"),
                            FrameBuilder()
                                .eth(kPort0Mac, kHostAMac)
                                .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                                .tcp({.sport = 5000, .dport = 53})
                                .build()}) {
    auto out = run_on_port0(frame);
    EXPECT_NE(action_name(out.action), "XDP_DROP");
    EXPECT_EQ(out.delta.reasons.count("drop_punt_fallback"), 0u);
  }
}

TEST_F(PuntTest, RulesAfterAnInvalidOneAreNotScanned) {
  set_rule(1, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));  // slot 0 empty: the list is empty
  auto out = run_on_port0(udp_frame(53));
  EXPECT_EQ(out.delta.reasons, (Reasons{{"fwd_redirect", 1}}));
}

TEST_F(PuntTest, Ipv6PrefixRuleMatchesOnlyInsideThePrefix) {
  xdpgw_punt_rule r{};
  r.proto = IPPROTO_TCP;
  r.family = AF_INET6;
  r.src_prefixlen = 48;
  std::memcpy(r.src, ipv6("2001:2:0::").data(), 16);
  r.sport_hi = r.dport_hi = 65535;
  r.flags = XDPGW_PUNT_F_VALID | XDPGW_PUNT_F_FALLBACK_DROP;
  set_rule(0, r);
  auto v6 = [](const char* src) {
    return FrameBuilder()
        .eth(kPort0Mac, kHostAMac)
        .ipv6({.src = ipv6(src), .dst = ipv6("2001:2:0:2::2")})
        .tcp({.sport = 1, .dport = 2})
        .build();
  };
  EXPECT_EQ(run_on_port0(v6("2001:2:0:1::2")).delta.reasons, (Reasons{{"drop_punt_fallback", 1}}));
  EXPECT_EQ(run_on_port0(v6("2001:2:1:1::2")).delta.reasons.count("drop_punt_fallback"), 0u);
}

TEST_F(PuntTest, OffloadedDropAndPassVerdictsApplyInXdpAndCountOnTheFlow) {
  set_rule(0, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));
  offload(53, XDPGW_FLOW_DROP);
  offload(54, XDPGW_FLOW_PASS);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run_on_port0(udp_frame(53)).delta.reasons, (Reasons{{"drop_flow_verdict", 1}}));
    EXPECT_EQ(run_on_port0(udp_frame(54)).delta.reasons, (Reasons{{"pass_flow_verdict", 1}}));
  }
  EXPECT_EQ(flow(53).packets, 3u);
  EXPECT_EQ(flow(53).bytes, 3 * udp_frame(53).size());
  EXPECT_EQ(flow(54).packets, 3u);
}

// Without rules the punt stage does not look at the connection table at all
// (a lookup saved per TCP/UDP packet): verdicts offloaded under an earlier
// config with [punt] no longer apply.
TEST_F(PuntTest, OffloadedVerdictsApplyOnlyWhileTheGenerationHasPuntRules) {
  offload(53, XDPGW_FLOW_DROP);
  EXPECT_EQ(run_on_port0(udp_frame(53)).delta.reasons, (Reasons{{"fwd_redirect", 1}}));
  EXPECT_EQ(flow(53).packets, 0u);
  set_rule(0, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));
  EXPECT_EQ(run_on_port0(udp_frame(53)).delta.reasons, (Reasons{{"drop_flow_verdict", 1}}));
  EXPECT_EQ(flow(53).packets, 1u);
}

TEST_F(PuntTest, OffloadedForwardVerdictIsRoutedAndCountedApart) {
  set_rule(0, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));
  offload(53, XDPGW_FLOW_FORWARD);
  auto out = run_on_port0(udp_frame(53));
  EXPECT_EQ(action_name(out.action), "XDP_REDIRECT");
  EXPECT_EQ(out.delta.reasons, (Reasons{{"fwd_flow_verdict", 1}}));
  // Rewritten like any routed frame: new MACs, TTL one less.
  EXPECT_EQ(std::vector<uint8_t>(out.data.begin(), out.data.begin() + 6),
            std::vector<uint8_t>(kHostBMac.begin(), kHostBMac.end()));
  EXPECT_EQ(out.data[14 + 8], 63);
  EXPECT_EQ(flow(53).packets, 1u);
}

TEST_F(PuntTest, AFlowWithoutTheOffloadedFlagIsNotAVerdict) {
  set_rule(0, udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP));
  xdpgw_flow_key k = key_of(53);
  xdpgw_flow f{};
  f.action = XDPGW_FLOW_PASS;  // written by someone else (the LB), not the pipeline
  ASSERT_EQ(bpf_map_update_elem(dp_->conn_table_fd(), &k, &f, BPF_ANY), 0);
  EXPECT_EQ(run_on_port0(udp_frame(53)).delta.reasons, (Reasons{{"drop_punt_fallback", 1}}));
}

// ---- events (bpf/lib/events.h) -------------------------------------------

std::vector<events::Event> drain(events::Reader& r, std::vector<events::Event>& got) {
  r.consume();
  return got;
}

TEST_F(PuntTest, ANewPuntedFlowIsAnEventWithItsKey) {
  std::vector<events::Event> got;
  events::Reader reader(dp_->events_fd(), [&](const events::Event& e) { got.push_back(e); });
  set_rule(0, udp_dns_rule());
  run_on_port0(udp_frame(53));
  drain(reader, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type_name(), "new_flow");
  const xdpgw_flow_key want = key_of(53);
  EXPECT_EQ(std::memcmp(&got[0].raw.key, &want, sizeof(want)), 0);
  EXPECT_EQ(got[0].raw.ifindex, static_cast<uint32_t>(port0_.ifindex_a()));
  EXPECT_EQ(got[0].to_string(), fmt::format("new_flow punt_xsk udp 198.18.1.2:5000 -> 198.18.2.2:53 if {} len {}",
                                            port0_.ifindex_a(), udp_frame(53).size()));
}

TEST_F(PuntTest, TheFirstOffloadedPacketOfAFlowIsAnEventTheOthersAreNot) {
  std::vector<events::Event> got;
  events::Reader reader(dp_->events_fd(), [&](const events::Event& e) { got.push_back(e); });
  set_rule(0, udp_dns_rule());
  offload(53, XDPGW_FLOW_DROP);
  for (int i = 0; i < 3; ++i) run_on_port0(udp_frame(53));
  drain(reader, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type_name(), "flow_offloaded");
}

TEST_F(PuntTest, AMalformedFrameIsAParseErrorEventWithItsReason) {
  std::vector<events::Event> got;
  events::Reader reader(dp_->events_fd(), [&](const events::Event& e) { got.push_back(e); });
  auto frame = FrameBuilder()
                   .eth(kPort0Mac, kHostAMac)
                   .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                   .tcp({.sport = 1, .dport = 2})
                   .build();
  frame.resize(14 + 20 + 10);  // TCP header cut short (IPv4 total length still claims it)
  auto out = run_on_port0(frame);
  ASSERT_EQ(action_name(out.action), "XDP_DROP");
  drain(reader, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type_name(), "parse_error");
  EXPECT_EQ(abi::reason_name(got[0].raw.reason), out.delta.reasons.begin()->first);
}

// ---- one flow key for XDP and the AF_XDP pipeline ---------------------------

// The pipeline offloads a verdict under the key it builds in C++
// (pipeline::parse); XDP looks it up under the key flow.h builds. They are
// the same bytes or an offloaded flow never matches: checked both ways, on
// the key XDP reports for a new flow and on the lookup itself.
TEST_F(PuntTest, ThePipelinesFlowKeyIsTheKeyXdpBuilds) {
  xdpgw_punt_rule every{};
  every.sport_hi = every.dport_hi = 65535;
  every.flags = XDPGW_PUNT_F_VALID | XDPGW_PUNT_F_FALLBACK_DROP;
  set_rule(0, every);
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> frames = {
      {"udp4", from_a()
                   .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                   .udp({.sport = 5000, .dport = 53})
                   .payload(16)
                   .build()},
      {"tcp4", from_a()
                   .ipv4({.src = ipv4("198.18.1.7"), .dst = ipv4("198.18.2.9")})
                   .tcp({.sport = 40000, .dport = 443})
                   .build()},
      {"udp4 with an Ethernet trailer", from_a()
                                            .ipv4({.src = ipv4("198.18.1.3"), .dst = ipv4("198.18.2.4")})
                                            .udp({.sport = 1, .dport = 65535})
                                            .eth_trailer(12, 0xee)
                                            .build()},
      {"udp6", from_a()
                   .ipv6({.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")})
                   .udp({.sport = 5353, .dport = 53})
                   .payload(8)
                   .build()},
      {"tcp6", from_a()
                   .ipv6({.src = ipv6("2001:2:0:1::7"), .dst = ipv6("2001:2:0:2::9")})
                   .tcp({.sport = 65535, .dport = 80})
                   .build()},
      // Punt comes before the router, which leaves these to the kernel:
      // XDP punts them, so the pipeline must find the same key in them.
      {"tcp4 with IP options", from_a()
                                   .ipv4({.src = ipv4("198.18.1.2"),
                                          .dst = ipv4("198.18.2.2"),
                                          .options = {1, 1, 1, 1}})
                                   .tcp({.sport = 5000, .dport = 53})
                                   .build()},
      {"udp4 in a VLAN", from_a()
                             .vlan(100)
                             .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                             .udp({.sport = 5000, .dport = 53})
                             .build()},
      {"udp4 in QinQ", from_a()
                           .qinq(100)
                           .vlan(7)
                           .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                           .udp({.sport = 5000, .dport = 53})
                           .build()},
      {"udp6 after hop-by-hop options", from_a()
                                            .ipv6({.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")})
                                            .hop_by_hop()
                                            .udp({.sport = 5000, .dport = 53})
                                            .build()},
      {"tcp6 after routing and destination options", from_a()
                                                         .ipv6({.src = ipv6("2001:2:0:1::2"),
                                                                .dst = ipv6("2001:2:0:2::2")})
                                                         .routing()
                                                         .dest_opts(1)
                                                         .tcp({.sport = 5000, .dport = 53})
                                                         .build()},
  };
  std::vector<events::Event> got;
  events::Reader reader(dp_->events_fd(), [&](const events::Event& e) { got.push_back(e); });
  // A run's reasons and the events it emitted (each carries XDP's key).
  auto run_with_events = [&](const std::vector<uint8_t>& frame) {
    got.clear();
    Reasons reasons = run_on_port0(frame).delta.reasons;
    reader.consume();
    return std::pair(reasons, got);
  };
  for (const auto& [name, frame] : frames) {
    SCOPED_TRACE(name);
    pipeline::ParsedPacket parsed;
    ASSERT_EQ(pipeline::parse(frame, parsed), pipeline::ParseStatus::Ok);

    // Not offloaded yet: punted as a new flow.
    auto [punted, punt_events] = run_with_events(frame);
    EXPECT_EQ(punted, (Reasons{{"drop_punt_fallback", 1}}));
    ASSERT_EQ(punt_events.size(), 1u);
    EXPECT_EQ(punt_events[0].type_name(), "new_flow");
    EXPECT_EQ(std::memcmp(&punt_events[0].raw.key, &parsed.key, sizeof(parsed.key)), 0)
        << "XDP: " << punt_events[0].to_string();

    // Offloaded under the pipeline's key: XDP finds and applies it.
    xdpgw_flow verdict{};
    verdict.action = XDPGW_FLOW_DROP;
    verdict.flags = XDPGW_FLOW_F_OFFLOADED;
    ASSERT_EQ(bpf_map_update_elem(dp_->conn_table_fd(), &parsed.key, &verdict, BPF_NOEXIST), 0);
    auto [applied, offload_events] = run_with_events(frame);
    EXPECT_EQ(applied, (Reasons{{"drop_flow_verdict", 1}}));
    ASSERT_EQ(offload_events.size(), 1u);
    EXPECT_EQ(offload_events[0].type_name(), "flow_offloaded");
    EXPECT_EQ(bpf_map_delete_elem(dp_->conn_table_fd(), &parsed.key), 0);
  }
}

// XDP (punt.h) and the pipeline (pipeline::rule_matches) decide whether a
// rule takes a packet: the pipeline re-checks what XDP punted, so they must
// agree. Both judge every frame of a grid under rules that exercise each
// field: prefix lengths on and off byte boundaries, port ranges, protocol
// and family wildcards.
TEST_F(PuntTest, XdpAndThePipelineAgreeOnWhichPacketsARuleTakes) {
  auto rule = [](auto&& fill) {
    xdpgw_punt_rule r{};
    r.sport_hi = r.dport_hi = 65535;
    fill(r);
    r.flags = XDPGW_PUNT_F_VALID | XDPGW_PUNT_F_FALLBACK_DROP;
    return r;
  };
  const std::vector<std::pair<std::string, xdpgw_punt_rule>> rules = {
      {"udp dns to a /24", udp_dns_rule(XDPGW_PUNT_F_FALLBACK_DROP)},
      {"any protocol to a /23 from source ports 1000-2000", rule([](xdpgw_punt_rule& r) {
         r.family = AF_INET;
         r.dst_prefixlen = 23;
         std::memcpy(r.dst, ipv4("198.18.2.0").data(), 4);
         r.sport_lo = 1000;
         r.sport_hi = 2000;
       })},
      {"tcp 443 from an IPv6 /48", rule([](xdpgw_punt_rule& r) {
         r.proto = IPPROTO_TCP;
         r.family = AF_INET6;
         r.src_prefixlen = 48;
         std::memcpy(r.src, ipv6("2001:2::").data(), 16);
         r.dport_lo = r.dport_hi = 443;
       })},
      {"well-known destination ports, either family", rule([](xdpgw_punt_rule& r) {
         r.dport_hi = 1023;
       })},
      {"udp to one IPv4 host", rule([](xdpgw_punt_rule& r) {
         r.proto = IPPROTO_UDP;
         r.family = AF_INET;
         r.dst_prefixlen = 32;
         std::memcpy(r.dst, ipv4("198.18.2.2").data(), 4);
       })},
      {"anything to an IPv6 /127", rule([](xdpgw_punt_rule& r) {
         r.family = AF_INET6;
         r.dst_prefixlen = 127;
         std::memcpy(r.dst, ipv6("2001:2:0:2::2").data(), 16);
       })},
  };
  std::vector<std::pair<std::string, std::vector<uint8_t>>> frames;
  for (bool v6 : {false, true})
    for (const char* dst : v6 ? std::vector<const char*>{"2001:2:0:2::2", "2001:2:0:2::3", "2001:2:0:2::4"}
                              : std::vector<const char*>{"198.18.2.2", "198.18.3.9", "198.18.4.1"})
      for (bool tcp : {false, true})
        for (uint16_t sport : {uint16_t{5000}, uint16_t{1500}})
          for (uint16_t dport : {uint16_t{53}, uint16_t{443}, uint16_t{8080}}) {
            FrameBuilder f = from_a();
            if (v6)
              f.ipv6({.src = ipv6(sport == 1500 ? "2001:2:0:1::2" : "2001:3::2"), .dst = ipv6(dst)});
            else
              f.ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4(dst)});
            if (tcp)
              f.tcp({.sport = sport, .dport = dport});
            else
              f.udp({.sport = sport, .dport = dport});
            frames.emplace_back(fmt::format("{} {} {}->{}", tcp ? "tcp" : "udp", dst, sport, dport),
                                f.build());
          }
  size_t taken = 0;
  for (const auto& [rule_name, r] : rules) {
    SCOPED_TRACE(rule_name);
    set_rule(0, r);
    for (const auto& [frame_name, frame] : frames) {
      SCOPED_TRACE(frame_name);
      pipeline::ParsedPacket parsed;
      ASSERT_EQ(pipeline::parse(frame, parsed), pipeline::ParseStatus::Ok);
      const bool xdp_takes = run_on_port0(frame).delta.reasons.contains("drop_punt_fallback");
      EXPECT_EQ(xdp_takes, pipeline::rule_matches(r, parsed.key));
      taken += xdp_takes;
    }
  }
  // Neither side may agree by taking all or nothing.
  EXPECT_GT(taken, 0u);
  EXPECT_LT(taken, rules.size() * frames.size());
}

// A flood of malformed frames: each CPU emits at most XDPGW_EVENTS_PER_SEC
// per second and counts the rest as suppressed. The bound below is computed
// from the elapsed time (how many one-second windows the flood touched); it
// is a correctness bound, not a speed requirement.
TEST_F(PuntTest, AFloodOfEventsIsCappedPerCpuAndSecond) {
  uint64_t received = 0;
  events::Reader reader(dp_->events_fd(), [&](const events::Event&) { ++received; });
  const events::EventCounts before = events::read_counts(dp_->event_stats_fd());
  auto frame = FrameBuilder().eth(kPort0Mac, kHostAMac).ethertype(0x0800).payload(10).build();  // IPv4 truncated
  constexpr uint64_t kFrames = 3 * XDPGW_EVENTS_PER_SEC;
  // One CPU, one kernel-side loop (the drop does not rewrite the frame, so
  // repeating it is exact): the cap is per CPU and per second.
  std::optional<CpuPin> pin(std::in_place);
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto in = gw_.enter();
    run(frame, {.ingress_ifindex = static_cast<uint32_t>(port0_.ifindex_a()), .repeat = kFrames});
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pin.reset();
  reader.consume();
  const events::EventCounts after = events::read_counts(dp_->event_stats_fd());
  const uint64_t emitted = after.emitted - before.emitted;
  const uint64_t not_emitted = (after.suppressed - before.suppressed) + (after.ring_full - before.ring_full);
  EXPECT_EQ(emitted + not_emitted, kFrames);
  EXPECT_EQ(received, emitted);
  // The run touched at most this many one-second windows of its CPU.
  const uint64_t windows = static_cast<uint64_t>(std::ceil(elapsed)) + 1;
  const uint64_t allowed = windows * XDPGW_EVENTS_PER_SEC;
  EXPECT_LE(emitted, allowed) << elapsed << " s";
  EXPECT_GE(not_emitted, kFrames - std::min(kFrames, allowed)) << elapsed << " s";
  EXPECT_GT(after.suppressed - before.suppressed, 0u)
      << "a run of " << kFrames << " frames in " << elapsed << " s must meet the cap";
}

}  // namespace
}  // namespace xdpgw::test
