// Writes a validated Config into the datapath maps. apply never validates:
// a Config that reaches it is known good; what can still fail here is the
// kernel (an interface gone since validation, a map refusing an entry).
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "datapath/datapath.hpp"
#include "datapath/lb_apply.hpp"
#include "datapath/neigh.hpp"

namespace xdpgw {

struct NexthopBinding {
  uint32_t id = 0;        // index in the nexthops map
  neigh::Key neighbour;   // address + egress ifindex to resolve
  bool resolved = false;
};

// What apply wrote that needs upkeep afterwards.
struct AppliedState {
  uint32_t generation = 0;
  UniqueFd nexthops_table;  // the live generation's nexthops map
  std::vector<NexthopBinding> nexthops;
};

// Builds `cfg` into the generation not in use, then switches to it with one
// map update, so every packet follows either the old or the new config. On
// any error the running generation stays active and untouched. Egress ports
// (tx_ports, shared by both generations) are added before the switch and the
// ones the new config no longer names removed after it; the new generation's
// CPUMAP is filled before the switch.
// `lb` carries load-balancer ids, health and drains from one apply to the
// next; the overload without it treats every backend as healthy.
AppliedState apply(Datapath& dp, const config::Config& cfg, LbRuntime& lb);
// The XDPGW_SKIP_* bits of `cfg`: the stages it configures nothing for,
// which its packets then do not enter.
uint32_t skipped_stages(const config::Config& cfg);
// Throws, naming each, when `cfg` uses a datapath feature the programs were
// loaded without (XDPGW_FEAT_*: the kernel lacks what it needs).
void check_features(uint32_t features, const config::Config& cfg);
AppliedState apply(Datapath& dp, const config::Config& cfg);

// Re-reads the kernel's neighbour table for every static nexthop, updates the
// live nexthops table where a MAC appeared, changed or went away, and asks
// the kernel to resolve the ones still missing. Returns how many entries
// changed.
int refresh_nexthops(AppliedState& state);

// A [[punt.rule]] as the datapath matches it (bpf/lib/punt.h); the AF_XDP
// pipeline classifies with the same value, so both sides agree on what a
// rule takes. `id` is the rule's index in the config.
xdpgw_punt_rule to_punt_rule(const config::PuntRule& rule, uint32_t id);

// Rate-limit class parameters in the datapath's fixed point (shared.h):
// interval = ceil((1e9 << XDPGW_RL_FRAC_BITS) / rate), limit = burst * interval,
// byte_limit = burst_bytes * (1e9 << FRAC) / bytes_per_second (0/0 = no byte
// limit). Throws std::out_of_range outside the bounds validation enforces.
xdpgw_rl_class rl_class_params(uint64_t packets_per_second, uint64_t burst,
                               uint64_t bytes_per_second = 0, uint64_t burst_bytes = 0);

}  // namespace xdpgw
