// Load-balancer scenarios: the generator's client flows go to a UDP VIP
// whose three backends live behind the gateway's sink port (the sink plays
// every backend: it counts the frames, decapsulating DSR's IPIP first).
// xdpgw in "nat" and "dsr" mode against the generator's ceiling, the minimal
// XDP redirect and Linux (nftables DNAT for nat; plain forwarding for dsr,
// which this kernel cannot encapsulate), plus the connection table at 1M
// live flows with its memory.
#include <array>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "gen/system.hpp"
#include "harness/run.hpp"
#include "runner/scenario.hpp"

namespace xdpgw::bench {
namespace {

// The VIPs the generator sends to, and the backends behind the sink port.
// 198.18.100.0/24 is routed nowhere on the gateway: a frame reaches the sink
// only when something rewrote or encapsulated it towards a backend (or, for
// the kernel dsr reference, an explicit route forwards the VIP).
constexpr const char* kVip4 = "198.18.100.1";
constexpr const char* kVip6 = "2001:2:0:100::1";
constexpr std::array<const char*, 3> kBackends4 = {"198.18.2.10", "198.18.2.11", "198.18.2.12"};
constexpr std::array<const char*, 3> kBackends6 = {"2001:2:0:2::10", "2001:2:0:2::11",
                                                   "2001:2:0:2::12"};
// DSR's outer source: the gateway's own address on the sink side.
constexpr const char* kTunnelSource4 = "198.18.2.1";
constexpr const char* kTunnelSource6 = "2001:2:0:2::1";

// NAT keeps two entries per flow (client -> VIP and the reverse), so 1M
// flows need 2M entries: 2^21 leaves ~97k spare, more than the LRU's per-CPU
// free lists hold back. Evictions would show as `xdpgw.conn_inserted`
// during measurements (every flow is warm by then).
constexpr uint32_t kConnTableSize1M = 1u << 21;
constexpr uint32_t kMillionFlows = 1'000'000;

const char* vip(IpFamily family) { return family == IpFamily::kIpv6 ? kVip6 : kVip4; }

std::vector<TrafficCase> lb_cases(const ScenarioOptions& options, std::vector<uint32_t> flows,
                                  bool ipv6) {
  if (options.flows) flows = {*options.flows};
  std::vector<TrafficCase> cases;
  for (const IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    if (family == IpFamily::kIpv6 && !ipv6) continue;
    for (const uint32_t n : flows) {
      cases.push_back({.family = family, .mix = FrameMix::fixed(64), .flows = n,
                       .destination = vip(family)});
    }
  }
  return cases;
}

// [lb] and two [[vip]] sections (IPv4, IPv6), each with the three backends,
// for `mode`; the routing stays the router scenario's static routes, which
// send 198.18.2.0/24 and 2001:2:0:2::/64 (the backends) to the sink. The
// generator starts every flow at line rate from one source prefix, which is
// what the UDP new-flow cap exists to refuse: it is off here, so the table
// fills as a busy balancer's does.
std::string lb_toml(const std::string& mode, uint16_t port, uint32_t conn_table_size) {
  std::string toml = fmt::format(
      "{}\n\n[lb]\ntunnel_source_v4 = \"{}\"\ntunnel_source_v6 = \"{}\"\nconn_table_size = {}\n"
      "udp_new_flows_per_prefix = 0\n",
      kStaticRoutingToml, kTunnelSource4, kTunnelSource6, conn_table_size);
  const auto add_vip = [&](const char* name, const char* address, const auto& backends) {
    toml += fmt::format(
        "\n[[vip]]\nname = \"{}\"\naddress = \"{}\"\nprotocol = \"udp\"\nport = {}\nmode = \"{}\"\n",
        name, address, port, mode);
    for (const char* backend : backends) {
      toml += fmt::format("\n  [[vip.backend]]\n  address = \"{}\"\n", backend);
    }
  };
  add_vip("bench4", kVip4, kBackends4);
  add_vip("bench6", kVip6, kBackends6);
  return toml;
}

// The sink answers no ARP or neighbour solicitation (it drops everything),
// so every gateway gets permanent entries for the backends, all at the
// sink's MAC, as bench-topology.sh does for the sink host. Kernel paths need
// them to forward at all; xdpgw resolves backend neighbours itself and
// would otherwise solicit them.
void add_backend_neighbours(const PathContext& context, const std::string& path) {
  const std::string mac = test::to_string(
      query_interface(netns_path_of(context.topology.sink_netns()), BenchTopology::sink_ifname(path))
          .mac);
  const std::string netns = test::shell_quote(context.topology.gateway_netns(path));
  for (const auto& backends : {std::vector<const char*>(kBackends4.begin(), kBackends4.end()),
                               std::vector<const char*>(kBackends6.begin(), kBackends6.end())}) {
    for (const char* backend : backends) {
      test::run_ok(fmt::format("ip -n {} neigh replace {} lladdr {} dev {} nud permanent", netns,
                               backend, mac, kGatewayEgress));
    }
  }
}

// nftables DNAT to the three backends, chosen by a hash of the client's
// address and port (as a consistent-hashing LB picks per flow); conntrack
// keeps the choice for the flow and rewrites every later packet. One table
// per family: `inet` NAT would need per-family statements anyway.
std::string nft_dnat_ruleset(uint16_t port) {
  const auto table = [&](const char* family, const char* ip, const char* address,
                         const auto& backends) {
    return fmt::format(
        "table {0} xbn_lb {{\n"
        "  chain prerouting {{\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    {1} daddr {2} udp dport {3} dnat to jhash {1} saddr . udp sport mod 3 map "
        "{{ 0 : {4}, 1 : {5}, 2 : {6} }}\n"
        "  }}\n"
        "}}\n",
        family, ip, address, port, backends[0], backends[1], backends[2]);
  };
  return table("ip", "ip", kVip4, kBackends4) + table("ip6", "ip6", kVip6, kBackends6);
}

std::unique_ptr<ForwardingPath> make_nft_dnat_path(const PathContext& context, const std::string& name) {
  const std::filesystem::path ruleset = context.work_dir / (context.topology.gateway_netns(name) + ".nft");
  std::ofstream(ruleset) << nft_dnat_ruleset(context.dst_port);
  return make_kernel_path(
      context, name, "Linux forwarding + nftables DNAT (no XDP)",
      fmt::format("the gateway's kernel: nftables DNAT of the VIP to the three backends by jhash "
                  "of client address and port, conntrack, IP forwarding; no XDP, GRO on the "
                  "ingress veth (ruleset: logs/{})",
                  ruleset.filename().string()),
      {"nft -f " + test::shell_quote(ruleset.string())});
}

// Linux cannot do DSR here (no ipip/ip6_tunnel or IPVS in this kernel): its
// reference is plain forwarding of the VIP towards one backend, i.e. the
// routing part of the job without the encapsulation.
std::unique_ptr<ForwardingPath> make_vip_route_path(const PathContext& context, const std::string& name) {
  return make_kernel_path(
      context, name, "Linux IP forwarding of the VIP (no XDP, no encap)",
      "the gateway's kernel forwards the VIP through routes to the first backend (no IPIP: "
      "this kernel has no tunnel or IPVS modules); no XDP, GRO on the ingress veth",
      {fmt::format("ip route add {}/32 via {}", kVip4, kBackends4[0]),
       fmt::format("ip -6 route add {}/128 via {}", kVip6, kBackends6[0])});
}

// The minimal XDP router as the LB's program-cost reference: it routes the
// VIP like the kernel dsr reference does (to the first backend), so its
// frames reach the sink through one bpf_fib_lookup each.
std::unique_ptr<ForwardingPath> make_vip_fib_path(const PathContext& context, const std::string& name) {
  return make_xdp_fib_path(context, name,
                           {fmt::format("ip route add {}/32 via {}", kVip4, kBackends4[0]),
                            fmt::format("ip -6 route add {}/128 via {}", kVip6, kBackends6[0])});
}

const std::string kSteadyStateNote =
    "Steady state: before the measured rounds of a traffic case every path gets 20,000 probe "
    "frames and, when the case has more flows, one unmeasured pass over all of them, so measured "
    "frames find their flow in xdpgw's connection table or in conntrack. `xdpgw.conn_inserted` "
    "in results.json counts entries still created during a measurement.";

}  // namespace

Scenario lb_nat_scenario(const ScenarioOptions& options) {
  return Scenario{
      .name = "lb-nat",
      .title = "Load balancer, nat: UDP VIP, 3 backends",
      .path_names = {"direct", "redirect", "fibmin", "nftdnat", "lbnat"},
      .cases = lb_cases(options, {1'000, 10'000}, true),
      .notes = {"Frames go to the VIP (198.18.100.1:9, [2001:2:0:100::1]:9) from many client "
                "flows; xdpgw rewrites the destination to one of three backends (Maglev, the "
                "flow then pinned in its connection table), Linux does the same with nftables "
                "DNAT and conntrack. Every measured frame on the xdpgw path must get the "
                "`fwd_lb_nat` verdict, or the path fails its check.",
                "The minimal XDP router (fib_min) forwards the VIP by a route to the first "
                "backend: one bpf_fib_lookup per frame, the program-cost reference of an LB "
                "that ends in a route lookup.",
                kSteadyStateNote},
      .make_paths =
          [](const PathContext& context) {
            for (const char* path : {"redirect", "fibmin", "nftdnat", "lbnat"}) add_backend_neighbours(context, path);
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_redirect_path(context, "redirect"));
            paths.push_back(make_vip_fib_path(context, "fibmin"));
            paths.push_back(make_nft_dnat_path(context, "nftdnat"));
            paths.push_back(make_xdpgw_path(context, "lbnat", "xdpgw LB nat (static routes)",
                                             lb_toml("nat", context.dst_port, 262'144),
                                             {.expect_verdict = "fwd_lb_nat"}));
            return paths;
          },
  };
}

Scenario lb_dsr_scenario(const ScenarioOptions& options) {
  return Scenario{
      .name = "lb-dsr",
      .title = "Load balancer, dsr: UDP VIP, 3 backends, IPIP / IPv6-in-IPv6",
      .path_names = {"direct", "redirect", "fibmin", "kernel", "lbdsr"},
      .cases = lb_cases(options, {1'000, 10'000}, true),
      .notes = {"xdpgw encapsulates each frame (IPIP for IPv4, IPv6-in-IPv6 for IPv6, outer "
                "source the gateway's 198.18.2.1 / 2001:2:0:2::1) to one of three backends; the "
                "sink counts the inner UDP. Every measured frame must get the `fwd_lb_dsr` "
                "verdict, or the path fails its check.",
                "The Linux reference is NOT a load balancer: this kernel has no IPIP, ip6_tunnel "
                "or IPVS (CONFIG_MODULES is off), so it only forwards the VIP by a route to one "
                "backend. × Linux therefore compares xdpgw's DSR with the cheapest thing the "
                "kernel could do with these frames.",
                kSteadyStateNote},
      .make_paths =
          [](const PathContext& context) {
            for (const char* path : {"redirect", "fibmin", "kernel", "lbdsr"}) add_backend_neighbours(context, path);
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_redirect_path(context, "redirect"));
            paths.push_back(make_vip_fib_path(context, "fibmin"));
            paths.push_back(make_vip_route_path(context, "kernel"));
            paths.push_back(make_xdpgw_path(context, "lbdsr", "xdpgw LB dsr (static routes)",
                                             lb_toml("dsr", context.dst_port, 262'144),
                                             {.expect_verdict = "fwd_lb_dsr"}));
            return paths;
          },
  };
}

Scenario conntable_scenario(const ScenarioOptions& options) {
  // IPv4 only: the table's cost does not depend on the family (keys are 16-
  // byte addresses for both), and a 1M pass per measurement is the long part.
  return Scenario{
      .name = "conntable",
      .title = "Connection table: LB nat at 1,000 and 1,000,000 live flows",
      // "ctnat", not "lbnat": its own instance name, config and log in logs/.
      .path_names = {"direct", "redirect", "ctnat"},
      .cases = lb_cases(options, {1'000, kMillionFlows}, false),
      .notes = {fmt::format("xdpgw LB nat with conn_table_size = {} (NAT keeps two entries per "
                            "flow; an LRU table evicts before it is completely full). Flow n is "
                            "UDP source port 1024 + n mod 64512 from 198.18.1.2 + n div 64512: "
                            "1,000,000 flows use 16 client addresses. Frame n belongs to flow "
                            "n mod flows, so a measurement of 1,000,000 frames touches every "
                            "flow once, in a cycle no CPU cache holds.",
                            kConnTableSize1M),
                "No Linux reference here: conntrack's table is limited by the host-wide "
                "nf_conntrack_max (262,144 by default on this machine), below 1M flows; the "
                "lb-nat scenario has the nftables DNAT comparison.",
                "Memory: memlock from the fdinfo of the pinned conn_table (what the kernel "
                "charges for the map; an LRU_HASH allocates every entry when it is created, so "
                "the figure is the same empty or full) and the daemon's VmRSS / VmHWM.",
                kSteadyStateNote},
      .make_paths =
          [](const PathContext& context) {
            for (const char* path : {"redirect", "ctnat"}) add_backend_neighbours(context, path);
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_redirect_path(context, "redirect"));
            paths.push_back(make_xdpgw_path(context, "ctnat", "xdpgw LB nat (static routes)",
                                             lb_toml("nat", context.dst_port, kConnTableSize1M),
                                             {.expect_verdict = "fwd_lb_nat"}));
            return paths;
          },
  };
}

}  // namespace xdpgw::bench
