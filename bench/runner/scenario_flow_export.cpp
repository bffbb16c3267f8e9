// Flow export: the router path's per-packet cost with [flow_export] off, on
// with every packet accounted, and on at 1 in 100, in the same run on the
// same topology (issue #22's goals: unsampled <= 1.3x off, sampled <= 1.05x
// off). The figure to read is each path's XDP program cost from bpf_stats
// (run_time_ns / run_cnt of the dispatcher, which includes every program it
// tail-calls). The collector is an unused port on the gateway's loopback:
// the exporter's sends fail there (counted), which costs the datapath
// nothing. 64 flows, and 10,000 flows where the flow cache's hash walk meets
// more cache misses.
#include <fmt/format.h>

#include "runner/scenario.hpp"

namespace xdpgw::bench {
namespace {

std::string with_export(uint32_t sampling) {
  return fmt::format(
      "{}\n\n[flow_export]\ncollectors = [{{ address = \"127.0.0.1\", port = 4739 }}]\n"
      "sampling = {}\n",
      kStaticRoutingToml, sampling);
}

}  // namespace

Scenario flow_export_scenario(const ScenarioOptions& options) {
  return Scenario{
      .name = "flow-export",
      .title = "Flow export: router path off / on / 1 in 100",
      .path_names = {"direct", "redirect", "kernel", "feoff", "feon", "fe100"},
      .cases = ipv4_64b_cases(options, {64, 10'000}),
      .notes = {"feoff, feon and fe100 run the same static-routing config, without "
                "[flow_export], with it unsampled, and with sampling = 100; compare their XDP "
                "ns/packet (bpf_stats of the dispatcher, tail calls included)."},
      .make_paths =
          [](const PathContext& context) {
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_redirect_path(context, "redirect"));
            paths.push_back(make_kernel_forwarding_path(context, "kernel"));
            paths.push_back(make_xdpgw_path(context, "feoff", "xdpgw, static routes, export off",
                                             kStaticRoutingToml));
            paths.push_back(make_xdpgw_path(context, "feon", "xdpgw, flow export, every packet",
                                             with_export(1)));
            paths.push_back(make_xdpgw_path(context, "fe100", "xdpgw, flow export, 1 in 100",
                                             with_export(100)));
            return paths;
          },
  };
}

}  // namespace xdpgw::bench
