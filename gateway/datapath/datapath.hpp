// RAII owner of the loaded xdpgw BPF object: programs, maps, the handler
// PROG_ARRAY, pins and XDP attachments. Thin: open, size, load, attach,
// typed map access. What to write into the maps is decided elsewhere
// (apply.cpp); this class only knows how.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "datapath/abi.hpp"

struct xdpgw_skel;  // bpftool-generated skeleton (bpf/xdpgw.skel.h)

namespace xdpgw {

enum class AttachMode { kNative, kGeneric };

struct LoadOptions {
  // Directory the maps are pinned in; empty = no pins (tests).
  std::filesystem::path pin_dir;
};

class Datapath {
 public:
  explicit Datapath(const LoadOptions& opts);
  Datapath(Datapath&&) noexcept;
  Datapath& operator=(Datapath&&) noexcept;
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;
  ~Datapath();

  // Attaches the dispatcher to an interface of the current network
  // namespace through a bpf_link (closing it detaches).
  void attach(uint32_t ifindex, AttachMode mode);
  void detach(uint32_t ifindex);
  bool attached(uint32_t ifindex) const { return links_.contains(ifindex); }

  int dispatcher_fd() const;
  int handler_fd(xdpgw_slot slot) const;
  int cpu_stage_fd() const;
  uint32_t dispatcher_id() const;

  // Raw map fds, for typed helpers and tests.
  int handlers_fd() const;
  int verdict_stats_fd() const;
  int handler_stats_fd() const;
  int settings_fd() const;
  int tx_ports_fd() const;
  int ports_fd() const;
  int routes_v4_fd() const;
  int routes_v6_fd() const;
  int nexthops_fd() const;
  int local_addrs_fd() const;
  int cpu_map_fd() const;
  int cpu_targets_fd() const;

  // Empties a handler slot (tests use it to exercise the missed-tail-call
  // path) or puts the real handler back.
  void clear_handler(xdpgw_slot slot);
  void install_handler(xdpgw_slot slot);

  void write_settings(const xdpgw_settings& s);
  xdpgw_settings read_settings() const;

  const std::filesystem::path& pin_dir() const { return pin_dir_; }

 private:
  struct SkeletonDeleter {
    void operator()(::xdpgw_skel* skel) const noexcept;
  };
  std::unique_ptr<::xdpgw_skel, SkeletonDeleter> skel_;
  std::filesystem::path pin_dir_;
  std::map<uint32_t, UniqueFd> links_;  // ifindex -> bpf_link fd

  void pin_maps();
  void unpin_maps() noexcept;
};

// Per-CPU counter maps (verdict_stats, handler_stats) read as one value per
// CPU, and summed.
std::vector<xdpgw_counter> read_percpu_counter(int map_fd, uint32_t key);
xdpgw_counter sum(const std::vector<xdpgw_counter>& per_cpu);

// All verdict reasons summed over CPUs, indexed by enum xdpgw_reason.
std::array<xdpgw_counter, XDPGW_R_COUNT> read_verdicts(int verdict_stats_fd);

}  // namespace xdpgw
