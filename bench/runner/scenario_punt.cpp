// Punt scenario: every generator frame is punted by XDP into xdpgw's AF_XDP
// pipeline, which forwards it out of the sink port from user space
// (`mode = "every-packet"`); and the same rule in "first-packet" mode, where
// the pipeline decides once per flow and XDP forwards the rest. Against the
// generator's ceiling, the least an AF_XDP forwarder can do on this path
// (XSKMAP redirect + rx -> tx loop) and Linux IP forwarding.
#include <fmt/format.h>

#include "runner/scenario.hpp"

namespace xdpgw::bench {
namespace {

constexpr uint32_t kPuntFlows = 1'000;

// The router scenario's static routes, plus punt rules for the generator's
// UDP to the sink side (port `dport`, both families): forward out of the
// sink port, `mode` every-packet or first-packet. fallback = "drop": while
// no pipeline socket serves the queue XDP drops these frames, so none can
// reach the sink any other way than through the pipeline (or, first-packet,
// through a verdict it offloaded).
std::string punt_toml(const char* mode, uint16_t dport) {
  std::string toml = fmt::format("{}\n\n[punt]\n", kStaticRoutingToml);
  for (const char* prefix : {"198.18.2.0/24", "2001:2:0:2::/64"}) {
    toml += fmt::format(
        "\n[[punt.rule]]\nprotocol = \"udp\"\ndst = \"{}\"\ndport = {}\naction = \"forward\"\n"
        "out_port = \"xgw1\"\nmode = \"{}\"\nfallback = \"drop\"\n",
        prefix, dport, mode);
  }
  return toml;
}

}  // namespace

Scenario punt_scenario(const ScenarioOptions& options) {
  const uint32_t flows = options.flows.value_or(kPuntFlows);
  std::vector<TrafficCase> cases = {{IpFamily::kIpv4, FrameMix::fixed(64), flows}};
  if (!options.quick) cases.push_back({IpFamily::kIpv6, FrameMix::fixed(64), flows});
  return Scenario{
      .name = "punt",
      .title = "Punt to AF_XDP: forwarding from user space",
      .path_names = {"direct", "xskmin", "kernel", "puntall", "puntfirst"},
      .cases = std::move(cases),
      .notes = {"Both AF_XDP paths (the minimal loop and xdpgw's pipeline) run their user-space "
                "thread on the CPU the generator leaves free, while XDP's redirect into the socket "
                "(a copy into the UMEM: veth has no zero-copy) runs on the generator's CPU. Unlike "
                "every other path here they can fall behind a full-speed generator: their rx ring "
                "overflows and the kernel drops what does not fit (counted as lost; the sample's "
                "counters say where: `xsk.rx_dropped`, `pipeline.rx` against `xdpgw.punt_xsk`). "
                "Their Mpps is the rate they forward at while overloaded (so ns/packet and ns added "
                "describe that rate, not a cost on the generator's core), and frames still in the "
                "rings when the generator stops (at most a few thousand) count without their "
                "time. A readiness probe counts for them once 1% of it arrives.",
                "xdpgw, every packet: the pipeline parses each frame, matches the rule, looks the "
                "next hop up in the kernel's neighbour table (cached for a second), rewrites MACs, "
                "TTL and checksum and transmits it from the same UMEM out of the sink port. Every "
                "frame at the sink must have been punted (`punt_xsk`), or the path fails its check.",
                "xdpgw, first packet: the same rule with mode = \"first-packet\": the pipeline "
                "forwards a flow's first frame and writes a forward verdict into the connection "
                "table; XDP forwards the rest of the flow itself (`fwd_flow_verdict`, which every "
                "measured frame must get: the probes before the measurements offload every flow).",
                "The Linux reference is plain IP forwarding: the same frames from the generator to "
                "the sink without XDP and without user space. Linux has no cheaper way to let a "
                "user-space program forward packets (a raw or TUN socket adds a copy and a "
                "syscall per batch on top of this), so × Linux compares with the kernel doing the "
                "job alone."},
      .make_paths =
          [](const PathContext& context) {
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xsk_forward_path(context, "xskmin"));
            paths.push_back(make_kernel_forwarding_path(context, "kernel"));
            paths.push_back(make_xdpgw_path(
                context, "puntall", "xdpgw punt, every packet (AF_XDP pipeline)",
                punt_toml("every-packet", context.dst_port),
                {.expect_verdict = "punt_xsk", .pipeline = true, .min_probe_share = 0.01}));
            paths.push_back(make_xdpgw_path(
                context, "puntfirst", "xdpgw punt, first packet (then XDP)",
                punt_toml("first-packet", context.dst_port),
                {.expect_verdict = "fwd_flow_verdict", .pipeline = true}));
            return paths;
          },
  };
}

}  // namespace xdpgw::bench
