// Reads the datapath's flow cache (flow_cache, struct xdpgw_fe_key in
// shared.h), merges each flow's per-CPU values and decides which flows'
// records leave now:
//  - TCP FIN or RST seen and no packet for kFinGrace: end of flow, deleted;
//  - no packet for inactive_timeout: idle, deleted;
//  - active_timeout since the flow's last record: what it counted since then,
//    kept.
// Counts already exported are remembered per flow, so every record carries
// a delta. An entry the LRU evicted and XDP created again counts from zero:
// its record starts again (what the evicted entry counted after its last
// export is lost; `evictions_seen` counts how often that was noticed).
// Load-balancer NAT flows get their pre-translation addresses from the
// connection table (conn_table), which the flow cache's key does not have.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "flow_export/encoder.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::flow_export {

struct ScanTimeouts {
  std::chrono::nanoseconds active{std::chrono::seconds(60)};
  std::chrono::nanoseconds inactive{std::chrono::seconds(15)};
};

// A TCP flow with FIN/RST seen is exported once quiet this long: the last
// ACKs of the close still belong to it.
inline constexpr std::chrono::nanoseconds kFinGrace = std::chrono::seconds(1);

struct ScanStats {
  uint64_t scans = 0;
  uint64_t flows_seen = 0;      // entries in the cache at the last scan
  uint64_t flows_ended = 0;     // deleted after their last record
  uint64_t evictions_seen = 0;  // entries whose counts went backwards
  uint64_t map_errors = 0;      // lookups/deletes the kernel refused
};

class Scanner {
 public:
  // fds are the Datapath's (not owned). conn_table_fd may be -1.
  Scanner(int flow_cache_fd, int conn_table_fd);

  // One pass over the cache at monotonic time `now_mono` (CLOCK_MONOTONIC,
  // bpf_ktime_get_ns's clock); `now_epoch_ms` converts its timestamps.
  // `flush`: every flow with uncounted packets leaves (exporter stopping).
  std::vector<FlowRecord> scan(uint64_t now_mono_ns, uint64_t now_epoch_ms,
                               const ScanTimeouts& t, bool flush = false);

  // Forgets and deletes every cached flow (export switched off).
  void clear();

  const ScanStats& stats() const { return stats_; }

 private:
  struct Exported {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t period_start_ns = 0;  // first packet the next record counts
  };
  struct KeyHash {
    std::size_t operator()(const xdpgw_fe_key& k) const noexcept;
  };
  struct KeyEq {
    bool operator()(const xdpgw_fe_key& a, const xdpgw_fe_key& b) const noexcept;
  };
  using Exports = std::unordered_map<xdpgw_fe_key, Exported, KeyHash, KeyEq>;
  void add_nat(FlowRecord& r, const xdpgw_fe_key& key, uint8_t fwd_reason) const;
  // Every entry of the cache: keys, and each key's per-CPU values.
  void read_all(std::vector<xdpgw_fe_key>& keys, std::vector<uint8_t>& values);

  int flow_cache_fd_;
  int conn_table_fd_;
  unsigned ncpus_;
  bool batch_ok_ = true;
  Exports exported_;
  ScanStats stats_;
};

}  // namespace xdpgw::flow_export
