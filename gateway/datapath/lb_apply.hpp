// The load balancer's part of apply: VIPs, backends and Maglev tables into
// the datapath maps, plus the state that outlives a single apply (stable
// ids, backend health, operator drains).
//
// Ids: a VIP keeps its id (its stats index and its lb_rings slots) for as
// long as a VIP of that name is configured; a backend keeps its id for as
// long as some VIP names its address:port. Both are recovered from the
// pinned maps when a daemon adopts an earlier run's datapath.
//
// Maglev tables live at lb_rings[vip_id * generations + gen]: a reload builds
// the staged generation's tables beside the live ones; a health change or a
// drain rebuilds one VIP's live table and swaps it with one map update.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "datapath/datapath.hpp"

namespace xdpgw {

class LbRuntime {
 public:
  // Takes over the ids the active generation uses for the VIPs and
  // backends of `cfg` (after Datapath adoption), so counters stay attached.
  void adopt(const Datapath& dp, const config::Config& cfg);

  // Ids for the VIPs and backends of `cfg`: kept where known, new ones
  // allocated, ids of VIPs/backends `cfg` no longer has released. Throws
  // when the id space is exhausted.
  void assign_ids(const config::Config& cfg);
  uint32_t vip_id(const std::string& vip_name) const;
  uint32_t backend_id(const std::string& backend) const;  // Backend::id()
  std::optional<uint32_t> find_vip_id(const std::string& vip_name) const;

  // A backend takes new flows of a VIP while healthy and not drained.
  // Unknown pairs are healthy (no check configured, or not run yet).
  void set_healthy(const std::string& vip, const std::string& backend, bool healthy);
  bool healthy(const std::string& vip, const std::string& backend) const;
  void set_drained(const std::string& vip, const std::string& backend, bool drained);
  bool drained(const std::string& vip, const std::string& backend) const;
  // Forgets health and drain entries of pairs `cfg` does not have.
  void prune(const config::Config& cfg);

  // The weight Maglev gets for a backend right now (0 = no new flows).
  uint32_t effective_weight(const config::Vip& vip, const config::Backend& be) const;

 private:
  using Pair = std::pair<std::string, std::string>;  // VIP name, backend id
  std::map<std::string, uint32_t> vip_ids_;
  std::map<std::string, uint32_t> backend_ids_;
  std::set<Pair> unhealthy_;
  std::set<Pair> drained_;
};

// lb_rings slot of a VIP's table in a generation.
uint32_t ring_slot(uint32_t vip_id, uint32_t gen);

// Writes VIPs, backends, LB settings and Maglev tables of `cfg` into the
// staged generation `gen` (tables `t`). Ids must have been assigned.
void fill_lb(Datapath& dp, const ConfigTables& t, uint32_t gen, const config::Config& cfg,
             const LbRuntime& rt);

// Rebuilds one VIP's Maglev table for generation `gen` from the current
// health and drain state and swaps it in (or removes it when no backend is
// usable: new flows are then dropped and counted as drop_lb_no_backend).
// Returns the number of backends in the table.
size_t rebuild_ring(Datapath& dp, uint32_t gen, const config::Vip& vip, const LbRuntime& rt);

// After the switch to `active_gen`: removes the tables of VIP ids not in use
// from both generations' slots.
void remove_stale_rings(Datapath& dp, const config::Config& cfg, const LbRuntime& rt);

}  // namespace xdpgw
