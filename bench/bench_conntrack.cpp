// Connection table from user space: what `xdpgw flows`, flow flushes and the
// AF_XDP pipeline's verdict writes cost, per operation, and what one entry
// costs in kernel memory.
//
// The table is an LRU_HASH with the datapath's own key and value
// (struct xdpgw_flow_key -> struct xdpgw_flow, bpf/include/xdpgw/shared.h),
// created here so every benchmark can start from a fresh one; at startup its
// type, key/value sizes and flags are compared with the conn_table of the
// real datapath object (loaded through Datapath), so a change to the real
// definition cannot leave this benchmark measuring something else.
// Sizes: XDPGW_CONN_TABLE_DEFAULT_SIZE (262144) and 2^20 (the "1M flows" the
// benchmarks issue asks about); the table is filled to its size.
//
// Counters (Google Benchmark prints seconds with SI prefixes, 1.2u = 1.2 us):
//   op_cost          seconds per operation (insert, lookup, delete, or per
//                    entry read by an iteration)
//   entries          entries the operation covered per iteration
//   resident         entries still present after inserting `entries`
//                    distinct keys: an LRU may evict before it is full (its
//                    free lists are per CPU), which would show here
//   memlock_bytes    the kernel's accounting of the map (memlock in
//                    /proc/self/fdinfo/<fd>: the map's allocation, which for
//                    a preallocated LRU does not change with the fill)
//   bytes_per_entry  memlock_bytes / max_entries
//   payload_bytes    key + value size: what an entry carries
//
// Times are the calling thread's CPU time, user + system (Google Benchmark's
// default CPU column): every operation is a bpf() syscall, the work is in
// the kernel, and CPU time does not grow when other jobs preempt us.
// Needs root (BPF maps).
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "datapath/datapath.hpp"
#include "harness/xdp.hpp"
#include "xdpgw/shared.h"

namespace {

using namespace xdpgw;

constexpr uint32_t kOneMillion = 1u << 20;

// Flow i: UDP 198.18.0.0/15 client (1024 source ports per address) -> VIP
// 198.18.100.1:80. Distinct for every i < 2^27.
xdpgw_flow_key flow_key(uint32_t i) {
  xdpgw_flow_key k{};
  const uint32_t client = (198u << 24 | 18u << 16) + (i >> 10);
  const uint32_t client_be = htonl(client);
  const uint32_t vip_be = htonl(198u << 24 | 18u << 16 | 100u << 8 | 1u);
  std::memcpy(k.src, &client_be, 4);
  std::memcpy(k.dst, &vip_be, 4);
  k.sport = htons(uint16_t(1024 + (i & 1023)));
  k.dport = htons(80);
  k.proto = IPPROTO_UDP;
  k.family = AF_INET;
  return k;
}

xdpgw_flow flow_value(uint32_t i) {
  xdpgw_flow v{};
  v.action = XDPGW_FLOW_LB_NAT;
  v.target_family = AF_INET;
  v.backend_id = i % 16;
  v.target_port = htons(80);
  const uint32_t backend_be = htonl(198u << 24 | 18u << 16 | 2u << 8 | (10u + i % 16));
  std::memcpy(v.target, &backend_be, 4);
  v.created_ns = 1'000'000'000ull + i;
  v.last_seen_ns = v.created_ns;
  v.packets = 1;
  v.bytes = 64;
  return v;
}

bpf_map_info map_info(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  check_errno(bpf_obj_get_info_by_fd(fd, &info, &len), "bpf_obj_get_info_by_fd(conn table)");
  return info;
}

// The datapath's conn_table definition, read from the loaded object once.
const bpf_map_info& datapath_conn_table() {
  static const bpf_map_info info = [] {
    test::ensure_bpffs_mounted();
    Datapath dp{LoadOptions{.conn_table_size = 1024}};
    return map_info(dp.conn_table_fd());
  }();
  return info;
}

UniqueFd create_table(uint32_t max_entries) {
  const bpf_map_info& real = datapath_conn_table();
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = real.map_flags);
  UniqueFd fd(check_errno(bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "xbn_conn", sizeof(xdpgw_flow_key),
                                         sizeof(xdpgw_flow), max_entries, &opts),
                          fmt::format("bpf_map_create(LRU_HASH, {} entries)", max_entries)));
  const bpf_map_info mine = map_info(fd.get());
  if (mine.type != real.type || mine.key_size != real.key_size ||
      mine.value_size != real.value_size || mine.map_flags != real.map_flags)
    throw std::logic_error(fmt::format(
        "benchmark table (type {} key {} value {} flags {:#x}) differs from the datapath's conn_table "
        "(type {} key {} value {} flags {:#x})",
        mine.type, mine.key_size, mine.value_size, mine.map_flags, real.type, real.key_size,
        real.value_size, real.map_flags));
  return fd;
}

// memlock of a map as the kernel accounts it (/proc/self/fdinfo/<fd>).
uint64_t memlock_bytes(int fd) {
  std::ifstream in(fmt::format("/proc/self/fdinfo/{}", fd));
  std::string key;
  while (in >> key) {
    if (key == "memlock:") {
      uint64_t bytes = 0;
      in >> bytes;
      return bytes;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  throw std::runtime_error(fmt::format("no memlock in /proc/self/fdinfo/{}", fd));
}

void insert_all(int fd, const std::vector<xdpgw_flow_key>& keys, const std::vector<xdpgw_flow>& values) {
  for (std::size_t i = 0; i < keys.size(); ++i)
    check_errno(bpf_map_update_elem(fd, &keys[i], &values[i], BPF_NOEXIST), "insert flow");
}

struct Flows {
  std::vector<xdpgw_flow_key> keys;
  std::vector<xdpgw_flow> values;
  std::vector<uint32_t> shuffled;  // a fixed random order of 0..n-1
};

const Flows& flows(uint32_t n) {
  static std::map<uint32_t, Flows> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  Flows f;
  f.keys.reserve(n);
  f.values.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    f.keys.push_back(flow_key(i));
    f.values.push_back(flow_value(i));
  }
  f.shuffled.resize(n);
  std::iota(f.shuffled.begin(), f.shuffled.end(), 0u);
  std::shuffle(f.shuffled.begin(), f.shuffled.end(), std::mt19937(42));
  return cache.emplace(n, std::move(f)).first->second;
}

// A table of n entries filled with flows 0..n-1, built once per size and
// shared by the read-only benchmarks.
struct FilledTable {
  UniqueFd fd;
  uint32_t resident = 0;
};
const FilledTable& filled(uint32_t n) {
  static std::map<uint32_t, FilledTable> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  const Flows& f = flows(n);
  FilledTable t{.fd = create_table(n)};
  insert_all(t.fd.get(), f.keys, f.values);
  xdpgw_flow v;
  for (const auto& k : f.keys) t.resident += bpf_map_lookup_elem(t.fd.get(), &k, &v) == 0;
  return cache.emplace(n, std::move(t)).first->second;
}

void per_op_counters(benchmark::State& state, uint64_t ops_per_iteration, int fd, uint32_t max_entries) {
  state.counters["entries"] = double(ops_per_iteration);
  state.counters["op_cost"] = benchmark::Counter(
      double(ops_per_iteration), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(ops_per_iteration));
  const uint64_t memlock = memlock_bytes(fd);
  state.counters["memlock_bytes"] = double(memlock);
  state.counters["bytes_per_entry"] = double(memlock) / max_entries;
  state.counters["payload_bytes"] = double(sizeof(xdpgw_flow_key) + sizeof(xdpgw_flow));
}

// Errors abort the benchmark with their message instead of timing failures.
template <typename F>
void guarded(benchmark::State& state, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void BM_ConnInsert(benchmark::State& state) {
  guarded(state, [&] {
    const auto n = uint32_t(state.range(0));
    const Flows& f = flows(n);
    uint32_t resident = 0;
    uint64_t memlock = 0;
    for (auto _ : state) {
      state.PauseTiming();
      UniqueFd fd = create_table(n);
      state.ResumeTiming();
      insert_all(fd.get(), f.keys, f.values);
      state.PauseTiming();
      xdpgw_flow v;
      resident = 0;
      for (const auto& k : f.keys) resident += bpf_map_lookup_elem(fd.get(), &k, &v) == 0;
      memlock = memlock_bytes(fd.get());
      state.ResumeTiming();
    }
    const UniqueFd empty = create_table(n);
    per_op_counters(state, n, empty.get(), n);
    state.counters["resident"] = double(resident);
    // The same map full and empty: a preallocated LRU costs its memory up front.
    state.counters["memlock_bytes_full"] = double(memlock);
  });
}

void BM_ConnLookup(benchmark::State& state) {
  guarded(state, [&] {
    const auto n = uint32_t(state.range(0));
    const Flows& f = flows(n);
    const FilledTable& t = filled(n);
    xdpgw_flow v;
    for (auto _ : state) {
      // Random order: what lookups by flow id from a CLI or the pipeline do.
      for (uint32_t i : f.shuffled) benchmark::DoNotOptimize(bpf_map_lookup_elem(t.fd.get(), &f.keys[i], &v));
    }
    per_op_counters(state, n, t.fd.get(), n);
    state.counters["resident"] = double(t.resident);
  });
}

void BM_ConnUpdateExisting(benchmark::State& state) {
  guarded(state, [&] {
    const auto n = uint32_t(state.range(0));
    const Flows& f = flows(n);
    // Its own table: writing into the shared one would change what others read.
    UniqueFd fd = create_table(n);
    insert_all(fd.get(), f.keys, f.values);
    for (auto _ : state) {
      // The pipeline offloading a verdict onto a flow XDP already created.
      for (uint32_t i : f.shuffled) benchmark::DoNotOptimize(bpf_map_update_elem(fd.get(), &f.keys[i], &f.values[i], BPF_ANY));
    }
    per_op_counters(state, n, fd.get(), n);
  });
}

void BM_ConnDelete(benchmark::State& state) {
  guarded(state, [&] {
    const auto n = uint32_t(state.range(0));
    const Flows& f = flows(n);
    uint64_t deleted = 0;
    for (auto _ : state) {
      state.PauseTiming();
      UniqueFd fd = create_table(n);
      insert_all(fd.get(), f.keys, f.values);
      state.ResumeTiming();
      deleted = 0;
      for (uint32_t i : f.shuffled) deleted += bpf_map_delete_elem(fd.get(), &f.keys[i]) == 0;
    }
    const UniqueFd empty = create_table(n);
    per_op_counters(state, n, empty.get(), n);
    state.counters["deleted"] = double(deleted);  // = resident: evicted keys are not there to delete
  });
}

// Full walk with one get_next_key and one lookup per entry: the simple way
// to list every flow, two syscalls per entry.
void BM_ConnIterate(benchmark::State& state) {
  guarded(state, [&] {
    const auto n = uint32_t(state.range(0));
    const FilledTable& t = filled(n);
    uint64_t seen = 0;
    for (auto _ : state) {
      seen = 0;
      xdpgw_flow_key key{}, next{};
      xdpgw_flow v;
      const void* prev = nullptr;  // nullptr: start from the first key
      while (bpf_map_get_next_key(t.fd.get(), prev, &next) == 0) {
        if (bpf_map_lookup_elem(t.fd.get(), &next, &v) == 0) ++seen;
        key = next;
        prev = &key;
      }
      if (errno != ENOENT) throw_errno(errno, "bpf_map_get_next_key(conn table)");
    }
    per_op_counters(state, seen, t.fd.get(), n);
  });
}

// Full walk with BPF_MAP_LOOKUP_BATCH, `batch` entries per syscall: what
// `xdpgw flows` should use.
void BM_ConnLookupBatch(benchmark::State& state) {
  guarded(state, [&] {
    const auto n = uint32_t(state.range(0));
    const auto batch = uint32_t(state.range(1));
    const FilledTable& t = filled(n);
    std::vector<xdpgw_flow_key> keys(batch);
    std::vector<xdpgw_flow> values(batch);
    uint64_t seen = 0;
    for (auto _ : state) {
      seen = 0;
      // The batch token of a hash map is a bucket index; libbpf wants room
      // for a key.
      xdpgw_flow_key in_batch{}, out_batch{};
      bool first = true;
      for (;;) {
        uint32_t count = batch;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        const int rc = bpf_map_lookup_batch(t.fd.get(), first ? nullptr : &in_batch, &out_batch,
                                            keys.data(), values.data(), &count, &opts);
        const int err = rc < 0 ? errno : 0;
        seen += count;
        if (err == ENOENT) break;  // the last, possibly partial, batch
        if (err != 0) throw_errno(err, fmt::format("bpf_map_lookup_batch(conn table, {} per call)", batch));
        in_batch = out_batch;
        first = false;
      }
    }
    per_op_counters(state, seen, t.fd.get(), n);
  });
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(XDPGW_CONN_TABLE_DEFAULT_SIZE)->Arg(kOneMillion)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ConnInsert)->Apply(sizes);
BENCHMARK(BM_ConnLookup)->Apply(sizes);
BENCHMARK(BM_ConnUpdateExisting)->Apply(sizes);
BENCHMARK(BM_ConnDelete)->Apply(sizes);
BENCHMARK(BM_ConnIterate)->Apply(sizes);
BENCHMARK(BM_ConnLookupBatch)
    ->ArgsProduct({{XDPGW_CONN_TABLE_DEFAULT_SIZE, kOneMillion}, {256, 4096, 65536}})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
