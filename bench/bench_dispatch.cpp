// Per-packet cost of the dispatcher + handler parse path, through
// BPF_PROG_TEST_RUN with `repeat` and the kernel's own per-run timing.
// Only non-rewriting paths are timed (route source "none": every packet is
// parsed, tail-called and passed unmodified), because repeat reuses the
// frame (PLATFORM.md). Each figure is also reported as a ratio against a
// baseline measured in the same run: an XDP program that only returns
// XDP_PASS, so machine noise cancels out.
#include <benchmark/benchmark.h>
#include <linux/bpf.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "datapath/datapath.hpp"
#include "harness/frame.hpp"
#include "harness/prog_run.hpp"
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

int register_all = [] {
  for (const auto& [name, frame] : frames())
    benchmark::RegisterBenchmark(("dispatch/" + name).c_str(), BM_Dispatch, name)
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
