// Per-program cost under real traffic from the kernel's BPF run-time stats:
// with stats on, every run of a BPF program adds its duration to the
// program's run_time_ns and 1 to run_cnt (bpf_prog_info). The difference
// over a measurement, divided, is the program's own ns per packet, whatever
// else (generator, veth, sink) the path spends: the figure to compare when
// the generator, not the gateway, limits the rate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/fd.hpp"

namespace xdpgw::bench {

struct ProgStats {
  uint32_t id = 0;
  std::string name;
  uint64_t run_time_ns = 0;  // summed over every run since load (while stats were on)
  uint64_t run_cnt = 0;
};

// The stats of program `id` (bpf_prog_get_fd_by_id + bpf_obj_get_info_by_fd),
// nullopt when no such program exists any more. Throws std::system_error on
// other errors.
std::optional<ProgStats> read_prog_stats(uint32_t id);

// Run-time stats on while it exists. Uses BPF_ENABLE_STATS, whose fd keeps
// them on for as long as it is open: the kernel switches them off again
// when the fd closes, also when this process is killed, and leaves the
// kernel.bpf_stats_enabled sysctl of whoever else set it alone. Falls back
// to writing the sysctl (restored by the destructor) on kernels without
// BPF_ENABLE_STATS. Costs every BPF program two clock reads per run while on.
class BpfStatsEnabled {
 public:
  BpfStatsEnabled();
  BpfStatsEnabled(const BpfStatsEnabled&) = delete;
  BpfStatsEnabled& operator=(const BpfStatsEnabled&) = delete;
  ~BpfStatsEnabled();

  // How stats were switched on, for the report.
  std::string method() const;
  // Whether this object holds stats on (false while paused, or when
  // switching them on again failed). The kernel.bpf_stats_enabled sysctl
  // cannot tell: it reads back what was written to it, not whether a
  // BPF_ENABLE_STATS fd holds stats on.
  bool active() const { return stats_fd_.get() >= 0 || previous_sysctl_.has_value(); }
  // Off while a Paused lives (unless someone else keeps them on: a program
  // that still counts runs shows it), then on again.
  class Paused {
   public:
    explicit Paused(BpfStatsEnabled& stats);
    Paused(const Paused&) = delete;
    Paused& operator=(const Paused&) = delete;
    ~Paused();

   private:
    BpfStatsEnabled& stats_;
  };

 private:
  void enable();
  void disable() noexcept;

  UniqueFd stats_fd_;
  std::optional<std::string> previous_sysctl_;  // set when the sysctl was written
};

}  // namespace xdpgw::bench
