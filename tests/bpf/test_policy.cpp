// Policy (ACL + per-source rate limiter) through BPF_PROG_TEST_RUN on the
// real object. Configs are TOML run through the daemon's own parse ->
// validate -> apply, so the tests cover the rule ordering and fixed-point
// parameters apply computes, not a hand-written copy of them.
//
// Routing is off, so a packet policy lets through ends as pass_routing_off
// (XDP_PASS, frame untouched): `repeat` is valid (PLATFORM.md). Rate bounds
// take the elapsed time the test measured around the run as an input:
// B <= passed <= B + R * elapsed + 1. No timing threshold anywhere.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <chrono>
#include <ctime>
#include <cmath>
#include <random>
#include <thread>

#include "config/config.hpp"
#include "datapath/apply.hpp"
#include "datapath/events.hpp"
#include "datapath_fixture.hpp"
#include "harness/cpu.hpp"
#include "harness/interfaces.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"

#include <fmt/format.h>

namespace xdpgw::test {
namespace {

const MacAddr kGwMac = mac("02:00:00:00:0a:01");
const MacAddr kHostMac = mac("02:00:00:00:0a:02");

FrameBuilder eth() { return FrameBuilder().eth(kGwMac, kHostMac); }

std::vector<uint8_t> udp4(std::string_view src, std::string_view dst = "198.18.2.2",
                          uint16_t sport = 1000, uint16_t dport = 53) {
  return eth()
      .ipv4({.src = ipv4(src), .dst = ipv4(dst)})
      .udp({.sport = sport, .dport = dport})
      .payload(18)
      .build();
}

std::vector<uint8_t> udp6(std::string_view src, std::string_view dst = "2001:2:0:2::2") {
  return eth().ipv6({.src = ipv6(src), .dst = ipv6(dst)}).udp({.sport = 1000, .dport = 53}).build();
}

std::vector<uint8_t> tcp4(std::string_view src, uint16_t sport, uint16_t dport,
                          std::string_view dst = "198.18.2.2") {
  return eth().ipv4({.src = ipv4(src), .dst = ipv4(dst)}).tcp({.sport = sport, .dport = dport}).build();
}

xdpgw_rl_counter class_stats(const Datapath& dp, uint32_t id) {
  return sum_percpu<xdpgw_rl_counter>(dp.rl_stats_fd(), id, [](auto a, const auto& b) {
    a.passed += b.passed;
    a.dropped += b.dropped;
    a.new_buckets += b.new_buckets;
    return a;
  });
}

uint64_t acl_hits(const Datapath& dp, uint32_t index) {
  return sum(read_percpu_counter(dp.acl_stats_fd(), index)).packets;
}

// A gateway namespace with one real port (a veth, named "port" in the
// configs), routing off. apply() and runs that name the port as ingress
// happen inside it.
class PolicyTest : public DatapathTest {
 protected:
  PolicyTest() : port_(gw_, host_) {}

  void configure(std::string_view policy_toml) {
    const std::string text = fmt::format(
        "[gateway]\ninstance = \"policytest\"\n[[port]]\nname = \"{}\"\n"
        "[routing]\nsource = \"none\"\n{}",
        port_.name_a(), policy_toml);
    // value() throws ConfigException with every error, file:line:col.
    auto cfg = config::validate(config::parse_string(text, "policy.toml").value(),
                                FixedInterfaces({{port_.name_a(), static_cast<uint32_t>(port_.ifindex_a())}}))
                   .value();
    auto in = gw_.enter();
    apply(*dp_, cfg);
  }

  // In the gateway namespace, as if received on the port.
  Outcome run_on_port(const std::vector<uint8_t>& frame) {
    auto in = gw_.enter();
    return run(frame, {.ingress_ifindex = static_cast<uint32_t>(port_.ifindex_a())});
  }

  std::string port_name() const { return port_.name_a(); }

  Netns gw_{"gw"};
  Netns host_{"host"};
  VethPair port_;

  // Runs `frame` `n` times back to back; returns how many passed policy and
  // the wall time the run took, measured around the syscall.
  struct Burst {
    uint64_t passed;
    uint64_t rate_limited;
    double elapsed_s;
  };
  Burst burst(const std::vector<uint8_t>& frame, uint32_t n) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = run(frame, {.repeat = n});
    auto t1 = std::chrono::steady_clock::now();
    Burst b{};
    b.passed = out.delta.reasons["pass_routing_off"];
    b.rate_limited = out.delta.reasons["drop_rate_limited"];
    b.elapsed_s = std::chrono::duration<double>(t1 - t0).count();
    EXPECT_EQ(b.passed + b.rate_limited, n) << "every packet passes or is rate limited";
    return b;
  }

  static void expect_within_bucket(uint64_t passed, double burst, double rate, double elapsed_s) {
    const double upper = burst + rate * elapsed_s + 1;
    EXPECT_GE(passed, burst) << "a full bucket lets the whole burst through";
    EXPECT_LE(double(passed), upper)
        << "burst " << burst << " + rate " << rate << "/s x " << elapsed_s << " s + 1";
  }
};

// ---- rate limiter ----------------------------------------------------------------

constexpr std::string_view kOneClass = R"(
[ratelimit]
[[ratelimit.class]]
name = "hosts"
packets_per_second = 1000
burst = 50
sources = ["198.18.1.0/24", "2001:2:0:1::/64"]
)";

TEST_F(PolicyTest, BurstThenRateIpv4) {
  configure(kOneClass);
  auto b = burst(udp4("198.18.1.2"), 20000);
  expect_within_bucket(b.passed, 50, 1000, b.elapsed_s);
  auto st = class_stats(*dp_, 0);
  EXPECT_EQ(st.passed, b.passed);
  EXPECT_EQ(st.dropped, b.rate_limited);
  EXPECT_EQ(st.new_buckets, 1u);
}

// Rate-limit drops reach the event ring buffer (sampled: capped per CPU and
// second, the rest counted as suppressed).
TEST_F(PolicyTest, RateLimitDropsAreEvents) {
  configure(kOneClass);
  std::vector<events::Event> got;
  events::Reader reader(dp_->events_fd(), [&](const events::Event& e) { got.push_back(e); });
  const events::EventCounts before = events::read_counts(dp_->event_stats_fd());
  auto b = burst(udp4("198.18.1.2"), 300);
  reader.consume();
  const events::EventCounts after = events::read_counts(dp_->event_stats_fd());
  ASSERT_GT(b.rate_limited, 0u);
  ASSERT_FALSE(got.empty());
  // Each names who was limited: the packet's addresses and ports.
  for (const auto& e : got) {
    EXPECT_EQ(e.type_name(), "rate_limit_drop") << e.to_string();
    EXPECT_NE(e.to_string().find("udp 198.18.1.2:"), std::string::npos) << e.to_string();
    EXPECT_NE(e.to_string().find("-> 198.18.2.2:"), std::string::npos) << e.to_string();
  }
  EXPECT_EQ(got.size() + (after.suppressed - before.suppressed) + (after.ring_full - before.ring_full),
            b.rate_limited);
}

TEST_F(PolicyTest, BurstThenRateIpv6) {
  configure(kOneClass);
  auto b = burst(udp6("2001:2:0:1::2"), 20000);
  expect_within_bucket(b.passed, 50, 1000, b.elapsed_s);
}

TEST_F(PolicyTest, SecondSourceIsUnaffected) {
  configure(kOneClass);
  auto flood = burst(udp4("198.18.1.2"), 20000);
  ASSERT_GT(flood.rate_limited, 0u);
  // Another source of the same class has its own, full bucket.
  auto other = burst(udp4("198.18.1.3"), 50);
  EXPECT_EQ(other.passed, 50u);
  auto v6 = burst(udp6("2001:2:0:1::3"), 50);
  EXPECT_EQ(v6.passed, 50u);
  EXPECT_EQ(class_stats(*dp_, 0).new_buckets, 3u);
}

TEST_F(PolicyTest, SourceOutsideEveryClassIsNotLimitedWithoutDefault) {
  configure(kOneClass);
  auto b = burst(udp4("198.18.3.2"), 5000);
  EXPECT_EQ(b.passed, 5000u);
}

TEST_F(PolicyTest, DefaultClassAndLongestPrefixChooseTheClass) {
  configure(R"(
[ratelimit]
default_class = "slow"
[[ratelimit.class]]
name = "slow"
packets_per_second = 1
burst = 3
[[ratelimit.class]]
name = "net"
packets_per_second = 1
burst = 10
sources = ["198.18.0.0/15"]
[[ratelimit.class]]
name = "host"
packets_per_second = 1
burst = 20
sources = ["198.18.1.2/32"]
)");
  auto host = burst(udp4("198.18.1.2"), 1000);
  auto net = burst(udp4("198.18.1.3"), 1000);
  auto other = burst(udp4("203.0.113.9"), 1000);
  // 1 pkt/s: the interval is exact; the bound allows one refill per second.
  expect_within_bucket(host.passed, 20, 1, host.elapsed_s);
  expect_within_bucket(net.passed, 10, 1, net.elapsed_s);
  expect_within_bucket(other.passed, 3, 1, other.elapsed_s);
  EXPECT_EQ(class_stats(*dp_, 2).passed, host.passed);
  EXPECT_EQ(class_stats(*dp_, 1).passed, net.passed);
  EXPECT_EQ(class_stats(*dp_, 0).passed, other.passed);
}

TEST_F(PolicyTest, TenMppsClass) {
  configure(R"(
[ratelimit]
[[ratelimit.class]]
name = "fast"
packets_per_second = 10000000
burst = 1000
sources = ["198.18.1.0/24"]
)");
  constexpr uint32_t kOffered = 300000;
  auto b = burst(udp4("198.18.1.2"), kOffered);
  // A test run cannot offer 10 Mpps here (the datapath alone costs more
  // than 100 ns a packet), and then the class must pass every packet: a
  // refill computed wrong at this rate (the fixed-point interval rounding to
  // a slower rate, or overflowing) drops some. Only a machine offering
  // faster than the rate meets the bucket's upper bound instead.
  const double offered_pps = kOffered / b.elapsed_s;
  if (offered_pps < 1e7) {
    EXPECT_EQ(b.passed, kOffered) << "offered at " << offered_pps << " packets/s";
    EXPECT_EQ(b.rate_limited, 0u);
  } else {
    expect_within_bucket(b.passed, 1000, 1e7, b.elapsed_s);
  }
}

TEST(RateLimitParams, FixedPointIsExactAtOneAndTenMillionPps) {
  // 1 pkt/s: 1e9 ns per packet; 10 Mpps: 100 ns; both exact in fixed point.
  auto slow = rl_class_params(1, 1);
  EXPECT_EQ(slow.interval, uint64_t{1'000'000'000} << XDPGW_RL_FRAC_BITS);
  EXPECT_EQ(slow.limit, slow.interval);
  auto fast = rl_class_params(10'000'000, 1000);
  EXPECT_EQ(fast.interval, uint64_t{100} << XDPGW_RL_FRAC_BITS);
  EXPECT_EQ(fast.limit, 1000 * fast.interval);
  // 3 pkt/s does not divide: rounded up, so never above the rate.
  auto three = rl_class_params(3, 1);
  EXPECT_GE(three.interval * 3, uint64_t{1'000'000'000} << XDPGW_RL_FRAC_BITS);
  EXPECT_LT(three.interval * 3 - (uint64_t{1'000'000'000} << XDPGW_RL_FRAC_BITS), 3u);
  // Largest values validation lets through do not overflow a signed 64-bit.
  auto worst = rl_class_params(1, 10'000'000);
  EXPECT_LT(worst.limit, uint64_t{1} << 63);
  // Byte bucket: 1500 bytes at 1000 B/s is 1.5 s of fixed-point time.
  auto bytes = rl_class_params(1, 1, 1000, 1500);
  EXPECT_EQ(bytes.bytes_per_second, 1000u);
  EXPECT_EQ(bytes.byte_limit, (uint64_t{1'500'000'000} << XDPGW_RL_FRAC_BITS));
  auto no_bytes = rl_class_params(1, 1);
  EXPECT_EQ(no_bytes.bytes_per_second, 0u);
  EXPECT_LT(rl_class_params(1, 1, 1000, 1'000'000'000).byte_limit, uint64_t{1} << 63);
  EXPECT_THROW(rl_class_params(1, 1, 1000, 0), std::out_of_range);
  EXPECT_THROW(rl_class_params(0, 1), std::out_of_range);
  EXPECT_THROW(rl_class_params(1, 0), std::out_of_range);
}

// An impossible bucket state (TAT far ahead: a reload lowered the burst, or
// the clock wrapped over a very long idle period) is clamped to "empty":
// the source waits at most one burst interval, never for the wrapped time,
// and never gets credit it did not have.
TEST_F(PolicyTest, BucketFarInTheFutureIsClampedNotTrusted) {
  configure(kOneClass);
  burst(udp4("198.18.1.2"), 1);
  xdpgw_rl_key key{};
  std::memcpy(key.addr, ipv4("198.18.1.2").data(), 4);
  key.family = AF_INET;
  xdpgw_rl_bucket far{.tat = ~uint64_t{0} / 2 - 5};  // as far ahead as a signed difference goes
  ASSERT_EQ(bpf_map_update_elem(dp_->rl_buckets_fd(), &key, &far, BPF_EXIST), 0);
  auto b = burst(udp4("198.18.1.2"), 2000);
  // Empty bucket: only the refill over the elapsed time.
  EXPECT_LE(double(b.passed), 1000 * b.elapsed_s + 1);
  xdpgw_rl_bucket after{};
  ASSERT_EQ(bpf_map_lookup_elem(dp_->rl_buckets_fd(), &key, &after), 0);
  EXPECT_NE(after.tat, far.tat) << "the clamp is written back";
}

// Two CPUs run the same source at once. 1 pkt/s with burst 1000: whatever
// the interleaving, no more than the burst plus the refill of the elapsed
// time passes, and no fewer than the burst (no token lost to a race).
TEST_F(PolicyTest, TwoCpusOnOneBucketNeverPassMoreThanItAllows) {
  // Every machine this runs on has two CPUs; fewer is a failure, not a skip.
  ASSERT_GE(possible_cpus(), 2u);
  ASSERT_GE(std::thread::hardware_concurrency(), 2u);
  configure(R"(
[ratelimit]
[[ratelimit.class]]
name = "hosts"
packets_per_second = 1
burst = 1000
sources = ["198.18.1.0/24"]
)");
  const auto frame = udp4("198.18.1.2");
  constexpr uint32_t kPerThread = 200000;
  auto before = CounterSnapshot::take(*dp_);
  auto t0 = std::chrono::steady_clock::now();
  auto hammer = [&](int cpu) {
    const CpuPin pin(static_cast<unsigned>(cpu));
    prog_test_run(dp_->dispatcher_fd(), frame, {.repeat = kPerThread});
  };
  std::thread a(hammer, 0), b(hammer, 1);
  a.join();
  b.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto d = CounterDelta::between(before, CounterSnapshot::take(*dp_));
  const uint64_t passed = d.reasons["pass_routing_off"];
  EXPECT_EQ(passed + d.reasons["drop_rate_limited"], 2 * kPerThread);
  expect_within_bucket(passed, 1000, 1, elapsed);
  // Both CPUs did spend from it.
  auto per_cpu = read_percpu<xdpgw_rl_counter>(dp_->rl_stats_fd(), 0);
  EXPECT_GT(per_cpu[0].passed + per_cpu[0].dropped, 0u);
  EXPECT_GT(per_cpu[1].passed + per_cpu[1].dropped, 0u);
}

// More sources than the table holds: the LRU evicts, new_buckets counts every
// bucket created (evictions = new_buckets - live entries), and an evicted
// source starts again with a full bucket.
TEST_F(PolicyTest, FullTableEvictsAndEvictedSourceStartsFull) {
  configure(R"(
[ratelimit]
[[ratelimit.class]]
name = "all"
packets_per_second = 1
burst = 2
sources = ["198.18.0.0/15"]
)");
  auto first = burst(udp4("198.18.0.1"), 10);
  ASSERT_EQ(first.passed, 2u);
  auto source_n = [](uint32_t i) {
    const uint32_t a = (198u << 24 | 18u << 16) + i;  // inside 198.18.0.0/15
    return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
  };
  const uint32_t sources = XDPGW_RL_TABLE_SIZE + XDPGW_RL_TABLE_SIZE / 4;
  for (uint32_t i = 2; i <= sources; ++i) prog_test_run(dp_->dispatcher_fd(), udp4(source_n(i)));
  uint64_t live = 0;
  xdpgw_rl_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(dp_->rl_buckets_fd(), prev, &next) == 0) {
    ++live;
    key = next;
    prev = &key;
  }
  const auto st = class_stats(*dp_, 0);
  EXPECT_LE(live, uint64_t{XDPGW_RL_TABLE_SIZE});
  // One bucket per source: 198.18.0.1's first, then each of the others once.
  EXPECT_EQ(st.new_buckets, uint64_t{sources});
  ASSERT_GE(st.new_buckets, live);
  EXPECT_GE(st.new_buckets - live, sources - uint64_t{XDPGW_RL_TABLE_SIZE}) << "evictions";
  // The LRU is approximate (per-CPU free lists): which entries went is not
  // fixed, so more new sources come until 198.18.0.1's bucket is among them.
  xdpgw_rl_key first_key{};
  first_key.addr[0] = 198, first_key.addr[1] = 18, first_key.addr[3] = 1, first_key.family = AF_INET;
  xdpgw_rl_bucket bucket{};
  uint32_t extra = 0;
  while (bpf_map_lookup_elem(dp_->rl_buckets_fd(), &first_key, &bucket) == 0 && extra < 4 * XDPGW_RL_TABLE_SIZE)
    prog_test_run(dp_->dispatcher_fd(), udp4(source_n(sources + ++extra)));
  ASSERT_NE(bpf_map_lookup_elem(dp_->rl_buckets_fd(), &first_key, &bucket), 0)
      << "198.18.0.1 still has a bucket after " << extra << " more sources";
  EXPECT_EQ(class_stats(*dp_, 0).new_buckets, uint64_t{sources} + extra);
  auto again = burst(udp4("198.18.0.1"), 10);
  EXPECT_EQ(again.passed, 2u) << "evicted source comes back with a full bucket";
}

// The optional byte bucket: 60-byte frames, 6,000 bytes of burst and
// 100,000 bytes/s, under a packet bucket that would allow 200 back to back.
// Bytes bind first; each packet the byte bucket refuses gives its packet
// token back, so the packet bucket is charged only for what passed.
TEST_F(PolicyTest, ByteLimitBindsAndRefusedPacketsKeepTheirPacketToken) {
  configure(R"(
[ratelimit]
[[ratelimit.class]]
name = "bytes"
packets_per_second = 100
burst = 200
bytes_per_second = 100000
burst_bytes = 6000
sources = ["198.18.1.0/24"]
)");
  const auto frame = udp4("198.18.1.2");
  ASSERT_EQ(frame.size(), 60u);
  auto b = burst(frame, 20000);
  EXPECT_GE(b.passed, 6000u / 60);
  EXPECT_LE(double(b.passed * 60), 6000 + 100000 * b.elapsed_s + 60);
  // bpf_ktime_get_ns() is CLOCK_MONOTONIC: how far the packet bucket's TAT
  // runs ahead of now is what it was charged (minus refill).
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t now = (uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec))
                       << XDPGW_RL_FRAC_BITS;
  xdpgw_rl_key key{};
  std::memcpy(key.addr, ipv4("198.18.1.2").data(), 4);
  key.family = AF_INET;
  xdpgw_rl_bucket bucket{};
  ASSERT_EQ(bpf_map_lookup_elem(dp_->rl_buckets_fd(), &key, &bucket), 0);
  const int64_t ahead = int64_t(bucket.tat - now);
  const auto params = rl_class_params(100, 200);
  EXPECT_LE(ahead, int64_t(b.passed * params.interval))
      << "packet tokens of byte-refused packets were not given back";
}

// A reload builds the other generation and flips: new class parameters
// apply at once, while buckets (not generational) keep their state, so a
// reload is not a way for a flooding source to get a fresh burst.
TEST_F(PolicyTest, ReloadSwitchesClassesAndKeepsBuckets) {
  constexpr std::string_view kSlow = R"(
[ratelimit]
[[ratelimit.class]]
name = "slow"
packets_per_second = 1
burst = 50
sources = ["198.18.1.0/24"]
)";
  configure(kSlow);
  const uint32_t gen_before = dp_->active_generation();
  const auto t0 = std::chrono::steady_clock::now();
  auto first = burst(udp4("198.18.1.2"), 5000);
  ASSERT_GT(first.rate_limited, 0u);
  // Same class again: over both runs and the reload between them, one
  // bucket's worth passes (a fresh bucket would let another 50 through).
  configure(kSlow);
  EXPECT_NE(dp_->active_generation(), gen_before);
  auto after = burst(udp4("198.18.1.2"), 5000);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_within_bucket(first.passed + after.passed, 50, 1, elapsed);
  // A reload that takes the source out of every class lifts its limit.
  configure(R"(
[ratelimit]
[[ratelimit.class]]
name = "others"
packets_per_second = 1
burst = 1
sources = ["203.0.113.0/24"]
)");
  EXPECT_EQ(burst(udp4("198.18.1.2"), 5000).passed, 5000u);
}

// ---- ACL -------------------------------------------------------------------------

struct AclCase {
  std::string name;
  std::string rule;  // one [[acl]] body (action = "deny" is added)
  std::vector<uint8_t> match;
  std::vector<uint8_t> miss;
};
void PrintTo(const AclCase& c, std::ostream* os) { *os << c.name; }

class AclRuleKind : public PolicyTest, public ::testing::WithParamInterface<AclCase> {};

TEST_P(AclRuleKind, MatchesAndMisses) {
  const auto& c = GetParam();
  configure("[[acl]]\naction = \"deny\"\n" + c.rule + "\n");
  auto hit = run(c.match);
  EXPECT_EQ(hit.delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(acl_hits(*dp_, 0), 1u);
  auto miss = run(c.miss);
  EXPECT_EQ(miss.delta.reasons, Reasons({{"pass_routing_off", 1}}));
  EXPECT_EQ(acl_hits(*dp_, 0), 1u);
  EXPECT_EQ(acl_hits(*dp_, XDPGW_ACL_STATS_DEFAULT), 1u) << "default action counted";
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, AclRuleKind,
    ::testing::Values(
        AclCase{"src4", "src = \"198.18.1.0/24\"", udp4("198.18.1.9"), udp4("198.18.3.9")},
        AclCase{"dst4", "dst = \"198.18.2.0/24\"", udp4("198.18.1.9", "198.18.2.7"),
                udp4("198.18.1.9", "198.18.4.7")},
        AclCase{"src6", "src = \"2001:2:0:1::/64\"", udp6("2001:2:0:1::9"), udp6("2001:2:0:3::9")},
        AclCase{"dst6", "dst = \"2001:2:0:2::/64\"", udp6("2001:2:0:1::9", "2001:2:0:2::7"),
                udp6("2001:2:0:1::9", "2001:2:0:5::7")},
        AclCase{"v4_rule_ignores_v6", "src = \"0.0.0.0/0\"", udp4("198.18.1.9"), udp6("2001:2:0:1::9")},
        AclCase{"protocol", "protocol = \"tcp\"", tcp4("198.18.1.9", 1000, 80), udp4("198.18.1.9")},
        AclCase{"dst_port_range", "protocol = \"tcp\"\ndst_ports = \"20-23\"",
                tcp4("198.18.1.9", 1000, 22), tcp4("198.18.1.9", 1000, 24)},
        AclCase{"src_port", "protocol = \"udp\"\nsrc_ports = \"1000\"", udp4("198.18.1.9", "198.18.2.2", 1000),
                udp4("198.18.1.9", "198.18.2.2", 1001)}),
    [](const auto& info) { return info.param.name; });

// in_port: received on the port matches, received elsewhere (no ingress
// device) does not.
TEST_F(PolicyTest, AclInPortMatchesOnlyThatPort) {
  configure(fmt::format("[[acl]]\naction = \"deny\"\nin_port = \"{}\"\n", port_name()));
  EXPECT_EQ(run_on_port(udp4("198.18.1.9")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run(udp4("198.18.1.9")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
}

// state = "new" / "established": a packet of a flow [[snat]] translates
// (its translation in snat_flows, or snat_ports naming it as that flow's
// reply) is established, anything else new.
TEST_F(PolicyTest, AclStateTellsTranslatedFlowsFromNewOnes) {
  configure(fmt::format("[[acl]]\naction = \"deny\"\nin_port = \"{}\"\nstate = \"new\"\n", port_name()));
  // Outbound of a translated flow 198.18.1.2:1000 -> 198.18.2.2:53 (UDP),
  // translated to 198.18.2.1:3000.
  xdpgw_flow_key inside{};
  std::memcpy(inside.src, ipv4("198.18.1.2").data(), 4);
  std::memcpy(inside.dst, ipv4("198.18.2.2").data(), 4);
  inside.sport = htons(1000);
  inside.dport = htons(53);
  inside.proto = IPPROTO_UDP;
  inside.family = AF_INET;
  xdpgw_snat_flow flow{};
  std::memcpy(&flow.addr, ipv4("198.18.2.1").data(), 4);
  flow.port = htons(3000);
  ASSERT_EQ(bpf_map_update_elem(dp_->snat_flows_fd(), &inside, &flow, BPF_NOEXIST), 0);
  xdpgw_snat_port_key pk{.addr = flow.addr, .port = flow.port, .proto = IPPROTO_UDP, .pad = 0};
  ASSERT_EQ(bpf_map_update_elem(dp_->snat_ports_fd(), &pk, &inside, BPF_NOEXIST), 0);

  EXPECT_EQ(run_on_port(udp4("198.18.1.2", "198.18.2.2", 1000, 53)).delta.reasons,
            Reasons({{"pass_routing_off", 1}}));
  // Its reply, to the translated address and port, from the remote end.
  EXPECT_EQ(run_on_port(udp4("198.18.2.2", "198.18.2.1", 53, 3000)).delta.reasons,
            Reasons({{"pass_routing_off", 1}}));
  // New: another source port, another remote port, a stranger, TCP.
  EXPECT_EQ(run_on_port(udp4("198.18.1.2", "198.18.2.2", 1001, 53)).delta.reasons,
            Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run_on_port(udp4("198.18.2.2", "198.18.2.1", 54, 3000)).delta.reasons,
            Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run_on_port(udp4("198.18.2.9", "198.18.2.1", 53, 3000)).delta.reasons,
            Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run_on_port(tcp4("198.18.1.2", 1000, 53)).delta.reasons, Reasons({{"drop_acl_deny", 1}}));

  // The opposite rule: established flows denied, new ones not.
  configure(fmt::format("[[acl]]\naction = \"deny\"\nstate = \"established\"\n"));
  EXPECT_EQ(run_on_port(udp4("198.18.1.2", "198.18.2.2", 1000, 53)).delta.reasons,
            Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run_on_port(udp4("198.18.1.2", "198.18.2.2", 1001, 53)).delta.reasons,
            Reasons({{"pass_routing_off", 1}}));
}

// File order says deny the /15 first, but the longer source prefix is
// evaluated first: 198.18.1.0/24 is allowed, the rest of the /15 denied.
TEST_F(PolicyTest, OverlappingPrefixesLongestSourceFirst) {
  configure(R"(
[policy]
acl_default = "allow"
[[acl]]
action = "deny"
src = "198.18.0.0/15"
[[acl]]
action = "allow"
src = "198.18.1.0/24"
[[acl]]
action = "deny"
src = "198.18.1.0/24"
protocol = "tcp"
)");
  EXPECT_EQ(run(udp4("198.18.1.2")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  // Same source length: the earlier rule in the file wins (allow before deny tcp).
  EXPECT_EQ(run(tcp4("198.18.1.2", 1, 2)).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  EXPECT_EQ(run(udp4("198.18.2.2")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(acl_hits(*dp_, 0), 1u);  // rule ids are file positions
  EXPECT_EQ(acl_hits(*dp_, 1), 2u);
  EXPECT_EQ(acl_hits(*dp_, 2), 0u);
}

TEST_F(PolicyTest, LongerDestinationBreaksTiesOnSource) {
  configure(R"(
[[acl]]
action = "deny"
dst = "198.18.2.0/24"
[[acl]]
action = "allow"
dst = "198.18.2.2/32"
)");
  EXPECT_EQ(run(udp4("198.18.1.2", "198.18.2.2")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  EXPECT_EQ(run(udp4("198.18.1.2", "198.18.2.3")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
}

TEST_F(PolicyTest, DefaultDenyWithAllowList) {
  configure(R"(
[policy]
acl_default = "deny"
[[acl]]
action = "allow"
src = "198.18.1.0/24"
protocol = "udp"
dst_ports = "53"
)");
  EXPECT_EQ(run(udp4("198.18.1.2")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  EXPECT_EQ(run(tcp4("198.18.1.2", 1000, 53)).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run(udp4("198.18.5.2")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(acl_hits(*dp_, XDPGW_ACL_STATS_DEFAULT), 2u);
}

// A denied packet never reaches the rate limiter, so it spends no tokens.
TEST_F(PolicyTest, DeniedPacketsSpendNoTokens) {
  configure(std::string(R"(
[[acl]]
action = "deny"
protocol = "tcp"
)") + std::string(kOneClass));
  run(tcp4("198.18.1.2", 1, 2), {.repeat = 500});
  EXPECT_EQ(class_stats(*dp_, 0).passed + class_stats(*dp_, 0).dropped, 0u);
  EXPECT_EQ(burst(udp4("198.18.1.2"), 50).passed, 50u);
}

// ---- ACL prefix sets ([[prefix_set]], src/dst = "@name") ---------------------

// A set rule is tried before single-prefix rules on its side, so a block
// list beats a broad allow and even a more specific single prefix; nested
// and bare-address entries of the set all match; both families in one set.
TEST_F(PolicyTest, PrefixSetRuleMatchesEveryListedPrefixBeforeSinglePrefixRules) {
  configure(R"(
[[prefix_set]]
name = "drop"
prefixes = ["198.18.1.0/24", "198.18.1.128/25", "198.18.9.7", "2001:2:0:1::/64"]
[[acl]]
action = "allow"
src = "198.18.0.0/15"
[[acl]]
action = "allow"
src = "198.18.1.200/32"
[[acl]]
action = "deny"
src = "@drop"
)");
  for (const char* listed : {"198.18.1.5", "198.18.1.200", "198.18.9.7"})
    EXPECT_EQ(run(udp4(listed)).delta.reasons, Reasons({{"drop_acl_deny", 1}})) << listed;
  EXPECT_EQ(run(udp6("2001:2:0:1::9")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  for (const char* unlisted : {"198.18.9.8", "198.18.2.2"})
    EXPECT_EQ(run(udp4(unlisted)).delta.reasons, Reasons({{"pass_routing_off", 1}})) << unlisted;
  EXPECT_EQ(run(udp6("2001:2:0:3::9")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  EXPECT_EQ(acl_hits(*dp_, 2), 4u);  // the set rule, by file position
  EXPECT_EQ(acl_hits(*dp_, 0), 2u);
  EXPECT_EQ(acl_hits(*dp_, 1), 0u) << "the /32 allow comes after the set";
}

// A reload replaces the set's contents in the idle generation and flips.
TEST_F(PolicyTest, ReloadReplacesTheSetsPrefixes) {
  constexpr std::string_view kRules = R"(
[[acl]]
action = "deny"
src = "@drop"
)";
  configure("[[prefix_set]]\nname = \"drop\"\nprefixes = [\"198.18.1.0/24\"]\n" +
            std::string(kRules));
  EXPECT_EQ(run(udp4("198.18.1.2")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
  EXPECT_EQ(run(udp4("198.18.3.2")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  configure("[[prefix_set]]\nname = \"drop\"\nprefixes = [\"198.18.3.0/24\"]\n" +
            std::string(kRules));
  EXPECT_EQ(run(udp4("198.18.1.2")).delta.reasons, Reasons({{"pass_routing_off", 1}}));
  EXPECT_EQ(run(udp4("198.18.3.2")).delta.reasons, Reasons({{"drop_acl_deny", 1}}));
}

// Random sets on both sides against a reference written from the README's
// semantics: deny sources in set a; else allow UDP from sources in set c;
// else allow UDP to destinations in set b; else the default (deny). The
// prefixes of a are shorter than c's, so many of c's lie inside one of a's:
// the trie entry such an address finds (c's, the longest) must carry a's
// deny too. Addresses are
// drawn from inside listed prefixes or anywhere in 198.18.0.0/15.
TEST_F(PolicyTest, LargeRandomSetsAgreeWithAReferenceMatcher) {
  std::mt19937 rng(20261203);
  using Set = std::vector<std::pair<uint32_t, uint8_t>>;  // network (host order), length
  auto random_set = [&](std::size_t n, uint8_t shortest, uint8_t longest) {
    Set set;
    for (std::size_t i = 0; i < n; ++i) {
      const auto len = static_cast<uint8_t>(shortest + rng() % (longest - shortest + 1));
      const uint32_t mask = ~uint32_t{0} << (32 - len);
      set.emplace_back((0xc6120000u | (rng() & 0x1ffff)) & mask, len);  // in 198.18.0.0/15
    }
    return set;
  };
  // Each covers roughly a sixth to a third of the /15.
  const Set a = random_set(150, 24, 26), b = random_set(8000, 28, 32), c = random_set(8000, 28, 32);
  auto listed = [](const Set& set, uint32_t addr) {
    for (const auto& [net, len] : set)
      if ((addr & (~uint32_t{0} << (32 - len))) == net) return true;
    return false;
  };
  auto text = [](uint32_t addr) {
    return fmt::format("{}.{}.{}.{}", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
                       addr & 0xff);
  };
  auto toml_list = [&](const Set& set) {
    std::string list;
    for (const auto& [net, len] : set) list += fmt::format("\"{}/{}\",", text(net), len);
    return list;
  };
  configure(fmt::format(R"(
[policy]
acl_default = "deny"
[[prefix_set]]
name = "a"
prefixes = [{}]
[[prefix_set]]
name = "b"
prefixes = [{}]
[[prefix_set]]
name = "c"
prefixes = [{}]
[[acl]]
action = "allow"
dst = "@b"
protocol = "udp"
[[acl]]
action = "deny"
src = "@a"
[[acl]]
action = "allow"
src = "@c"
protocol = "udp"
)",
                        toml_list(a), toml_list(b), toml_list(c)));
  auto pick = [&](std::initializer_list<const Set*> sets) {
    const std::size_t choice = rng() % (sets.size() + 1);
    if (choice == sets.size()) return 0xc6120000u | (rng() & 0x1ffff);
    const Set& set = *sets.begin()[choice];
    const auto& [net, len] = set[rng() % set.size()];
    return net | (len == 32 ? 0 : rng() & (~uint32_t{0} >> len));
  };
  std::size_t denied = 0, allowed = 0, sources_in_both_a_and_c = 0;
  for (int i = 0; i < 3000; ++i) {
    const uint32_t src = pick({&a, &c}), dst = pick({&b});
    const bool deny = listed(a, src) || (!listed(c, src) && !listed(b, dst));
    const auto got = run(udp4(text(src), text(dst))).delta.reasons;
    ASSERT_EQ(got, Reasons({{deny ? "drop_acl_deny" : "pass_routing_off", 1}}))
        << text(src) << " -> " << text(dst);
    ++(deny ? denied : allowed);
    if (listed(a, src) && listed(c, src)) ++sources_in_both_a_and_c;
  }
  // Every outcome was exercised, nested prefixes of two rules included, so
  // the comparison could have failed.
  EXPECT_GT(denied, 300u);
  EXPECT_GT(allowed, 300u);
  EXPECT_GT(sources_in_both_a_and_c, 50u);
}
}  // namespace
}  // namespace xdpgw::test
