// [[snat]] and [nat]: the example file, defaults, and every refusal with
// file:line:col.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace xdpgw::config {
namespace {

std::string with(std::string_view sections) {
  return std::string(kMinimal) + "[[port]]\nname = \"xgw1\"\n" + std::string(sections);
}

TEST(SnatConfig, ExampleFileResolvesToTypedValues) {
  const Config config = load(std::filesystem::path(XDPGW_CONFIG_DIR) / "router-snat.toml", lab_interfaces());
  ASSERT_EQ(config.nat.rules.size(), 1u);
  const SnatRule& r = config.nat.rules[0];
  EXPECT_TRUE(r.masquerade);
  EXPECT_EQ(r.out_port, "xgw1");
  EXPECT_EQ(r.out_ifindex, 3u);
  ASSERT_EQ(r.sources.size(), 1u);
  EXPECT_EQ(r.sources[0].to_string(), "198.18.1.0/24");
  EXPECT_EQ(config.nat.timeouts, NatTimeouts{});
  ASSERT_EQ(config.ports.size(), 2u);
  EXPECT_FALSE(config.ports[0].inbound_established_only);
  EXPECT_TRUE(config.ports[1].inbound_established_only);
}

TEST(SnatConfig, DefaultsAndTheMatchesARuleExpandsTo) {
  const Config config = valid_config(with(R"(
[[snat]]
src = ["198.18.1.0/24", "198.18.3.0/24"]
out_port = "xgw1"
to = ["198.18.2.1", "198.18.2.9"]
)"));
  ASSERT_EQ(config.nat.rules.size(), 1u);
  const SnatRule& r = config.nat.rules[0];
  EXPECT_FALSE(r.masquerade);
  EXPECT_EQ(r.to.size(), 2u);
  EXPECT_EQ(r.ports.first, 1024);
  EXPECT_EQ(r.ports.last, 65535);
  EXPECT_EQ(r.protocol, SnatProtocol::kAny);
  EXPECT_EQ(r.when_full, SnatWhenFull::kDrop);
  // Every protocol XDP translates, for each source.
  EXPECT_EQ(snat_matches(config.nat).size(), 6u);
  EXPECT_EQ(config.nat.timeouts.udp_s, 30u);
  EXPECT_EQ(config.nat.timeouts.tcp_established_s, 7200u);
}

TEST(SnatConfig, EveryRefusalNamesItsPlace) {
  EXPECT_EQ(error_lines(with(R"(
[[snat]]
src = ["2001:2::/48", "10.0.0.1/8", "@nope"]
out_port = "eth9"
to = ["2001:2::1"]
protocol = "sctp"
ports = "0-10"
when_full = "maybe"
)")),
            (std::vector<std::string>{
                "router.toml:9:8: src \"2001:2::/48\": source NAT is IPv4 only (NAT66 is not done)",
                "router.toml:9:23: src \"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?",
                "router.toml:9:37: src \"@nope\": no [[prefix_set]] of that name",
                "router.toml:10:12: out_port \"eth9\" is not a [[port]]",
                "router.toml:11:7: to \"2001:2::1\": source NAT is IPv4 only (NAT66 is not done)",
                "router.toml:12:12: protocol \"sctp\" must be \"any\", \"tcp\", \"udp\" or \"icmp\"",
                "router.toml:13:9: ports \"0-10\" must start at 1 or above",
                "router.toml:14:13: when_full \"maybe\" must be \"drop\" or \"pass\"",
            }));
  EXPECT_EQ(error_lines(with("[[snat]]\nout_port = \"xgw1\"\n")),
            (std::vector<std::string>{
                "router.toml:7:1: [[snat]] needs at least one source in `src`",
                "router.toml:7:1: [[snat]] needs `to`: \"masquerade\" or a list of IPv4 addresses",
            }));
}

TEST(SnatConfig, RulesWhoseResultWouldDependOnTheirOrderAreRefused) {
  // The same source prefix, port and protocol in two rules.
  EXPECT_EQ(error_lines(with(R"(
[[snat]]
src = ["198.18.1.0/24"]
out_port = "xgw1"
to = "masquerade"
[[snat]]
src = ["198.18.1.0/24"]
out_port = "xgw1"
protocol = "udp"
to = ["198.18.2.9"]
)")),
            (std::vector<std::string>{
                "router.toml:12:1: [[snat]] overlaps the rule at 8:1: both translate 198.18.1.0/24 udp "
                "leaving xgw1, so the result would depend on their order"}));
  // Nested prefixes do not depend on order (the most specific wins), nor do
  // other ports or protocols.
  EXPECT_TRUE(error_lines(with(R"(
[[snat]]
src = ["198.18.1.0/24"]
out_port = "xgw1"
to = "masquerade"
[[snat]]
src = ["198.18.1.128/25"]
out_port = "xgw1"
to = ["198.18.2.9"]
[[snat]]
src = ["198.18.1.0/24"]
out_port = "xgw0"
to = "masquerade"
)")).empty());
}

TEST(SnatConfig, TimeoutsAreCheckedAndRead) {
  const Config config = valid_config(with("[nat]\nudp_s = 1\ntcp_closed_s = 2\nexpiry_interval_ms = 100\n"));
  EXPECT_EQ(config.nat.timeouts.udp_s, 1u);
  EXPECT_EQ(config.nat.timeouts.tcp_closed_s, 2u);
  EXPECT_EQ(config.nat.timeouts.expiry_interval_ms, 100u);
  EXPECT_EQ(error_lines(with("[nat]\nbogus = 1\n")),
            (std::vector<std::string>{"router.toml:8:1: unknown key \"bogus\" in [nat]"}));
  EXPECT_EQ(error_lines(with("[nat]\nudp_s = 0\n")),
            (std::vector<std::string>{"router.toml:8:9: udp_s 0 is out of range (1..86400)"}));
}

TEST(SnatConfig, PortInboundIsAnyOrEstablishedOnly) {
  const Config config = valid_config(std::string(kMinimal) + "[[port]]\nname = \"xgw1\"\ninbound = \"established-only\"\n");
  ASSERT_EQ(config.ports.size(), 2u);
  EXPECT_FALSE(config.ports[0].inbound_established_only);
  EXPECT_TRUE(config.ports[1].inbound_established_only);
  EXPECT_EQ(error_lines(std::string(kMinimal) + "[[port]]\nname = \"xgw1\"\ninbound = \"closed\"\n"),
            (std::vector<std::string>{
                "router.toml:7:11: inbound \"closed\" must be \"any\" or \"established-only\""}));
}

TEST(SnatConfig, AclStateIsNewOrEstablished) {
  const Config config = valid_config(with("[[acl]]\naction = \"deny\"\nin_port = \"xgw1\"\nstate = \"new\"\n"));
  ASSERT_EQ(config.policy.acl.size(), 1u);
  EXPECT_EQ(config.policy.acl[0].state, AclState::kNew);
  EXPECT_EQ(config.policy.acl[0].name, "deny in xgw1 state new");
  EXPECT_EQ(error_lines(with("[[acl]]\naction = \"deny\"\nstate = \"related\"\n")),
            (std::vector<std::string>{
                "router.toml:9:9: state \"related\" must be \"new\" or \"established\""}));
}

}  // namespace
}  // namespace xdpgw::config
