// The real `xdpgw run` daemon in a gateway namespace, run the way users run
// it (scripts/demo.sh): `xdpgw run -c CONFIG --netns NS --fresh`, stopped
// with SIGTERM then `xdpgw stop --instance INSTANCE --detach`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "harness/child_process.hpp"

namespace xdpgw::bench {

// Connection-table inserts XDP counted (conn_stats), summed over CPUs.
struct ConnStats {
  uint64_t inserted = 0;
  uint64_t insert_raced = 0;
};

// A map's kernel memory as its fdinfo reports it, and how full it is.
struct MapMemory {
  uint32_t map_type = 0;
  uint32_t max_entries = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint64_t memlock = 0;  // bytes charged for the map (memcg accounted on 6.18)
  uint64_t entries = 0;  // keys present, counted by iterating
};

// A process's resident memory (/proc/PID/status VmRSS, VmHWM), bytes.
struct ProcessMemory {
  uint64_t rss = 0;
  uint64_t peak_rss = 0;
};

class XdpgwDaemon {
 public:
  // Writes `config_toml` to work_dir/INSTANCE.toml, starts the daemon with
  // its log in work_dir/INSTANCE.log and waits (bounded) until it logs that
  // it is running. The config must name `instance`. Throws with the log when
  // the daemon exits or does not get there.
  XdpgwDaemon(const std::filesystem::path& xdpgw_binary, const std::string& netns,
              const std::string& instance, const std::string& config_toml,
              const std::filesystem::path& work_dir);
  XdpgwDaemon(const XdpgwDaemon&) = delete;
  XdpgwDaemon& operator=(const XdpgwDaemon&) = delete;
  // SIGTERM (XDP stays attached, maps pinned), then `stop --detach` (XDP
  // off, pins gone), then the instance's lock file.
  ~XdpgwDaemon();

  const std::string& instance() const noexcept { return instance_; }

  // Packets per verdict reason (summed over CPUs), by reason name, from the
  // pinned verdict_stats map. Zero counts are left out.
  std::map<std::string, uint64_t> verdicts() const;

  // From the pinned conn_stats map; nullopt when the build has none.
  std::optional<ConnStats> conn_stats() const;
  // A pinned map of the instance ("conn_table", "snat_flows"): fdinfo of an
  // fd opened on the pin, plus its keys counted (one syscall per key:
  // seconds for millions). nullopt when it is not pinned.
  std::optional<MapMemory> map_memory(std::string_view pin_name) const;
  // The daemon process's memory; nullopt once it is gone.
  std::optional<ProcessMemory> memory() const;

  // `xdpgw stats --instance INSTANCE` as the CLI prints it.
  std::string stats_text() const;
  // The AF_XDP pipeline's packet counters ("rx", "forwarded", "dropped",
  // "tx_ring_full", ...) from `xdpgw status --instance INSTANCE --json`; empty when
  // the daemon runs no pipeline. Throws when the CLI fails.
  std::map<std::string, uint64_t> pipeline_packets() const;

 private:
  void stop_and_detach() noexcept;

  std::filesystem::path binary_;
  std::string instance_;
  std::filesystem::path log_;
  // Size of the log before this daemon started: the log is appended to, and
  // an earlier daemon of the same instance name (another scenario of the
  // same run) already wrote "running" into it.
  std::uintmax_t log_start_;
  test::ChildProcess process_;
  UniqueFd verdict_stats_;
  UniqueFd conn_stats_;  // invalid when not pinned
};

}  // namespace xdpgw::bench
