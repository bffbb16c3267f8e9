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

// The addresses of one family. The flood always comes from the generator's
// side (up to 64,512 flows from its host, source ports varying) as UDP to
// port 9. "ACL deny" aims it at the sink host inside the denied prefix;
// "rate limited" at a host of the sink's subnet outside it, where only the
// rate limiter stands between the flood and the sink. The "other" prefixes
// stand for the networks a border router's ACL also names; nothing is sent
// from or to them.
struct FamilyPolicy {
  const char* source;       // the generator's subnet
  const char* denied;       // half of the sink's subnet, the sink host in it
  const char* rate_target;  // in the other half
  const char* other_source;
  const char* other_destination;
  const char* icmp;         // xdpgw protocol name
  const char* nft_family;   // nftables table family, and its address keyword
  const char* nft_addr;
  const char* nft_addr_type;  // of the rate limiter's set
  const char* nft_icmp;     // nftables match for the family's ICMP
  const char* nft_table;
};
constexpr FamilyPolicy kPolicy4{.source = "198.18.1.0/24",
                                .denied = "198.18.2.0/25",
                                .rate_target = "198.18.2.200",
                                .other_source = "198.19.0.0/16",
                                .other_destination = "198.19.255.0/24",
                                .icmp = "icmp",
                                .nft_family = "ip",
                                .nft_addr = "ip",
                                .nft_addr_type = "ipv4_addr",
                                .nft_icmp = "ip protocol icmp",
                                .nft_table = "xbn_acl"};
constexpr FamilyPolicy kPolicy6{.source = "2001:2:0:1::/64",
                                .denied = "2001:2:0:2::/65",
                                .rate_target = "2001:2:0:2:8000::200",
                                .other_source = "2001:2:0:ff::/64",
                                .other_destination = "2001:2:0:fe::/64",
                                .icmp = "icmpv6",
                                .nft_family = "ip6",
                                .nft_addr = "ip6",
                                .nft_addr_type = "ipv6_addr",
                                .nft_icmp = "meta l4proto ipv6-icmp",
                                .nft_table = "xbn_acl6"};
const FamilyPolicy& policy_of(IpFamily family) {
  return family == IpFamily::kIpv6 ? kPolicy6 : kPolicy4;
}

// Per source address, as xdpgw's [[ratelimit.class]] and nftables' limit
// take them: a token bucket of `burst` packets refilled at this rate.
constexpr uint32_t kRatePps = 10'000;
constexpr uint32_t kRateBurst = 1'000;
constexpr uint32_t kFloodFlows = 10'000;

// The policy as xdpgw takes it, both families. Ahead of the flood's deny
// rule, rules a border router carries for the same prefixes (other
// protocols and ports: xdpgw's rule walk tries each and rejects it before
// reaching the deny) and for other networks (never candidates for these
// addresses). The deny rule is last among those of its prefixes, the
// costliest place for it.
std::string policy_toml() {
  std::string toml = fmt::format("{}\n\n[policy]\nacl_default = \"allow\"\n", kStaticRoutingToml);
  const auto rule = [&](const char* action, const std::string& keys) {
    toml += fmt::format("\n[[acl]]\naction = \"{}\"\n{}", action, keys);
  };
  for (const FamilyPolicy* f : {&kPolicy4, &kPolicy6}) {
    const std::string prefixes = fmt::format("src = \"{}\"\ndst = \"{}\"\n", f->source, f->denied);
    rule("deny", fmt::format("src = \"{}\"\n", f->other_source));
    rule("deny", fmt::format("dst = \"{}\"\nprotocol = \"udp\"\n", f->other_destination));
    rule("allow", prefixes + "protocol = \"tcp\"\ndst_ports = \"22\"\n");
    rule("allow", prefixes + "protocol = \"tcp\"\ndst_ports = \"443\"\n");
    rule("allow", prefixes + "protocol = \"udp\"\ndst_ports = \"53\"\n");
    rule("allow", prefixes + "protocol = \"udp\"\ndst_ports = \"123\"\n");
    rule("allow", prefixes + fmt::format("protocol = \"{}\"\n", f->icmp));
    // The flood: UDP to the discard port, a classic reflection target.
    rule("deny", prefixes + "protocol = \"udp\"\ndst_ports = \"9\"\n");
  }
  toml += fmt::format(
      "\n[ratelimit]\n\n[[ratelimit.class]]\nname = \"clients\"\npackets_per_second = {}\n"
      "burst = {}\nsources = [\"{}\", \"{}\"]\n",
      kRatePps, kRateBurst, kPolicy4.source, kPolicy6.source);
  return toml;
}

// The same policy in nftables, one table per family, as early as the kernel
// filters IP: a prerouting chain at priority raw (before conntrack and
// routing). The ACL is its own chain so that an "allow" ends the ACL and
// still meets the rate limiter, as in xdpgw; the limiter is a dynamic set
// of per-source buckets with as many entries as xdpgw's bucket table.
std::string nft_table(const FamilyPolicy& f) {
  const std::string prefixes =
      fmt::format("{0} saddr {1} {0} daddr {2}", f.nft_addr, f.source, f.denied);
  return fmt::format(
      "table {fam} {table} {{\n"
      "  counter acl_deny {{}}\n"
      "  counter rate_limited {{}}\n"
      "  set rl_src {{ type {addr_type}; size 65536; flags dynamic,timeout; timeout 60s; }}\n"
      "  chain acl {{\n"
      "    {addr} saddr {other_src} counter name \"acl_deny\" drop\n"
      "    {addr} daddr {other_dst} meta l4proto udp counter name \"acl_deny\" drop\n"
      "    {p} tcp dport 22 return\n"
      "    {p} tcp dport 443 return\n"
      "    {p} udp dport 53 return\n"
      "    {p} udp dport 123 return\n"
      "    {p} {icmp} return\n"
      "    {p} udp dport 9 counter name \"acl_deny\" drop\n"
      "  }}\n"
      "  chain prerouting {{\n"
      "    type filter hook prerouting priority raw; policy accept;\n"
      "    jump acl\n"
      "    {addr} saddr {src} update @rl_src {{ {addr} saddr limit rate over {pps}/second burst "
      "{burst} packets }} counter name \"rate_limited\" drop\n"
      "  }}\n"
      "}}\n",
      fmt::arg("fam", f.nft_family), fmt::arg("table", f.nft_table), fmt::arg("addr", f.nft_addr),
      fmt::arg("addr_type", f.nft_addr_type),
      fmt::arg("other_src", f.other_source), fmt::arg("other_dst", f.other_destination),
      fmt::arg("p", prefixes), fmt::arg("icmp", f.nft_icmp), fmt::arg("src", f.source),
      fmt::arg("pps", kRatePps), fmt::arg("burst", kRateBurst));
}

std::unique_ptr<ForwardingPath> make_nft_acl_path(const PathContext& context, const std::string& name) {
  const std::filesystem::path ruleset = context.work_dir / (context.topology.gateway_netns(name) + ".nft");
  std::ofstream(ruleset) << nft_table(kPolicy4) << nft_table(kPolicy6);
  std::vector<std::string> counters;
  for (const FamilyPolicy* f : {&kPolicy4, &kPolicy6}) {
    for (const char* counter : {"acl_deny", "rate_limited"}) {
      counters.push_back(fmt::format("{} {} {}", f->nft_family, f->nft_table, counter));
    }
  }
  return make_kernel_path(
      context, name, "Linux: nftables ACL + per-source limit (no XDP)",
      fmt::format("the gateway's kernel: the same ACL and a per-source `limit rate over {}/second "
                  "burst {} packets` in a dynamic set, in a prerouting chain at priority raw "
                  "(before conntrack and routing); what passes is forwarded; no XDP, GRO on the "
                  "ingress veth (ruleset: logs/{})",
                  kRatePps, kRateBurst, ruleset.filename().string()),
      {"nft -f " + test::shell_quote(ruleset.string())}, {.nft_drop_counters = std::move(counters)});
}

// The sink answers no ARP or neighbour solicitation: every gateway gets
// permanent entries for the rate-limited flood's targets at the sink's MAC
// (Linux forwards to them directly; xdpgw's static routes go via the sink
// host, which the topology already resolves).
void add_target_neighbours(const PathContext& context, const std::string& path) {
  const std::string mac = test::to_string(
      query_interface(netns_path_of(context.topology.sink_netns()), BenchTopology::sink_ifname(path))
          .mac);
  for (const FamilyPolicy* f : {&kPolicy4, &kPolicy6}) {
    test::run_ok(fmt::format("ip -n {} neigh replace {} lladdr {} dev {} nud permanent",
                             test::shell_quote(context.topology.gateway_netns(path)), f->rate_target,
                             mac, kGatewayEgress));
  }
}

}  // namespace

Scenario acl_flood_scenario(const ScenarioOptions& options) {
  const uint32_t flows = options.flows.value_or(kFloodFlows);
  std::vector<TrafficCase> cases;
  // IPv6 in full runs only, as the punt scenario: the policy code is the
  // same for both families but for the address width.
  for (const IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    if (family == IpFamily::kIpv6 && options.quick) continue;
    cases.push_back({.family = family, .mix = FrameMix::fixed(64), .flows = flows, .label = "ACL deny",
                     .xdpgw_verdicts = {"drop_acl_deny"}});
    cases.push_back({.family = family, .mix = FrameMix::fixed(64), .flows = flows,
                     .destination = policy_of(family).rate_target, .label = "rate limited",
                     .xdpgw_verdicts = {"drop_rate_limited", "fwd_redirect"}});
  }
  return Scenario{
      .name = "acl-flood",
      .title = "ACL + rate limiter: dropping a UDP flood",
      .path_names = {"direct", "xdpdrop", "nftacl", "acl"},
      .cases = std::move(cases),
      .notes = {fmt::format(
                    "The flood: UDP to port 9 from {} flows (source ports of 198.18.1.2 / "
                    "2001:2:0:1::2). \"ACL deny\" sends it to the sink host 198.18.2.2 / "
                    "2001:2:0:2::2, inside {} / {}, which the last of eight ACL rules of its family "
                    "denies (five rules for the same prefixes but other protocols or ports come "
                    "before it and are tried first, two for other networks are never candidates). "
                    "\"rate limited\" sends it to {} / {}, which the ACL allows: the per-source "
                    "rate limit ({} packets/s, burst {}) lets a few thousand frames of each "
                    "measurement through to the sink and drops the rest.",
                    flows, kPolicy4.denied, kPolicy6.denied, kPolicy4.rate_target,
                    kPolicy6.rate_target, kRatePps, kRateBurst),
                "Mpps here is the rate at which a path disposes of the flood: frames it dropped "
                "by its own verdict (xdpgw's drop_acl_deny + drop_rate_limited, the nftables "
                "counters, the minimal program's counter) plus frames it forwarded to the sink, "
                "per second. Lost = offered − both: frames dropped for any other reason. "
                "Checked: on the xdpgw path every handled frame of \"ACL deny\" must be counted "
                "as drop_acl_deny, of \"rate limited\" as drop_rate_limited or fwd_redirect, "
                "or the path fails its check.",
                "The minimal XDP reference drops every frame at the gateway's ingress without "
                "looking at it, in both cases (it forwards nothing, also not the rate limiter's "
                "share). A drop on the ingress veth costs about what the sink's drop costs, so "
                "this ceiling sits near the generator's own.",
                "One source address only: the generator varies source ports first (flow n comes "
                "from the generator host + n div 64512), so a flood of many sources, which would "
                "churn xdpgw's 65,536-entry bucket table, is not measured here."},
      .make_paths =
          [](const PathContext& context) {
            for (const char* path : {"nftacl", "acl"}) add_target_neighbours(context, path);
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
