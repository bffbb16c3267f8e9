// Per-packet cost of the dispatcher + handler parse path, through
// BPF_PROG_TEST_RUN with `repeat` and the kernel's own per-run timing; and
// (acl/...) what an ACL with a large prefix set adds to it.
// Only non-rewriting paths are timed (route source "none": every packet is
// parsed, tail-called and passed unmodified), because repeat reuses the
// frame (PLATFORM.md). Each figure is also reported as a ratio against a
// baseline measured in the same run: an XDP program that only returns
// XDP_PASS, so machine noise cancels out.
#include <benchmark/benchmark.h>
#include <linux/bpf.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>

#include <random>
#include <stdexcept>

#include "config/config.hpp"
#include "datapath/apply.hpp"
#include "datapath/datapath.hpp"
#include "harness/frame.hpp"
#include "harness/interfaces.hpp"
#include "harness/netns.hpp"
#include "harness/prog_run.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"

namespace {

using namespace xdpgw;
using namespace xdpgw::test;

constexpr uint32_t kRepeat = 200'000;

const MacAddr kDst = mac("02:00:00:00:01:01");
const MacAddr kSrc = mac("02:00:00:00:01:02");
const Ipv4Fields kV4{.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")};
const Ipv6Fields kV6{.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")};

std::map<std::string, std::vector<uint8_t>> frames() {
  auto eth = [] { return FrameBuilder().eth(kDst, kSrc); };
  return {
      {"tcp4", eth().ipv4(kV4).tcp({.sport = 1000, .dport = 80}).payload(6).build()},
      {"udp4", eth().ipv4(kV4).udp({.sport = 1000, .dport = 53}).payload(18).build()},
      {"tcp6", eth().ipv6(kV6).tcp({.sport = 1000, .dport = 80}).build()},
      {"udp6_ext3", eth().ipv6(kV6).hop_by_hop().dest_opts().routing().udp({.sport = 1, .dport = 2}).build()},
      {"vlan_tcp4", eth().vlan(7).ipv4(kV4).tcp({.sport = 1, .dport = 2}).build()},
  };
}

// Datapath and baseline program, loaded once for the process.
struct Programs {
  Datapath dp{LoadOptions{}};
  UniqueFd baseline = load_constant_xdp_prog(XDP_PASS);
};
Programs& programs() {
  static Programs p;
  return p;
}

double ns_per_packet(int fd, const std::vector<uint8_t>& frame) {
  return prog_test_run(fd, frame, {.repeat = kRepeat}).duration_ns;
}

void BM_Dispatch(benchmark::State& state, std::string name) {
  auto frame = frames().at(name);
  auto& p = programs();
  double sum_ns = 0, sum_base = 0;
  for (auto _ : state) {
    sum_base += ns_per_packet(p.baseline.get(), frame);
    sum_ns += ns_per_packet(p.dp.dispatcher_fd(), frame);
  }
  double n = static_cast<double>(state.iterations());
  state.counters["ns_per_pkt"] = sum_ns / n;
  state.counters["baseline_ns"] = sum_base / n;
  state.counters["ratio_vs_xdp_pass"] = sum_base > 0 ? sum_ns / sum_base : 0;
  state.counters["Mpps_per_core"] = sum_ns > 0 ? 1e3 / (sum_ns / n) : 0;
  state.SetLabel("kernel BPF_PROG_TEST_RUN, repeat " + std::to_string(kRepeat) +
                 ", " + std::to_string(frame.size()) + "-byte frame");
}

// ---- ACL with a large prefix set --------------------------------------------
//
// Two datapaths with routing off on one port of a namespace of their own:
// `plain` has no policy, `acl` one rule denying a [[prefix_set]] of N random
// IPv4 prefixes (/24../32 in 10.0.0.0/8, a fifth of it listed; N = 0 is a single /24 rule instead).
// Frames come from a listed source (the rule drops it: XDP_DROP) and from an
// unlisted one inside the same /8 (it passes: the lookup walks the populated
// part of the trie and misses). Neither path rewrites the frame, so `repeat`
// is valid. The ratio compares with `plain` measured in the same iteration.

struct AclPrograms {
  Netns gw{"bd"};
  Netns peer{"bp"};
  VethPair port{gw, peer};
  Datapath plain{LoadOptions{}};
  Datapath acl{LoadOptions{}};
  std::size_t acl_prefixes = SIZE_MAX;  // what `acl` holds now
  config::Config acl_config;            // and the config it came from
  uint32_t listed = 0, unlisted = 0;    // source addresses (host order)

  AclPrograms() { apply_config(plain, config_with("")); }

  config::Config config_with(const std::string& policy) const {
    const std::string text = fmt::format(
        "[gateway]\ninstance = \"benchacl\"\n[[port]]\nname = \"{}\"\n"
        "[routing]\nsource = \"none\"\n{}",
        port.name_a(), policy);
    return config::validate(config::parse_string(text, "bench.toml").value(),
                            FixedInterfaces({{port.name_a(), static_cast<uint32_t>(port.ifindex_a())}}))
        .value();
  }

  void apply_config(Datapath& dp, const config::Config& cfg) {
    auto in = gw.enter();
    apply(dp, cfg);
  }

  // N random prefixes; `listed` is inside one of them, `unlisted` in none.
  void use_set(std::size_t n) {
    if (acl_prefixes == n) return;
    std::mt19937 rng(uint32_t(n) + 1);
    std::vector<std::pair<uint32_t, int>> set;
    std::string list;
    for (std::size_t i = 0; i < n; ++i) {
      const int len = 24 + int(rng() % 9);
      const uint32_t net = (0x0a000000u | (rng() & 0xffffff)) & (~uint32_t{0} << (32 - len));
      set.emplace_back(net, len);
      list += fmt::format("\"{}/{}\",", dotted(net), len);
    }
    auto is_listed = [&](uint32_t a) {
      for (const auto& [net, len] : set)
        if ((a & (~uint32_t{0} << (32 - len))) == net) return true;
      return false;
    };
    if (n == 0) {
      acl_config = config_with("[[acl]]\naction = \"deny\"\nsrc = \"10.1.2.0/24\"\n");
      listed = 0x0a010203;
    } else {
      acl_config = config_with(fmt::format(
          "[[prefix_set]]\nname = \"blocklist\"\nprefixes = [{}]\n"
          "[[acl]]\naction = \"deny\"\nsrc = \"@blocklist\"\n",
          list));
      const auto& [net, len] = set[n / 2];
      listed = net | (len == 32 ? 0 : rng() & (~uint32_t{0} >> len));
    }
    for (int tries = 0;; ++tries) {
      if (tries == 1000) throw std::runtime_error("no unlisted address found in 10.0.0.0/8");
      unlisted = 0x0a000000u | (rng() & 0xffffff);
      if (!is_listed(unlisted)) break;
    }
    apply_config(acl, acl_config);
    acl_prefixes = n;
  }

  void reapply() { apply_config(acl, acl_config); }

  static std::string dotted(uint32_t a) {
    return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
  }
};
AclPrograms& acl_programs() {
  static AclPrograms p;
  return p;
}

void BM_AclPrefixSet(benchmark::State& state, bool from_listed_source) {
  auto& p = acl_programs();
  const auto n = std::size_t(state.range(0));
  p.use_set(n);
  const uint32_t src = from_listed_source ? p.listed : p.unlisted;
  const auto frame = FrameBuilder()
                         .eth(kDst, kSrc)
                         .ipv4({.src = ipv4(AclPrograms::dotted(src)), .dst = kV4.dst})
                         .udp({.sport = 1000, .dport = 53})
                         .payload(18)
                         .build();
  const uint32_t want = from_listed_source ? XDP_DROP : XDP_PASS;
  if (prog_test_run(p.acl.dispatcher_fd(), frame, {}).action != want) {
    state.SkipWithError("the ACL did not give the expected verdict");
    return;
  }
  double sum_acl = 0, sum_plain = 0;
  for (auto _ : state) {
    sum_plain += ns_per_packet(p.plain.dispatcher_fd(), frame);
    sum_acl += ns_per_packet(p.acl.dispatcher_fd(), frame);
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["prefixes"] = double(n);
  state.counters["ns_per_pkt"] = sum_acl / iterations;
  state.counters["no_acl_ns"] = sum_plain / iterations;
  state.counters["ratio_vs_no_acl"] = sum_plain > 0 ? sum_acl / sum_plain : 0;
  state.SetLabel(from_listed_source ? "source listed: XDP_DROP" : "source not listed: XDP_PASS");
}

// What a reload with such a set costs: apply() of the whole config (the
// idle generation built from scratch, then the flip), against apply() of
// the same config without policy in the same iteration.
void BM_AclApply(benchmark::State& state) {
  auto& p = acl_programs();
  const auto n = std::size_t(state.range(0));
  p.use_set(n);  // parses and validates once; each iteration only applies
  const config::Config no_policy = p.config_with("");
  double sum_acl = 0, sum_plain = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    p.apply_config(p.plain, no_policy);
    auto t1 = std::chrono::steady_clock::now();
    p.reapply();
    auto t2 = std::chrono::steady_clock::now();
    sum_plain += std::chrono::duration<double, std::milli>(t1 - t0).count();
    sum_acl += std::chrono::duration<double, std::milli>(t2 - t1).count();
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["prefixes"] = double(n);
  state.counters["apply_ms"] = sum_acl / iterations;
  state.counters["no_acl_apply_ms"] = sum_plain / iterations;
  state.counters["ratio_vs_no_acl"] = sum_plain > 0 ? sum_acl / sum_plain : 0;
}

int register_all = [] {
  for (const auto& [name, frame] : frames())
    benchmark::RegisterBenchmark(("dispatch/" + name).c_str(), BM_Dispatch, name)
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
  for (bool listed : {true, false})
    benchmark::RegisterBenchmark(listed ? "acl/listed" : "acl/unlisted", BM_AclPrefixSet, listed)
        ->Arg(0)
        ->Arg(1'000)
        ->Arg(100'000)
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("acl/apply", BM_AclApply)
      ->Arg(0)
      ->Arg(1'000)
      ->Arg(100'000)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
