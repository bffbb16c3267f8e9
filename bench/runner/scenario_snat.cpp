// Source NAT scenario (issue #18): the generator's flows from the inside
// network (198.18.1.0/24) leave by the gateway's other port with the
// gateway's address there (masquerade), against the same forwarding without
// translation and against Linux doing the job with nftables `masquerade`
// and a stateful forward filter (`ct state established,related accept`),
// conntrack keeping every flow. The figure the goal is about is the
// gateway's whole cost per packet (ns added over the generator's ceiling,
// from the rate on one CPU), since nftables has no program of its own to
// time; xdpgw's XDP program cost is beside it.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "harness/run.hpp"
#include "runner/scenario.hpp"

namespace xdpgw::bench {
namespace {

constexpr const char* kInside4 = "198.18.1.0/24";

// UDP translations live this long without a reply on both paths (xdpgw's
// [nat] udp_s, the namespace's nf_conntrack_udp_timeout), longer than a
// run, so every measured frame finds its flow translated already, as a
// busy router's steady state does; the defaults (30 s) would expire them
// between a path's rounds.
constexpr uint32_t kUdpTimeoutS = 3600;

std::string snat_toml() {
  return fmt::format(
      "{}\n\n[[snat]]\nsrc = [\"{}\"]\nout_port = \"{}\"\nto = \"masquerade\"\n\n"
      "[nat]\nudp_s = {}\n",
      kStaticRoutingToml, kInside4, kGatewayEgress, kUdpTimeoutS);
}

// The reference gateway of tests/e2e/test_snat_e2e.cpp, on this topology.
std::string nft_masquerade_ruleset() {
  return fmt::format(
      "table ip xbn_snat {{\n"
      "  chain post {{\n"
      "    type nat hook postrouting priority srcnat;\n"
      "    oifname \"{0}\" ip saddr {1} masquerade\n"
      "  }}\n"
      "  chain forward_filter {{\n"
      "    type filter hook forward priority filter; policy drop;\n"
      "    ct state established,related accept\n"
      "    iifname \"{2}\" accept\n"
      "  }}\n"
      "}}\n",
      kGatewayEgress, kInside4, kGatewayIngress);
}

std::unique_ptr<ForwardingPath> make_nft_masquerade_path(const PathContext& context,
                                                         const std::string& name) {
  const std::filesystem::path ruleset = context.work_dir / (context.topology.gateway_netns(name) + ".nft");
  std::ofstream(ruleset) << nft_masquerade_ruleset();
  return make_kernel_path(
      context, name, "Linux forwarding + nftables masquerade + ct state (no XDP)",
      fmt::format("the gateway's kernel: nftables masquerade of the inside network on the "
                  "egress port, a forward filter passing `ct state established,related` and new "
                  "flows from the inside port only, conntrack, IP forwarding; no XDP, GRO on the "
                  "ingress veth (ruleset: logs/{})",
                  ruleset.filename().string()),
      {"nft -f " + test::shell_quote(ruleset.string()),
       fmt::format("sysctl -qw net.netfilter.nf_conntrack_udp_timeout={}", kUdpTimeoutS)},
      {.conntrack_memory = true});
}

}  // namespace

Scenario snat_scenario(const ScenarioOptions& options) {
  return Scenario{
      .name = "snat",
      .title = "Source NAT: masquerade of the inside network, IPv4",
      .path_names = {"direct", "redirect", "kernel", "nftsnat", "snatoff", "snat"},
      .cases = ipv4_64b_cases(options, {1'000, 10'000}),
      .notes = {"The generator's flows (UDP from 198.18.1.2, source ports varying) leave by the "
                "sink port as 198.18.2.1 (the gateway's address there). xdpgw: static routes "
                "without (`snatoff`) and with a `[[snat]]` masquerade rule (`snat`), every "
                "measured frame of which must get the `fwd_snat` verdict. Linux: plain "
                "forwarding (`kernel`), and nftables masquerade with a stateful forward filter "
                "(`nftsnat`).",
                "Per-packet cost compared with nftables: `ns added vs generator` (1e3 / Mpps on "
                "the one CPU that runs the generator and the gateway, minus the generator "
                "ceiling's), the gateway's whole cost per packet, as nftables has no program of "
                "its own to time. Every round measures each path twice: with BPF run-time stats "
                "on for the XDP program's cost, and with them off for the rates (Mpps, ns added), "
                "which the stats' two clock reads per program run would otherwise inflate for "
                "every XDP path but not for nftables. The replies' direction is not measured (the generator's frames "
                "go one way); a reply costs xdpgw one snat_ports and one snat_flows lookup.",
                "Memory per translation: xdpgw keeps one snat_flows and one snat_ports entry "
                "(both preallocated HASH maps); conntrack one nf_conn object plus extensions.",
                fmt::format("Steady state: translations and conntrack entries for UDP are kept "
                            "{} s without replies on both paths, and every flow is translated "
                            "before the measured rounds (probes and one pass over the flows).",
                            kUdpTimeoutS)},
      .rate_without_prog_stats = true,
      .make_paths =
          [](const PathContext& context) {
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_redirect_path(context, "redirect"));
            paths.push_back(make_kernel_forwarding_path(context, "kernel"));
            paths.push_back(make_nft_masquerade_path(context, "nftsnat"));
            paths.push_back(make_xdpgw_path(context, "snatoff", "xdpgw, static routes, no SNAT",
                                             kStaticRoutingToml, {.memory_tables = {}}));
            paths.push_back(make_xdpgw_path(context, "snat", "xdpgw, static routes + [[snat]] masquerade",
                                             snat_toml(),
                                             {.expect_verdict = "fwd_snat",
                                              .egress_port_toml = "inbound = \"established-only\"",
                                              .memory_tables = {"snat_flows", "snat_ports"}}));
            return paths;
          },
  };
}

}  // namespace xdpgw::bench
