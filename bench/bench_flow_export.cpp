// The flow exporter's CPU per record: a flow cache (LRU_PERCPU_HASH of the
// datapath's key and value, created here, not the datapath's) holding N
// flows, each with packets on every CPU; one scan that finds every flow
// due (active timeout 0: records leave, entries stay) and the encoding of
// its records as IPFIX messages. Reported per 100k flows: the CPU the
// daemon spends each time 100k flows' records leave. Needs root (BPF maps).
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/fd.hpp"
#include "flow_export/encoder.hpp"
#include "flow_export/scanner.hpp"

namespace xdpgw::flow_export {
namespace {

UniqueFd make_cache(uint32_t flows) {
  const int fd = bpf_map_create(BPF_MAP_TYPE_LRU_PERCPU_HASH, "bench_fe", sizeof(xdpgw_fe_key),
                                sizeof(xdpgw_fe_value), flows + flows / 4, nullptr);
  if (fd < 0) throw std::runtime_error("bpf_map_create: " + std::string(strerror(errno)));
  UniqueFd map(fd);
  const int ncpus = libbpf_num_possible_cpus();
  std::vector<xdpgw_fe_value> values(static_cast<std::size_t>(ncpus));
  for (auto& v : values) v = {.packets = 10, .bytes = 1000, .first_ns = 1, .last_ns = 2,
                              .egress_ifindex = 3, .tcp_flags = 0x10, .fwd_reason = XDPGW_R_FWD_REDIRECT, .pad = 0};
  for (uint32_t i = 0; i < flows; ++i) {
    xdpgw_fe_key k{};
    k.flow.family = AF_INET;
    k.flow.proto = IPPROTO_UDP;
    std::memcpy(k.flow.src, &i, 4);
    k.flow.dst[0] = 198;
    k.flow.sport = htons(1000);
    k.flow.dport = htons(53);
    k.ingress_ifindex = 2;
    if (bpf_map_update_elem(map.get(), &k, values.data(), BPF_ANY) != 0)
      throw std::runtime_error("fill: " + std::string(strerror(errno)));
  }
  return map;
}

void BM_ScanAndEncode(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  UniqueFd cache = make_cache(flows);
  const ScanTimeouts t{.active = std::chrono::nanoseconds(0), .inactive = std::chrono::hours(1)};
  uint64_t now = 1'000'000'000'000;
  for (auto _ : state) {
    // A fresh scanner each time: every flow's counts are new to it, so every
    // flow yields a record (as after each active timeout).
    Scanner scanner(cache.get(), -1);
    Encoder encoder(Format::kIpfix, 1, 1, 0);
    const auto records = scanner.scan(now, now / 1'000'000, t);
    const auto messages = encoder.encode(records, now / 1'000'000, true);
    benchmark::DoNotOptimize(messages.data());
    if (records.size() != flows) state.SkipWithError("not every flow exported");
    now += 1'000'000'000;
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * flows);
  state.counters["cpu_s_per_100k_flows"] = benchmark::Counter(
      double(flows) / 100'000.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ScanAndEncode)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace xdpgw::flow_export

BENCHMARK_MAIN();
