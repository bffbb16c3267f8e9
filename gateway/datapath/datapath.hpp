// RAII owner of the loaded xdpgw BPF object: programs, maps, the handler
// PROG_ARRAY, config generations, pins and XDP attachments. Thin: open,
// adopt pins, load, attach, typed map access. What to write into the maps is
// decided elsewhere (apply.cpp); this class only knows how.
//
// Lifetime across daemon restarts: with a pin dir, every map and every XDP
// bpf_link is pinned there. Destroying a Datapath closes its handles but
// leaves the pins, so XDP keeps forwarding with the last config while no
// daemon runs; the next Datapath on the same pin dir adopts the maps (their
// contents, counters included) and atomically moves the links to its new
// programs. remove_everything() is the explicit teardown.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "datapath/abi.hpp"

struct xdpgw_skel;  // bpftool-generated skeleton (bpf/xdpgw.skel.h)
struct bpf_map;

namespace xdpgw {

enum class AttachMode { kNative, kGeneric };

struct LoadOptions {
  // Directory the maps and links are pinned in (and adopted from, when it
  // holds pins). Empty = no pins at all (tests, benchmarks).
  std::filesystem::path pin_dir;
  // Entries of the shared connection table (LRU). Fixed for the lifetime of
  // the pins: adopting a table of another size is refused (--fresh).
  uint32_t conn_table_size = XDPGW_CONN_TABLE_DEFAULT_SIZE;
  // Entries of the embryonic-flow table (LRU; shared.h, xdpgw_embryonic).
  // Fixed like conn_table_size.
  uint32_t embryonic_table_size = XDPGW_EMBRYONIC_TABLE_DEFAULT_SIZE;
  // Optional kernel features the programs may use (XDPGW_FEAT_*, from the
  // kernel probe); the code behind a cleared bit is never verified.
  uint32_t features = XDPGW_FEAT_ALL;
  // Where the whole libbpf/verifier log goes when the object fails to load
  // (the exception carries the refused program and the verifier's last
  // lines). Empty: nowhere.
  std::filesystem::path load_log;
};

// One config generation's tables: the inner maps of the cfg_* ARRAY_OF_MAPS
// at one index. Nothing but fds: datapath.cpp binds each member to its outer
// map in one table (kGenerationTables) and checks every member is bound.
struct ConfigTables {
  UniqueFd settings;
  UniqueFd routes4;
  UniqueFd routes6;
  UniqueFd nexthops;
  UniqueFd local;
  UniqueFd cpus;
  UniqueFd vips;
  UniqueFd backends;
  UniqueFd lb;
  UniqueFd punt;
  // policy (bpf/lib/policy.h)
  UniqueFd policy;
  UniqueFd acl_src4;
  UniqueFd acl_dst4;
  UniqueFd acl_src6;
  UniqueFd acl_dst6;
  UniqueFd acl_rules;
  UniqueFd rl_src4;
  UniqueFd rl_src6;
  UniqueFd rl_classes;
  // source NAT (bpf/lib/snat.h)
  UniqueFd snat;
  UniqueFd inbound;
};

class Datapath {
 public:
  explicit Datapath(const LoadOptions& opts);
  Datapath(Datapath&&) noexcept;
  Datapath& operator=(Datapath&&) noexcept;
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;
  ~Datapath();

  // True when this Datapath took over pinned maps of an earlier run.
  bool adopted() const { return adopted_; }
  // The optional features its programs were loaded with (XDPGW_FEAT_*).
  uint32_t features() const { return features_; }

  // ---- config generations ----
  uint32_t active_generation() const;
  // Creates empty tables for the generation not in use and installs them in
  // the outer maps (replacing what was there). Nothing reads them until
  // activate(); filling them is the caller's job.
  struct Staged {
    uint32_t gen;
    ConfigTables tables;
  };
  Staged stage_generation();
  // Packets steered under `gen` that its CPUMAP second stage has not begun.
  uint64_t queued_in(uint32_t gen) const;
  // Waits (up to 1 s) until no packet steered under `gen` waits in its
  // CPUMAP queues. stage_generation() calls it before replacing gen's tables.
  void drain_generation(uint32_t gen);
  // One map update: packets arriving from now on follow `gen`.
  void activate(uint32_t gen);
  // The tables installed for `gen` (fresh fds on the same maps).
  ConfigTables tables_of(uint32_t gen) const;

  // ---- XDP attachments (bpf_links, pinned as link_<ifindex>) ----
  // Attaches the dispatcher to an interface of the current network
  // namespace, or, when a pinned link for it exists, moves that link to this
  // Datapath's dispatcher atomically (no packet sees no program).
  void attach(uint32_t ifindex, AttachMode mode);
  // Detaches and removes the link's pin.
  void detach(uint32_t ifindex);
  bool attached(uint32_t ifindex) const { return links_.contains(ifindex); }
  // ifindexes of pinned links found in the pin dir (attached by an earlier
  // run or this one).
  std::vector<uint32_t> pinned_links() const;
  // Detaches every link and removes every pin and the pin dir. The kernel
  // frees the maps once the last handle closes.
  void remove_everything();

  int dispatcher_fd() const;
  int handler_fd(xdpgw_slot slot) const;
  // The CPUMAP second stage of generation `gen`, and that generation's
  // CPUMAP (bpf/lib/maps.h).
  int cpu_stage_fd(uint32_t gen) const;
  uint32_t dispatcher_id() const;

  // Maps that are not generational.
  int handlers_fd() const;
  int verdict_stats_fd() const;
  int handler_stats_fd() const;
  int active_gen_fd() const;
  int tx_ports_fd() const;
  int cpu_map_fd(uint32_t gen) const;
  // Kernel routes (routing.source = "kernel"), written by the route mirror.
  int kr_routes4_fd() const;
  int kr_routes6_fd() const;
  int kr_nexthops_fd() const;
  int conn_table_fd() const;
  int conn_stats_fd() const;
  int embryonic_fd() const;
  int flow_cache_fd() const;  // flow export (shared.h, struct xdpgw_fe_key)
  int flow_cfg_fd() const;
  int lb_flow_cache_fd() const;
  // Hits each CPU's LB flow cache holds that conn_table does not count yet
  // (shared.h, struct xdpgw_lb_cache_slot): a flow's packets and bytes are
  // its conn_table entry's plus these. One entry per cached slot and CPU.
  struct CachedCounts {
    xdpgw_flow_key key;
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  std::vector<CachedCounts> cached_flow_counts() const;
  int lb_rings_fd() const;
  int vip_stats_fd() const;
  int synproxy_stats_fd() const;   // per CPU, by VIP id (xdpgw_synproxy_counter)
  int synproxy_active_fd() const;  // by VIP id: cookies on for a synproxy "auto" VIP
  int backend_stats_fd() const;
  int xsks_fd() const;
  int events_fd() const;
  int capture_events_fd() const;
  int capture_cfg_fd() const;
  int capture_stats_fd() const;
  int event_stats_fd() const;
  int xsk_slots_fd() const;
  int rl_buckets_fd() const;
  int rl_stats_fd() const;
  int acl_stats_fd() const;
  // Source NAT: live translations, port owners, counters (shared.h).
  int snat_flows_fd() const;
  int snat_ports_fd() const;
  int snat_stats_fd() const;
  // Zeroes these acl_stats slots on every CPU (a rule new to them starts
  // from 0; config::keep_acl_stats_slots says which).
  void reset_acl_stats(std::span<const uint32_t> slots) const;

  // The active generation's tables (what packets use now).
  int settings_fd() const { return active_.settings.get(); }
  int routes_v4_fd() const { return active_.routes4.get(); }
  int routes_v6_fd() const { return active_.routes6.get(); }
  int nexthops_fd() const { return active_.nexthops.get(); }
  int local_addrs_fd() const { return active_.local.get(); }
  int cpu_targets_fd() const { return active_.cpus.get(); }
  int vips_fd() const { return active_.vips.get(); }
  int backends_fd() const { return active_.backends.get(); }
  int lb_settings_fd() const { return active_.lb.get(); }
  int punt_rules_fd() const { return active_.punt.get(); }
  int policy_fd() const { return active_.policy.get(); }
  int acl_src4_fd() const { return active_.acl_src4.get(); }
  int acl_dst4_fd() const { return active_.acl_dst4.get(); }
  int acl_src6_fd() const { return active_.acl_src6.get(); }
  int acl_dst6_fd() const { return active_.acl_dst6.get(); }
  int acl_rules_fd() const { return active_.acl_rules.get(); }
  int rl_src4_fd() const { return active_.rl_src4.get(); }
  int rl_src6_fd() const { return active_.rl_src6.get(); }
  int rl_classes_fd() const { return active_.rl_classes.get(); }
  int snat_rules_fd() const { return active_.snat.get(); }

  // ---- Maglev rings (lb_rings, map-in-map) ----
  // Creates a table of entries.size() positions (backend ids) and installs
  // it at `slot` with one update: packets see the old table or the new one.
  void install_ring(uint32_t slot, std::span<const uint32_t> entries);
  void remove_ring(uint32_t slot);
  // The backend ids of the table at `slot`; empty when none is installed.
  std::vector<uint32_t> read_ring(uint32_t slot) const;

  // Empties a handler slot (tests use it to exercise the missed-tail-call
  // path) or puts the real handler back.
  void clear_handler(xdpgw_slot slot);
  void install_handler(xdpgw_slot slot);

  // Settings of the active generation, changed in place.
  void write_settings(const xdpgw_settings& s);
  xdpgw_settings read_settings() const;

  const std::filesystem::path& pin_dir() const { return pin_dir_; }

  // What bpf_map_create needs for an inner map, as the object defines it.
  struct InnerShape {
    uint32_t type = 0;  // enum bpf_map_type
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t flags = 0;
    std::string name;  // given to the kernel (15 characters)
  };

 private:
  struct SkeletonDeleter {
    void operator()(::xdpgw_skel* skel) const noexcept;
  };
  std::unique_ptr<::xdpgw_skel, SkeletonDeleter> skel_;
  std::filesystem::path pin_dir_;
  bool adopted_ = false;
  // Per generation: packets counted as steered that never reached their
  // second stage (dropped at enqueue); drain_generation() stops waiting
  // for them.
  std::array<uint64_t, XDPGW_CONFIG_GENERATIONS> never_arrived_{};
  // Pins of maps not adopted but replaced (the hand-over entry of another
  // layout): pin_maps() puts this Datapath's map there instead.
  std::vector<std::filesystem::path> replace_pins_;
  uint32_t features_ = XDPGW_FEAT_ALL;
  std::map<uint32_t, UniqueFd> links_;  // ifindex -> bpf_link fd
  ConfigTables active_;                 // cached fds of the active generation
  // Read from the object before load (libbpf frees its templates after):
  // by row of the generation table, and the Maglev rings'.
  std::vector<InnerShape> generation_shapes_;
  InnerShape ring_shape_;

  void adopt_pinned_maps();
  // For a map-in-map: whether the inner maps pinned_fd holds have the shape
  // this build's programs expect (true for any other map).
  bool inner_shape_fits(bpf_map* map, int pinned_fd) const;
  void pin_maps();
  std::filesystem::path link_pin(uint32_t ifindex) const;
  void refresh_active_cache();
};

// Detaches every pinned XDP link in `pin_dir` and removes every pin there
// and the directory itself, without loading anything (`xdpgw stop
// --detach`, `run --fresh`). Returns how many links were detached.
int remove_pinned_instance(const std::filesystem::path& pin_dir);

// Writes one settings value into a generation's settings table.
void write_settings(int settings_fd, const xdpgw_settings& s);

// Per-CPU counter maps (verdict_stats, handler_stats) read as one value per
// CPU, and summed.
std::vector<xdpgw_counter> read_percpu_counter(int map_fd, uint32_t key);
xdpgw_counter sum(const std::vector<xdpgw_counter>& per_cpu);

// All verdict reasons summed over CPUs, indexed by enum xdpgw_reason.
std::array<xdpgw_counter, XDPGW_R_COUNT> read_verdicts(int verdict_stats_fd);

}  // namespace xdpgw
