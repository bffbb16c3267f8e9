// Maglev table build and lookup, in user space (lb/ is pure computation).
//
// Each figure is also reported as a ratio against a baseline measured in the
// same iteration, so machine noise and frequency scaling cancel out:
//   build:  a plain std::vector<uint32_t> of M entries filled round-robin
//           (slot % N): allocating and writing the table, no hashing, no
//           permutation walk. The ratio is what Maglev costs over that floor.
//   lookup: the same loop over the same 1M flow hashes summing the hashes
//           themselves: reading the keys, no table access. The ratio is
//           what the modulo and the table read cost.
// The benchmark time is the Maglev part only (manual time), measured as the
// thread's CPU time rather than wall time: this is pure computation (no I/O,
// no sleeping), so CPU time is its cost, and unlike wall time it does not
// grow when other jobs preempt the benchmark on a shared machine.
#include <benchmark/benchmark.h>
#include <time.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lb/maglev.hpp"

namespace {

using xdpgw::lb::Backend;

constexpr uint32_t kTableSize = xdpgw::lb::kDefaultTableSize;
constexpr int kLookupKeys = 1'000'000;

std::vector<Backend> pool(int count, bool weighted) {
  std::vector<Backend> backends;
  backends.reserve(count);
  for (int i = 0; i < count; ++i) {
    backends.push_back({.id = "198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":80",
                        // Weighted: 1..count, so backends take turns at
                        // different rates and the turn order is not a plain
                        // round-robin.
                        .weight = weighted ? uint32_t(i + 1) : 1u});
  }
  return backends;
}

// CPU time this thread has used, user and system (page faults included).
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return double(now.tv_sec) + double(now.tv_nsec) * 1e-9;
}

void BM_MaglevBuild(benchmark::State& state, bool weighted) {
  const int backend_count = int(state.range(0));
  const auto backends = pool(backend_count, weighted);
  double build_s = 0, baseline_s = 0;
  for (auto _ : state) {
    const double baseline_start = thread_cpu_seconds();
    std::vector<uint32_t> plain(kTableSize);
    for (uint32_t slot = 0; slot < kTableSize; ++slot) plain[slot] = slot % uint32_t(backend_count);
    benchmark::DoNotOptimize(plain.data());
    benchmark::ClobberMemory();
    const double baseline = thread_cpu_seconds() - baseline_start;

    const double build_start = thread_cpu_seconds();
    auto table = xdpgw::lb::build_maglev_table(backends, kTableSize);
    benchmark::DoNotOptimize(table.data());
    benchmark::ClobberMemory();
    const double build = thread_cpu_seconds() - build_start;

    state.SetIterationTime(build);
    build_s += build;
    baseline_s += baseline;
  }
  const double n = double(state.iterations());
  state.counters["build_ms"] = build_s / n * 1e3;
  state.counters["baseline_fill_us"] = baseline_s / n * 1e6;
  state.counters["ratio_vs_vector_fill"] = baseline_s > 0 ? build_s / baseline_s : 0;
  state.SetLabel("M=" + std::to_string(kTableSize) + (weighted ? ", weights 1..N" : ", equal weights"));
}

void BM_MaglevLookup(benchmark::State& state) {
  const int backend_count = int(state.range(0));
  const auto table = xdpgw::lb::build_maglev_table(pool(backend_count, false), kTableSize);
  std::mt19937_64 rng(1);
  std::vector<uint64_t> flow_hashes(kLookupKeys);
  for (auto& hash : flow_hashes) hash = rng();

  double lookup_s = 0, baseline_s = 0;
  for (auto _ : state) {
    const double baseline_start = thread_cpu_seconds();
    uint64_t key_sum = 0;
    for (uint64_t hash : flow_hashes) key_sum += hash;
    benchmark::DoNotOptimize(key_sum);
    const double baseline = thread_cpu_seconds() - baseline_start;

    const double lookup_start = thread_cpu_seconds();
    uint64_t backend_sum = 0;
    for (uint64_t hash : flow_hashes) backend_sum += xdpgw::lb::lookup(table, hash);
    benchmark::DoNotOptimize(backend_sum);
    const double lookup = thread_cpu_seconds() - lookup_start;

    state.SetIterationTime(lookup);
    lookup_s += lookup;
    baseline_s += baseline;
  }
  const double lookups = double(state.iterations()) * kLookupKeys;
  state.counters["Mlookups_per_s"] = lookup_s > 0 ? lookups / lookup_s / 1e6 : 0;
  state.counters["ns_per_lookup"] = lookup_s / lookups * 1e9;
  state.counters["baseline_ns_per_key"] = baseline_s / lookups * 1e9;
  state.counters["ratio_vs_key_sum"] = baseline_s > 0 ? lookup_s / baseline_s : 0;
  state.SetItemsProcessed(int64_t(lookups));
  state.SetLabel("M=" + std::to_string(kTableSize) + ", 1M uniform flow hashes");
}

BENCHMARK_CAPTURE(BM_MaglevBuild, equal, false)
    ->Arg(10)->Arg(100)->Arg(1000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MaglevBuild, weighted, true)
    ->Arg(10)->Arg(100)->Arg(1000)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MaglevLookup)->Arg(100)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
