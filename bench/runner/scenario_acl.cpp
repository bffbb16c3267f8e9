// ACL + rate-limiter scenario: a flood of many UDP flows arrives at the
// gateway, once aimed at a prefix an ACL rule denies and once at one the ACL
// allows but a per-source rate limiter holds to 10,000 packets per second.
// What is measured is how fast each path gets rid of it: frames dropped by
// its own verdict (counted by the path: xdpgw's verdict counters, nftables
// counters, the minimal program's counter) plus the few the rate limiter
// lets through to the sink, per second. Against the generator's ceiling, a
// minimal XDP_DROP on the gateway's ingress and nftables doing the same job.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "gen/system.hpp"
#include "harness/run.hpp"
#include "runner/scenario.hpp"

namespace xdpgw::bench {
namespace {

// The flood always comes from the generator's side (198.18.1.0/24; up to
// 64,512 flows from 198.18.1.2, source ports varying) as UDP to port 9.
// "ACL deny" aims it at 198.18.2.2 inside the denied 198.18.2.0/25;
// "rate limited" at 198.18.2.200, outside it, where only the rate limiter
// stands between the flood and the sink.
constexpr const char* kSourcePrefix4 = "198.18.1.0/24";
constexpr const char* kDeniedPrefix4 = "198.18.2.0/25";
constexpr const char* kRateLimitedTarget4 = "198.18.2.200";
// Per source address, as xdpgw's [[ratelimit.class]] and nftables' limit
// take them: a token bucket of `burst` packets refilled at this rate.
constexpr uint32_t kRatePps = 10'000;
constexpr uint32_t kRateBurst = 1'000;
constexpr uint32_t kFloodFlows = 10'000;

// The policy as xdpgw takes it. Ahead of the flood's deny rule, rules a
// border router carries for the same prefixes (other protocols and ports:
// xdpgw's rule walk tries each and rejects it before reaching the deny) and
// for other networks (never candidates for these addresses). The deny rule
// is last among those of its prefixes, the costliest place for it.
std::string policy_toml() {
  std::string toml = fmt::format("{}\n\n[policy]\nacl_default = \"allow\"\n", kStaticRoutingToml);
  const auto rule = [&](const char* action, const std::string& keys) {
    toml += fmt::format("\n[[acl]]\naction = \"{}\"\n{}", action, keys);
  };
  const std::string prefixes = fmt::format("src = \"{}\"\ndst = \"{}\"\n", kSourcePrefix4, kDeniedPrefix4);
  rule("deny", "src = \"198.19.0.0/16\"\n");
  rule("deny", "dst = \"198.19.255.0/24\"\nprotocol = \"udp\"\n");
  rule("allow", prefixes + "protocol = \"tcp\"\ndst_ports = \"22\"\n");
  rule("allow", prefixes + "protocol = \"tcp\"\ndst_ports = \"443\"\n");
  rule("allow", prefixes + "protocol = \"udp\"\ndst_ports = \"53\"\n");
  rule("allow", prefixes + "protocol = \"udp\"\ndst_ports = \"123\"\n");
  rule("allow", prefixes + "protocol = \"icmp\"\n");
  // The flood: UDP to the discard port, a classic reflection target.
  rule("deny", prefixes + "protocol = \"udp\"\ndst_ports = \"9\"\n");
  toml += fmt::format(
      "\n[ratelimit]\n\n[[ratelimit.class]]\nname = \"clients\"\npackets_per_second = {}\n"
      "burst = {}\nsources = [\"{}\"]\n",
      kRatePps, kRateBurst, kSourcePrefix4);
  return toml;
}

// The same policy in nftables, as early as the kernel filters IP: a
// prerouting chain at priority raw (before conntrack and routing). The ACL
// is its own chain so that an "allow" ends the ACL and still meets the rate
// limiter, as in xdpgw; the limiter is a dynamic set of per-source buckets
// with as many entries as xdpgw's bucket table.
std::string nft_ruleset() {
  const std::string prefixes = fmt::format("ip saddr {} ip daddr {}", kSourcePrefix4, kDeniedPrefix4);
  return fmt::format(
      "table ip xbn_acl {{\n"
      "  counter acl_deny {{}}\n"
      "  counter rate_limited {{}}\n"
      "  set rl_src {{ type ipv4_addr; size 65536; flags dynamic,timeout; timeout 60s; }}\n"
      "  chain acl {{\n"
      "    ip saddr 198.19.0.0/16 counter name \"acl_deny\" drop\n"
      "    ip daddr 198.19.255.0/24 meta l4proto udp counter name \"acl_deny\" drop\n"
      "    {0} tcp dport 22 return\n"
      "    {0} tcp dport 443 return\n"
      "    {0} udp dport 53 return\n"
      "    {0} udp dport 123 return\n"
      "    {0} ip protocol icmp return\n"
      "    {0} udp dport 9 counter name \"acl_deny\" drop\n"
      "  }}\n"
      "  chain prerouting {{\n"
      "    type filter hook prerouting priority raw; policy accept;\n"
      "    jump acl\n"
      "    ip saddr {1} update @rl_src {{ ip saddr limit rate over {2}/second burst {3} packets }} "
      "counter name \"rate_limited\" drop\n"
      "  }}\n"
      "}}\n",
      prefixes, kSourcePrefix4, kRatePps, kRateBurst);
}

std::unique_ptr<ForwardingPath> make_nft_acl_path(const PathContext& context, const std::string& name) {
  const std::filesystem::path ruleset = context.work_dir / (context.topology.gateway_netns(name) + ".nft");
  std::ofstream(ruleset) << nft_ruleset();
  return make_kernel_path(
      context, name, "Linux: nftables ACL + per-source limit (no XDP)",
      fmt::format("the gateway's kernel: the same ACL and a per-source `limit rate over {}/second "
                  "burst {} packets` in a dynamic set, in a prerouting chain at priority raw "
                  "(before conntrack and routing); what passes is forwarded; no XDP, GRO on the "
                  "ingress veth (ruleset: logs/{})",
                  kRatePps, kRateBurst, ruleset.filename().string()),
      {"nft -f " + test::shell_quote(ruleset.string())},
      {.nft_drop_counters = {"ip xbn_acl acl_deny", "ip xbn_acl rate_limited"}});
}

// The sink answers no ARP: every gateway gets a permanent entry for the
// rate-limited flood's target at the sink's MAC (Linux forwards to it
// directly; xdpgw's static route goes via 198.18.2.2, which the topology
// already resolves).
void add_target_neighbour(const PathContext& context, const std::string& path) {
  const std::string mac = test::to_string(
      query_interface(netns_path_of(context.topology.sink_netns()), BenchTopology::sink_ifname(path))
          .mac);
  test::run_ok(fmt::format("ip -n {} neigh replace {} lladdr {} dev {} nud permanent",
                           test::shell_quote(context.topology.gateway_netns(path)), kRateLimitedTarget4,
                           mac, kGatewayEgress));
}

}  // namespace

Scenario acl_flood_scenario(const ScenarioOptions& options) {
  const uint32_t flows = options.flows.value_or(kFloodFlows);
  return Scenario{
      .name = "acl-flood",
      .title = "ACL + rate limiter: dropping a UDP flood",
      .path_names = {"direct", "xdpdrop", "nftacl", "acl"},
      .cases = {{.family = IpFamily::kIpv4, .mix = FrameMix::fixed(64), .flows = flows,
                 .label = "ACL deny"},
                {.family = IpFamily::kIpv4, .mix = FrameMix::fixed(64), .flows = flows,
                 .destination = kRateLimitedTarget4, .label = "rate limited"}},
      .notes = {fmt::format(
                    "The flood: UDP to port 9 from {} flows (source ports of 198.18.1.2). \"ACL "
                    "deny\" sends it to 198.18.2.2, which the last of eight ACL rules denies "
                    "(five rules for the same prefixes but other protocols or ports come before "
                    "it and are tried first, two for other networks are never candidates). "
                    "\"rate limited\" sends it to {}, which the ACL allows: the per-source rate "
                    "limit ({} packets/s, burst {}) lets a few thousand frames of each measurement "
                    "through to the sink and drops the rest.",
                    flows, kRateLimitedTarget4, kRatePps, kRateBurst),
                "Mpps here is the rate at which a path disposes of the flood: frames it dropped "
                "by its own verdict (xdpgw's drop_acl_deny + drop_rate_limited, the nftables "
                "counters, the minimal program's counter) plus frames it forwarded to the sink, "
                "per second. Lost = offered − both: frames dropped for any other reason.",
                "The minimal XDP reference drops every frame at the gateway's ingress without "
                "looking at it, in both cases (it forwards nothing, also not the rate limiter's "
                "share). A drop on the ingress veth costs about what the sink's drop costs, so "
                "this ceiling sits near the generator's own.",
                "One source address only: the generator varies source ports first (flow n comes "
                "from 198.18.1.2 + n div 64512), so a flood of many sources, which would churn "
                "xdpgw's 65,536-entry bucket table, is not measured here."},
      .make_paths =
          [](const PathContext& context) {
            for (const char* path : {"nftacl", "acl"}) add_target_neighbour(context, path);
            std::vector<std::unique_ptr<ForwardingPath>> paths;
            paths.push_back(make_direct_path(context));
            paths.push_back(make_xdp_drop_path(context, "xdpdrop"));
            paths.push_back(make_nft_acl_path(context, "nftacl"));
            paths.push_back(make_xdpgw_path(
                context, "acl", "xdpgw ACL + rate limiter (static routes)", policy_toml(),
                {.drop_verdicts = {"drop_acl_deny", "drop_rate_limited"}}));
            return paths;
          },
  };
}

}  // namespace xdpgw::bench
