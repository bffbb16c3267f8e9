// Router scenario: xdpgw forwarding IPv4 and IPv6 between its two ports,
// with kernel FIB lookups, with static routes and with the kernel's routes
// mirrored into its own tries (routing.source = "kernel"), against the generator's
// ceiling, a minimal XDP redirect, a minimal XDP FIB router and Linux IP
// forwarding on the same topology.
#include "runner/scenario.hpp"

namespace xdpgw::bench {

// Static routes for both sides; nexthops resolve through the gateway's
// (permanent) neighbour entries that bench-topology.sh installs.
const char* const kStaticRoutingToml = R"([routing]
source = "static"

[[routing.route]]
prefix = "198.18.1.0/24"
via = "198.18.1.2"
port = "xgw0"

[[routing.route]]
prefix = "198.18.2.0/24"
via = "198.18.2.2"
port = "xgw1"

[[routing.route]]
prefix = "2001:2:0:1::/64"
via = "2001:2:0:1::2"
port = "xgw0"

[[routing.route]]
prefix = "2001:2:0:2::/64"
via = "2001:2:0:2::2"
port = "xgw1")";

Scenario router_scenario(const ScenarioOptions& options) {
  // 64 flows, as the baselines in shared/PLATFORM.md; a router keeps no
  // per-flow state, so the count matters little here (LB scenarios vary it).
  const uint32_t flows = options.flows.value_or(64);
  std::vector<TrafficCase> cases = {
      {IpFamily::kIpv4, FrameMix::fixed(64), flows},
      {IpFamily::kIpv6, FrameMix::fixed(64), flows},
  };
  if (!options.quick) {
    cases.push_back({IpFamily::kIpv4, FrameMix::imix(), flows});
    cases.push_back({IpFamily::kIpv6, FrameMix::imix(), flows});
  }
  return Scenario{
      .name = "router",
      .title = "Router: IPv4/IPv6 forwarding",
      .path_names = {"direct", "redirect", "fibmin", "kernel", "fib", "static", "kroutes"},
      .cases = std::move(cases),
      .make_paths =
          [](const PathContext& context) {
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_redirect_path(context, "redirect"));
            paths.push_back(make_xdp_fib_path(context, "fibmin"));
            paths.push_back(make_kernel_forwarding_path(context, "kernel"));
            paths.push_back(make_xdpgw_path(context, "fib", "xdpgw, FIB routing",
                                             "[routing]\nsource = \"fib\""));
            paths.push_back(make_xdpgw_path(context, "static", "xdpgw, static routes",
                                             kStaticRoutingToml));
            // The gateway namespace's own routes (connected subnets) and
            // permanent neighbours, mirrored: host entries for the sinks.
            paths.push_back(make_xdpgw_path(context, "kroutes", "xdpgw, kernel routes mirrored",
                                             "[routing]\nsource = \"kernel\""));
            return paths;
          },
  };
}

std::vector<TrafficCase> ipv4_64b_cases(const ScenarioOptions& options, std::vector<uint32_t> flows) {
  if (options.flows) flows = {*options.flows};
  std::vector<TrafficCase> cases;
  for (const uint32_t n : flows) cases.push_back({IpFamily::kIpv4, FrameMix::fixed(64), n});
  return cases;
}

std::vector<Scenario> all_scenarios(const ScenarioOptions& options) {
  return {router_scenario(options),    lb_nat_scenario(options),    lb_dsr_scenario(options),
          conntable_scenario(options), acl_flood_scenario(options), punt_scenario(options),
          flow_export_scenario(options), snat_scenario(options)};
}

}  // namespace xdpgw::bench
