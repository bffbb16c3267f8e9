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
  std::function<std::vector<std::unique_ptr<ForwardingPath>>(const PathContext&)> make_paths;
};

Scenario router_scenario(const ScenarioOptions& options);

// Every scenario, in the order a full run measures them.
std::vector<Scenario> all_scenarios(const ScenarioOptions& options);

}  // namespace xdpgw::bench
