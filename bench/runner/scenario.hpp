// A scenario: the paths one job is measured on (the subject and its
// references) and the traffic cases it is measured with. Adding one (LB,
// ACL, punt to AF_XDP) means a new scenario_*.cpp with its paths and cases,
// registered in all_scenarios(); the runner, the measurements and the
// reports stay as they are.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runner/measure.hpp"
#include "runner/paths.hpp"

namespace xdpgw::bench {

struct ScenarioOptions {
  bool quick = false;
  std::optional<uint32_t> flows;  // overrides every case's flow count
};

struct Scenario {
  std::string name;   // "router": selects it on the command line
  std::string title;  // "Router: IPv4/IPv6 forwarding"
  // Topology path names (bench-topology.sh), which make_paths builds. One
  // path with each reference role (generator ceiling, XDP ceiling,
  // kernel) belongs in every scenario: figures are ratios against them.
  std::vector<std::string> path_names;
  std::vector<TrafficCase> cases;
  // What a reader must know to read the figures (a reference that differs
  // from the others', how steady state was reached); printed with the table.
  std::vector<std::string> notes;
  // Every round measures each path twice: with BPF run-time stats on (its
  // XDP program's cost) and with them off (its rate, and so the ns added
  // over the generator). For scenarios that compare the gateway's whole
  // cost with a path without XDP (nftables), which the stats' clock reads
  // would otherwise favour.
  bool rate_without_prog_stats = false;
  std::function<std::vector<std::unique_ptr<ForwardingPath>>(const PathContext&)> make_paths;
};

Scenario router_scenario(const ScenarioOptions& options);
// Load balancer: a UDP VIP with three backends behind the sink port, in
// "nat" and "dsr" mode, for 1,000 and 10,000 client flows.
Scenario lb_nat_scenario(const ScenarioOptions& options);
Scenario lb_dsr_scenario(const ScenarioOptions& options);
// The LB's connection table at 1,000 and 1,000,000 live flows, with its
// kernel memory and the daemon's RSS.
Scenario conntable_scenario(const ScenarioOptions& options);
// ACL + per-source rate limiter disposing of a UDP flood (denied, and
// allowed but rate limited), against nftables doing the same and a minimal
// XDP_DROP.
Scenario acl_flood_scenario(const ScenarioOptions& options);
// Every frame punted to the AF_XDP pipeline and forwarded from user space,
// and first-packet punting with XDP forwarding the rest, against a minimal
// AF_XDP forwarder and Linux forwarding.
Scenario punt_scenario(const ScenarioOptions& options);
// The router path with [flow_export] off, on, and on at 1 in 100.
Scenario flow_export_scenario(const ScenarioOptions& options);
// Source NAT (masquerade) of the inside network against the same routes
// without it and nftables masquerade with conntrack.
Scenario snat_scenario(const ScenarioOptions& options);

// 64-byte IPv4 cases, one per flow count (options.flows replaces the list).
std::vector<TrafficCase> ipv4_64b_cases(const ScenarioOptions& options, std::vector<uint32_t> flows);

// Static routes for both sides of the benchmark topology (four prefixes,
// nexthops the gateway's permanent neighbours), as an xdpgw [routing] section.
extern const char* const kStaticRoutingToml;

// Every scenario, in the order a full run measures them.
std::vector<Scenario> all_scenarios(const ScenarioOptions& options);

}  // namespace xdpgw::bench
