// The load balancer's config sections: [lb] and [[vip]] with backends and
// health checks, their defaults and every refusal, with file:line:col.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace xdpgw::config {
namespace {

std::string with_lb(std::string_view sections) { return std::string(kMinimal) + std::string(sections); }

constexpr std::string_view kNatVip = R"(
[[vip]]
name = "web"
address = "198.18.100.1"
protocol = "tcp"
port = 80
[[vip.backend]]
address = "198.18.10.2"
)";

TEST(LbConfig, ExampleFileResolvesToTypedValues) {
  const Config config = load(std::filesystem::path(XDPGW_CONFIG_DIR) / "lb.toml", lab_interfaces());
  ASSERT_EQ(config.lb.vips.size(), 2u);
  const Vip& web = config.lb.vips[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.mode, LbMode::kNat);
  EXPECT_EQ(web.port, 80);
  ASSERT_EQ(web.backends.size(), 2u);
  EXPECT_EQ(web.backends[1].id(), "198.18.10.3:8080");
  EXPECT_EQ(web.backends[1].weight, 2u);
  ASSERT_TRUE(web.health_check);
  EXPECT_EQ(web.health_check->kind, HealthCheckKind::kHttp);
  EXPECT_EQ(web.health_check->path, "/healthz");
  const Vip& dns = config.lb.vips[1];
  EXPECT_EQ(dns.mode, LbMode::kDsr);
  EXPECT_EQ(dns.backends[0].id(), "[2001:2:0:10::2]:53");  // VIP port by default
  EXPECT_EQ(dns.health_check->interval_ms, 2000u);  // the documented default
  EXPECT_EQ(config.lb.tunnel_source_v6->to_string(), "2001:2:0:10::1");
}

TEST(LbConfig, DefaultsForAMinimalVip) {
  const Config config = valid_config(with_lb(kNatVip));
  ASSERT_EQ(config.lb.vips.size(), 1u);
  const Vip& vip = config.lb.vips[0];
  EXPECT_EQ(vip.mode, LbMode::kNat);
  EXPECT_EQ(vip.table_size, 65537u);  // the documented defaults
  EXPECT_EQ(vip.backends[0].port, 80);
  EXPECT_EQ(vip.backends[0].weight, 1u);
  EXPECT_FALSE(vip.health_check);
  EXPECT_EQ(config.lb.conn_table_size, 262144u);
  EXPECT_EQ(config.lb.embryonic_table_size, 65536u);
  EXPECT_EQ(config.lb.udp_new_flows_per_prefix, 2000u);
}

TEST(LbConfig, SynproxyDefaultsAndTheExample) {
  const Config example = load(std::filesystem::path(XDPGW_CONFIG_DIR) / "lb.toml", lab_interfaces());
  EXPECT_EQ(example.lb.vips[0].synproxy.mode, SynproxyMode::kAuto);
  EXPECT_EQ(example.lb.vips[0].synproxy.threshold_syn_per_second, 1000u);
  EXPECT_EQ(example.lb.vips[1].synproxy.mode, SynproxyMode::kOff);
  const Config config = valid_config(with_lb(std::string(kNatVip) + "[vip.synproxy]\nmode = \"on\"\n"));
  EXPECT_EQ(config.lb.vips[0].synproxy.mode, SynproxyMode::kOn);
  EXPECT_EQ(config.lb.vips[0].synproxy.threshold_syn_per_second, 1000u);  // the documented defaults
  EXPECT_EQ(config.lb.synproxy_mss4, 1460);
  EXPECT_EQ(config.lb.synproxy_mss6, 1440);
  EXPECT_EQ(config.lb.synproxy_wscale, 7);
}

TEST(LbConfig, AllPortsVipKeepsTheClientsPort) {
  const Config config = valid_config(with_lb(R"(
[[vip]]
name = "any"
address = "198.18.100.1"
protocol = "udp"
[[vip.backend]]
address = "198.18.10.2"
)"));
  EXPECT_EQ(config.lb.vips[0].port, 0);
  EXPECT_EQ(config.lb.vips[0].backends[0].id(), "198.18.10.2:*");
}

struct BadLb {
  const char* name;
  std::string text;
  std::vector<std::string> errors;
};

std::vector<BadLb> bad_lb() {
  return {
      {"BackendNotAnAddress",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\nport = 80\n"
               "[[vip.backend]]\naddress = \"10.0.0.300\"\n"),
       {"router.toml:11:11: backend \"10.0.0.300\" is not an IPv4 address"}},
      {"NatAcrossFamilies",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\n"
               "[[vip.backend]]\naddress = \"2001:2::5\"\n"),
       {"router.toml:10:11: backend \"2001:2::5\" is IPv6 but VIP \"web\" is IPv4; mode \"nat\" "
        "cannot translate between families (\"dsr\" can)"}},
      {"DsrWithoutTunnelSource",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\n"
               "mode = \"dsr\"\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:5:1: VIP \"web\" uses mode \"dsr\" with IPv4 backend 198.18.10.2:* but [lb] "
        "has no tunnel_source_v4"}},
      {"UnknownKeyInBackend",
       with_lb(std::string(kNatVip) + "wieght = 3\n"),
       {"router.toml:13:1: unknown key \"wieght\" in [[vip.backend]]"}},
      {"DuplicateVipListener",
       with_lb(std::string(kNatVip) +
               "[[vip]]\nname = \"web2\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\nport = 80\n"
               "[[vip.backend]]\naddress = \"198.18.10.3\"\n"),
       {"router.toml:13:1: VIP \"web2\": 198.18.100.1 tcp port 80 is already a VIP (at 6:1)"}},
      {"DuplicateBackend",
       with_lb(std::string(kNatVip) + "[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:13:1: duplicate backend 198.18.10.2:80 in VIP \"web\" (first at 11:1)"}},
      {"NoBackends",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\n"),
       {"router.toml:5:1: [[vip]] \"web\" has no [[vip.backend]]"}},
      {"HealthTimeoutNotBelowInterval",
       with_lb(std::string(kNatVip) +
               "[vip.health_check]\nkind = \"tcp\"\ninterval_ms = 100\ntimeout_ms = 100\n"),
       {"router.toml:16:14: timeout_ms 100 must be shorter than interval_ms 100"}},
      {"HealthPathOnTcp",
       with_lb(std::string(kNatVip) + "[vip.health_check]\nkind = \"tcp\"\npath = \"/x\"\n"),
       {"router.toml:15:8: path is only used by kind = \"http\""}},
      {"ConnTableTooSmall",
       with_lb("[lb]\nconn_table_size = 10\n"),
       {"router.toml:6:19: conn_table_size 10 is out of range (1024..16777216)"}},
      {"SynRateLimitOnUdp",
       with_lb("[lb]\n[[vip]]\nname = \"dns\"\naddress = \"198.18.100.1\"\nprotocol = \"udp\"\n"
               "port = 53\nsyn_rate_limit = 100\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:11:18: syn_rate_limit is for TCP VIPs; this one is \"udp\""}},
      {"EmbryonicTableTooSmall",
       with_lb("[lb]\nembryonic_table_size = 100\n"),
       {"router.toml:6:24: embryonic_table_size 100 is out of range (1024..16777216)"}},
      {"SynproxyOnDsr",
       with_lb("[lb]\ntunnel_source_v4 = \"198.18.10.1\"\n[[vip]]\nname = \"web\"\n"
               "address = \"198.18.100.1\"\nprotocol = \"tcp\"\nmode = \"dsr\"\n"
               "[vip.synproxy]\nmode = \"auto\"\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:12:1: VIP \"web\": synproxy needs mode \"nat\" (a dsr backend answers the "
        "client directly, so the gateway cannot complete its handshake); use syn_rate_limit"}},
      {"SynproxyOnUdp",
       with_lb("[[vip]]\nname = \"dns\"\naddress = \"198.18.100.1\"\nprotocol = \"udp\"\n"
               "[vip.synproxy]\nmode = \"on\"\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:9:1: VIP \"dns\": synproxy is for TCP VIPs"}},
      {"SynproxyBadModeAndThreshold",
       with_lb(std::string(kNatVip) +
               "[vip.synproxy]\nmode = \"always\"\nthreshold_syn_per_second = 0\n"),
       {"router.toml:14:8: mode \"always\" must be \"off\", \"on\" or \"auto\"",
        "router.toml:15:28: threshold_syn_per_second 0 is out of range (1..100000000)"}},
      {"SynproxyWithSteering",
       with_lb("[steering]\ncpus = [0]\n" + std::string(kNatVip) +
               "[vip.synproxy]\nmode = \"on\"\n"),
       {"router.toml:15:1: VIP \"web\": synproxy does not work with [steering] cpus yet (a CPUMAP "
        "program cannot reach the synproxy stage); leave cpus empty or set mode = \"off\""}},
      {"SynproxyWscaleTooBig",
       with_lb("[lb]\nsynproxy_wscale = 15\n"),
       {"router.toml:6:19: synproxy_wscale 15 is out of range (0..14)"}},
      {"UdpCapNegative",
       with_lb("[lb]\nudp_new_flows_per_prefix = -1\n"),
       {"router.toml:6:28: udp_new_flows_per_prefix -1 is out of range (0..100000000)"}},
      {"BadProtocolAndMode",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"sctp\"\nmode = \"tunnel\"\n"
               "[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:8:12: protocol \"sctp\" must be \"tcp\" or \"udp\"",
        "router.toml:9:8: mode \"tunnel\" must be \"nat\", \"dsr\" or \"proxy\""}},
      {"ProxyIsTcpOnly",
       with_lb("[[vip]]\nname = \"dns\"\naddress = \"198.18.100.1\"\nprotocol = \"udp\"\nport = 53\n"
               "mode = \"proxy\"\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:10:8: VIP \"dns\": mode \"proxy\" is for protocol \"tcp\" only"}},
      {"ProxyNeedsAPort",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\n"
               "mode = \"proxy\"\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"),
       {"router.toml:5:1: VIP \"web\": mode \"proxy\" needs a port"}},
      {"ProxyKeysNeedProxyMode",
       with_lb(std::string(kNatVip).replace(std::string(kNatVip).find("port = 80"), 9,
                                            "port = 80\nproxy_protocol = true\nidle_timeout_ms = 5")),
       {"router.toml:11:18: proxy_protocol is only used by mode = \"proxy\"",
        "router.toml:12:19: idle_timeout_ms is only used by mode = \"proxy\""}},
      {"ProxyShadowedByAnAllPortsVip",
       with_lb("[[vip]]\nname = \"web\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\nport = 80\n"
               "mode = \"proxy\"\n[[vip.backend]]\naddress = \"198.18.10.2\"\n"
               "[[vip]]\nname = \"all\"\naddress = \"198.18.100.1\"\nprotocol = \"tcp\"\n"
               "[[vip.backend]]\naddress = \"198.18.10.3\"\n"),
       {"router.toml:5:1: VIP \"web\" (mode \"proxy\") is shadowed by VIP \"all\", which takes every "
        "TCP port of 198.18.100.1 in XDP"}},
  };
}

class BadLbTest : public testing::TestWithParam<BadLb> {};

TEST_P(BadLbTest, IsRefusedWithPositions) {
  EXPECT_EQ(error_lines(GetParam().text), GetParam().errors) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Lb, BadLbTest, testing::ValuesIn(bad_lb()),
                         [](const testing::TestParamInfo<BadLb>& test) { return test.param.name; });

TEST(LbConfig, ProxyExampleFileResolvesToTypedValues) {
  const Config config = load(std::filesystem::path(XDPGW_CONFIG_DIR) / "lb-proxy.toml", lab_interfaces());
  ASSERT_EQ(config.lb.vips.size(), 1u);
  const Vip& web = config.lb.vips[0];
  EXPECT_EQ(web.mode, LbMode::kProxy);
  EXPECT_TRUE(web.proxy_protocol);
  EXPECT_EQ(web.max_connections, 10000u);
  EXPECT_EQ(web.idle_timeout_ms, 300000u);
  EXPECT_EQ(web.connect_timeout_ms, 2000u);
  EXPECT_EQ(web.connect_tries, 3u);
  EXPECT_EQ(web.backends[1].weight, 2u);
  EXPECT_EQ(config.lb.proxy_stop_grace_ms, 10000u);
}

TEST(LbConfig, ProxyDefaultsAndOtherFamilyBackends) {
  const Config config = valid_config(with_lb(R"(
[[vip]]
name = "web"
address = "198.18.100.1"
protocol = "tcp"
port = 443
mode = "proxy"
[[vip.backend]]
address = "2001:2:0:10::2"
)"));
  const Vip& vip = config.lb.vips[0];
  EXPECT_EQ(vip.mode, LbMode::kProxy);
  EXPECT_FALSE(vip.proxy_protocol);
  EXPECT_EQ(vip.max_connections, kDefaultProxyMaxConnections);
  EXPECT_EQ(vip.idle_timeout_ms, kDefaultProxyIdleTimeoutMs);
  EXPECT_EQ(vip.connect_tries, kDefaultProxyConnectTries);
  EXPECT_EQ(vip.backends[0].id(), "[2001:2:0:10::2]:443");
  EXPECT_EQ(config.lb.proxy_stop_grace_ms, kDefaultProxyStopGraceMs);
}

TEST(LbConfig, TableSizeMustBePrime) {
  auto text = with_lb(std::string(kNatVip).replace(std::string(kNatVip).find("port = 80"), 9,
                                                   "port = 80\ntable_size = 65536"));
  EXPECT_EQ(error_lines(text),
            std::vector<std::string>{"router.toml:11:14: table_size 65536 must be a prime (next one: 65537)"});
}

}  // namespace
}  // namespace xdpgw::config
