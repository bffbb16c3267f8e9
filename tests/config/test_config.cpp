// Tests for the config module: parse -> validate, without root or a kernel.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace xdpgw::config {
namespace {

// ---- example files ----------------------------------------------------------

TEST(ExampleFiles, EveryFileInConfigDirLoads) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(XDPGW_CONFIG_DIR)) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  }
  // Catches a wrong XDPGW_CONFIG_DIR, which would otherwise pass vacuously.
  ASSERT_GE(files.size(), 2u) << "no example files found in " << XDPGW_CONFIG_DIR;
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    try {
      (void)load(file, lab_interfaces());
    } catch (const ConfigException& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

TEST(ExampleFiles, RouterStaticResolvesToTypedValues) {
  const Config config =
      load(std::filesystem::path(XDPGW_CONFIG_DIR) / "router-static.toml", lab_interfaces());
  EXPECT_EQ(config.gateway.instance, "router-static");
  EXPECT_EQ(config.ports, (std::vector<Port>{{"xgw0", 2}, {"xgw1", 3}}));
  EXPECT_EQ(config.routing.source, RouteSource::kStatic);
  ASSERT_EQ(config.routing.routes.size(), 4u);

  const Route& v4 = config.routing.routes[1];
  EXPECT_EQ(v4.prefix.to_string(), "198.18.2.0/24");
  EXPECT_EQ(v4.prefix.addr.family, IpFamily::kV4);
  EXPECT_EQ(v4.prefix.addr.bytes, (std::array<uint8_t, 16>{198, 18, 2, 0}));
  EXPECT_EQ(v4.via.to_string(), "198.18.2.2");
  EXPECT_EQ(v4.port, "xgw1");
  EXPECT_EQ(v4.ifindex, 3u);

  const Route& v6 = config.routing.routes[2];
  EXPECT_EQ(v6.prefix.to_string(), "2001:2:0:1::/64");
  EXPECT_EQ(v6.prefix.length, 64);
  EXPECT_EQ(v6.via.family, IpFamily::kV6);
  EXPECT_EQ(v6.via.to_string(), "2001:2:0:1::2");
  EXPECT_EQ(v6.ifindex, 2u);

  EXPECT_EQ(config.steering.cpus, (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(config.steering.enabled());
}

TEST(ExampleFiles, PuntResolvesToTypedRules) {
  const Config config = load(std::filesystem::path(XDPGW_CONFIG_DIR) / "punt.toml", lab_interfaces());
  const Punt& punt = config.punt;
  EXPECT_TRUE(punt.enabled());
  EXPECT_EQ(punt.ports, (std::vector<std::string>{"xgw0", "xgw1"}));
  EXPECT_EQ(punt.tap, "xgwp-punt");
  EXPECT_EQ(punt.frames, 8192u);
  EXPECT_EQ(punt.wait, PuntWait::kIoUring);
  EXPECT_EQ(punt.bind, PuntBind::kAuto);
  ASSERT_EQ(punt.rules.size(), 3u);
  const PuntRule& dns = punt.rules[0];
  EXPECT_EQ(dns.protocol, PuntProtocol::kUdp);
  ASSERT_TRUE(dns.dst);
  EXPECT_EQ(dns.dst->to_string(), "198.18.2.0/24");
  EXPECT_FALSE(dns.src);
  EXPECT_EQ(dns.dport, (PortRange{53, 53}));
  EXPECT_EQ(dns.sport, (PortRange{0, 65535}));
  EXPECT_EQ(dns.action, PuntAction::kForward);
  EXPECT_EQ(dns.out_port, "xgw1");
  EXPECT_EQ(dns.mode, PuntMode::kFirstPacket);
  EXPECT_FALSE(dns.fallback_drop);
  EXPECT_EQ(punt.rules[1].dport, (PortRange{8000, 8099}));
  EXPECT_EQ(punt.rules[1].action, PuntAction::kPass);
  EXPECT_EQ(punt.rules[2].action, PuntAction::kDrop);
  EXPECT_TRUE(punt.rules[2].fallback_drop);
}

TEST(Punt, EveryMistakeIsReportedWithItsPosition) {
  const std::string text = std::string(kMinimal) + R"([punt]
ports = ["xgw0", "nope"]
frames = 3
wait = "spin"
[[punt.rule]]
protocol = "sctp"
dst = "198.18.2.1/24"
dport = "90-80"
action = "forward"
[[punt.rule]]
action = "pass"
out_port = "xgw0"
src = "198.18.0.0/15"
dst = "2001:2::/48"
[[punt.rule]]
dport = 5
)";
  EXPECT_EQ(error_lines(text), (std::vector<std::string>{
                                 "router.toml:6:18: punt port \"nope\" is not a [[port]]",
                                 "router.toml:7:10: frames 3 is out of range (64..1048576)",
                                 "router.toml:8:8: wait \"spin\" must be \"io_uring\" or \"busy-poll\"",
                                 "router.toml:9:1: [[punt.rule]] with action \"forward\" is missing required key \"out_port\"",
                                 "router.toml:10:12: protocol \"sctp\" must be \"any\", \"tcp\" or \"udp\"",
                                 "router.toml:11:7: dst \"198.18.2.1/24\" has host bits set; did you mean \"198.18.2.0/24\"?",
                                 "router.toml:12:9: dport \"90-80\": first port is above the last",
                                 "router.toml:16:12: out_port is only for action \"forward\"",
                                 "router.toml:18:7: dst \"2001:2::/48\" is IPv6 but src is IPv4",
                                 "router.toml:19:1: [[punt.rule]] is missing required key \"action\"",
                             }));
}

TEST(Punt, DefaultsServeEveryPortThroughANamedTap) {
  const std::string text = std::string(kMinimal) + R"([punt]
[[punt.rule]]
action = "drop"
)";
  const Config cfg = valid_config(text);
  EXPECT_EQ(cfg.punt.ports, (std::vector<std::string>{"xgw0"}));
  EXPECT_EQ(cfg.punt.tap, "xgwp-demo");
  ASSERT_EQ(cfg.punt.rules.size(), 1u);
  EXPECT_EQ(cfg.punt.rules[0].dport, (PortRange{0, 65535}));
  EXPECT_EQ(cfg.punt.rules[0].protocol, PuntProtocol::kAny);
}

TEST(ExampleFiles, RatelimitResolvesToTypedValues) {
  const Config config =
      load(std::filesystem::path(XDPGW_CONFIG_DIR) / "ratelimit.toml", lab_interfaces());
  EXPECT_EQ(config.policy.acl_default, AclAction::kAllow);
  ASSERT_EQ(config.policy.acl.size(), 3u);
  ASSERT_EQ(config.policy.prefix_sets.size(), 1u);
  EXPECT_EQ(config.policy.prefix_sets[0].name, "blocklist");
  EXPECT_EQ(config.policy.prefix_sets[0].prefixes.size(), 4u) << "inline + blocklist.txt";
  EXPECT_EQ(config.policy.acl[2].src_set, "blocklist");
  const AclRule& telnet = config.policy.acl[0];
  EXPECT_EQ(telnet.action, AclAction::kDeny);
  EXPECT_EQ(telnet.src->to_string(), "198.18.1.0/24");
  EXPECT_EQ(telnet.dst->to_string(), "198.18.2.0/24");
  EXPECT_EQ(telnet.protocol, AclProtocol::kTcp);
  EXPECT_EQ(telnet.dst_ports, (PortRange{23, 23}));
  EXPECT_FALSE(telnet.src_ports);
  EXPECT_EQ(telnet.in_ifindex, 2u);
  EXPECT_EQ(config.policy.acl[1].dst_ports, (PortRange{5000, 5010}));
  // Names: as written, or the rule's action and match; counters at first
  // by position.
  EXPECT_EQ(telnet.name, "lab-telnet");
  EXPECT_TRUE(telnet.named);
  EXPECT_EQ(config.policy.acl[1].name, "deny src 2001:2:0:1::/64 udp dport 5000-5010");
  EXPECT_FALSE(config.policy.acl[1].named);
  EXPECT_EQ(config.policy.acl[2].name, "deny src @blocklist");
  for (uint32_t i = 0; i < config.policy.acl.size(); ++i) EXPECT_EQ(config.policy.acl[i].stats_slot, i);
  const RateLimit& rl = config.policy.ratelimit;
  ASSERT_EQ(rl.classes.size(), 2u);
  EXPECT_EQ(rl.default_class, 0u);
  EXPECT_EQ(rl.classes[1].name, "lab-hosts");
  EXPECT_EQ(rl.classes[1].packets_per_second, 1000u);
  EXPECT_EQ(rl.classes[1].burst, 100u);
  EXPECT_EQ(rl.classes[1].bytes_per_second, 1250000u);
  EXPECT_EQ(rl.classes[1].burst_bytes, 150000u);
  EXPECT_EQ(rl.classes[0].bytes_per_second, 0u);
  ASSERT_EQ(rl.classes[1].sources.size(), 2u);
  EXPECT_EQ(rl.classes[1].sources[1].to_string(), "2001:2:0:1::/64");
}

// ---- defaults -----------------------------------------------------------------

TEST(ExampleFiles, RouterKernelMirrorsTheKernelsRoutes) {
  const Config config =
      load(std::filesystem::path(XDPGW_CONFIG_DIR) / "router-kernel.toml", lab_interfaces());
  EXPECT_EQ(config.routing.source, RouteSource::kKernel);
  EXPECT_TRUE(config.routing.routes.empty());
  EXPECT_EQ(config.routing.resync_interval_ms, 60000u);
}

TEST(Defaults, KernelSourceResyncsEveryMinute) {
  const Config config = valid_config(std::string(kMinimal) + "[routing]\nsource = \"kernel\"\n");
  EXPECT_EQ(config.routing.source, RouteSource::kKernel);
  EXPECT_EQ(config.routing.resync_interval_ms, 60000u);  // as documented
}

TEST(Defaults, KernelStateIsResyncedEveryHalfMinuteUnlessSet) {
  EXPECT_EQ(valid_config(kMinimal).gateway.resync_interval_ms, 30000u);  // as documented
  const Config config = valid_config(
      "[gateway]\ninstance = \"demo\"\nresync_interval_ms = 5000\n[[port]]\nname = \"xgw0\"\n");
  EXPECT_EQ(config.gateway.resync_interval_ms, 5000u);
}

TEST(Defaults, MinimalConfigIsFilledIn) {
  const Config config = valid_config(kMinimal);
  EXPECT_EQ(config.gateway.instance, "demo");
  EXPECT_EQ(config.gateway.attach_mode, AttachMode::kNative);
  EXPECT_EQ(config.gateway.missed_tail_call, MissedTailCall::kDrop);
  EXPECT_EQ(config.gateway.netns, std::nullopt);
  EXPECT_EQ(config.ports, (std::vector<Port>{{"xgw0", 2}}));
  EXPECT_EQ(config.routing.source, RouteSource::kFib);
  EXPECT_TRUE(config.routing.routes.empty());
  EXPECT_TRUE(config.steering.cpus.empty());
  EXPECT_FALSE(config.steering.enabled());
  EXPECT_EQ(config.steering.queue_size, 2048u);
  EXPECT_EQ(config.control.socket, "/run/xdpgw/demo.sock");
  ASSERT_TRUE(config.control.metrics.has_value());
  EXPECT_EQ(config.control.metrics->to_string(), "127.0.0.1:10170");
  EXPECT_EQ(config.control.log_level, "info");
}

TEST(Defaults, EmptyTablesTakeDefaultsToo) {
  const Config config = valid_config(std::string(kMinimal) + "[routing]\n[steering]\n[control]\n");
  EXPECT_EQ(config, valid_config(kMinimal));
}

TEST(Defaults, AnnounceIsOffUnlessItsTableIsThere) {
  EXPECT_FALSE(valid_config(kMinimal).announce.enabled);
  const Config config = valid_config(std::string(kMinimal) + "[announce]\n");
  EXPECT_TRUE(config.announce.enabled);
  EXPECT_EQ(config.announce.include, "/run/xdpgw/bird/demo.conf");
  EXPECT_EQ(config.announce.bird_socket, "/run/bird/bird.ctl");
  EXPECT_EQ(config.announce.protocol, "xdpgw_demo");
  EXPECT_EQ(config.announce.withdraw_grace_ms, 2000u);
}

TEST(Values, AnnounceProtocolDefaultsToABirdNameForAnyInstanceName) {
  const Config config = valid_config(R"([gateway]
instance = "gw-2"
[[port]]
name = "xgw0"
[announce]
include = "/etc/bird/xdpgw.conf"
bird_socket = "/run/bird/gw2.ctl"
withdraw_grace_ms = 0
)");
  EXPECT_EQ(config.announce.protocol, "xdpgw_gw_2");
  EXPECT_EQ(config.announce.include, "/etc/bird/xdpgw.conf");
  EXPECT_EQ(config.announce.bird_socket, "/run/bird/gw2.ctl");
  EXPECT_EQ(config.announce.withdraw_grace_ms, 0u);
}

TEST(Values, ExplicitValuesOverrideDefaults) {
  const Config config = valid_config(R"([gateway]
instance = "gw_2-b"
attach_mode = "generic"
missed_tail_call = "pass"
netns = "xgt-gw"
[[port]]
name = "xgw1"
[routing]
source = "none"
[steering]
cpus = [3, 1]
queue_size = 16384
[control]
socket = "/tmp/gw.sock"
metrics = "[2001:2::1]:9200"
log_level = "debug"
)");
  EXPECT_EQ(config.gateway.instance, "gw_2-b");
  EXPECT_EQ(config.gateway.attach_mode, AttachMode::kGeneric);
  EXPECT_EQ(config.gateway.missed_tail_call, MissedTailCall::kPass);
  EXPECT_EQ(config.gateway.netns, "xgt-gw");
  EXPECT_EQ(config.ports, (std::vector<Port>{{"xgw1", 3}}));
  EXPECT_EQ(config.routing.source, RouteSource::kNone);
  EXPECT_EQ(config.steering.cpus, (std::vector<uint32_t>{3, 1}));
  EXPECT_EQ(config.steering.queue_size, 16384u);
  EXPECT_EQ(config.control.socket, "/tmp/gw.sock");
  ASSERT_TRUE(config.control.metrics.has_value());
  EXPECT_EQ(config.control.metrics->addr.family, IpFamily::kV6);
  EXPECT_EQ(config.control.metrics->port, 9200);
  EXPECT_EQ(config.control.metrics->to_string(), "[2001:2::1]:9200");
  EXPECT_EQ(config.control.log_level, "debug");
}

TEST(Control, MetricsOffMeansNoListener) {
  const Config config = valid_config(std::string(kMinimal) + "[control]\nmetrics = \"off\"\n");
  EXPECT_EQ(config.control.metrics, std::nullopt);
}

// A reload diffs the new Config against the running one.
TEST(Values, ConfigsCompareByValue) {
  const std::string text = std::string(kMinimal) + "[steering]\ncpus = [0]\n";
  EXPECT_EQ(valid_config(text), valid_config(text));
  EXPECT_NE(valid_config(text), valid_config(kMinimal));
}

// ---- bad inputs -------------------------------------------------------------------

struct BadInput {
  std::string name;  // test name suffix
  std::string toml;
  std::vector<std::string> errors;  // exactly what the user sees, in order
};

// kMinimal is lines 1-4 of many inputs, so their own lines start at 5.
std::string after_minimal(std::string_view rest) { return std::string(kMinimal) + std::string(rest); }

const std::string kStaticRouting = after_minimal(R"([routing]
source = "static"
)");  // lines 5-6; routes start at 7

std::string static_route(std::string_view prefix, std::string_view via, std::string_view port) {
  return kStaticRouting + "[[routing.route]]\n" + "prefix = \"" + std::string(prefix) + "\"\n" +
         "via = \"" + std::string(via) + "\"\n" + "port = \"" + std::string(port) + "\"\n";
}

std::vector<BadInput> bad_inputs() {
  return {
      // -- parse: syntax, key names, types
      {"SyntaxError",
       "[gateway]\ninstance = demo\n",
       {"router.toml:2:12: Error while parsing value: could not determine value type"}},
      {"UnknownKeyAtTopLevel",
       after_minimal("[routng]\nsource = \"fib\"\n"),
       {"router.toml:5:2: unknown key \"routng\" at top level"}},
      {"UnknownKeyInGateway",
       "[gateway]\ninstance = \"demo\"\nattach = \"native\"\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:3:1: unknown key \"attach\" in [gateway]"}},
      {"UnknownKeyInPort",
       "[gateway]\ninstance = \"demo\"\n\n[[port]]\nname = \"xgw0\"\n[[port]]\nprot = \"xgw1\"\n",
       {"router.toml:7:1: unknown key \"prot\" in [[port]]"}},
      {"UnknownKeyInRoute",
       static_route("198.18.2.0/24", "198.18.1.2", "xgw0") + "metric = 10\n",
       {"router.toml:11:1: unknown key \"metric\" in [[routing.route]]"}},
      {"UnknownDottedKeyInSteering",
       after_minimal("[steering]\nqueue.size = 4\n"),
       {"router.toml:6:1: unknown key \"queue\" in [steering]"}},
      {"WrongTypeStringForInteger",
       after_minimal("[steering]\nqueue_size = \"2048\"\n"),
       {"router.toml:6:14: key \"queue_size\" in [steering] must be an integer, not a string"}},
      {"WrongTypeIntegerForString",
       "[gateway]\ninstance = 7\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:2:12: key \"instance\" in [gateway] must be a string, not an integer"}},
      {"WrongTypeArrayElement",
       after_minimal("[steering]\ncpus = [0, \"1\"]\n"),
       {"router.toml:6:12: element of \"cpus\" in [steering] must be an integer, not a string"}},
      {"WrongTypeTableForArrayOfTables",
       "[gateway]\ninstance = \"demo\"\n[port]\nname = \"xgw0\"\n",
       {"router.toml:3:1: key \"port\" at top level must be an array of tables ([[port]]), "
        "not a table"}},
      {"ParseErrorsAllReportedInSourceOrder",
       // toml++ iterates keys alphabetically; the report follows the file.
       // The top level is checked after the tables in it.
       "colour = \"blue\"\n[gateway]\ninstance = \"demo\"\nzone = 1\nalias = 2\n"
       "[[port]]\nname = \"xgw0\"\n",
       {"router.toml:1:1: unknown key \"colour\" at top level",
        "router.toml:4:1: unknown key \"zone\" in [gateway]",
        "router.toml:5:1: unknown key \"alias\" in [gateway]"}},

      // -- [gateway]
      {"MissingGatewayTable",
       "[[port]]\nname = \"xgw0\"\n",
       {"router.toml: missing required table [gateway]"}},
      {"MissingInstance",
       "[gateway]\nattach_mode = \"native\"\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:1:1: [gateway] is missing required key \"instance\""}},
      {"BadInstanceName",
       "[gateway]\ninstance = \"Demo!\"\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:2:12: instance \"Demo!\" must match [a-z0-9_-]{1,32}"}},
      {"InstanceNameTooLong",
       "[gateway]\ninstance = \"" + std::string(33, 'a') + "\"\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:2:12: instance \"" + std::string(33, 'a') +
        "\" must match [a-z0-9_-]{1,32}"}},
      {"BadAttachMode",
       "[gateway]\ninstance = \"demo\"\nattach_mode = \"offload\"\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:3:15: attach_mode \"offload\" must be \"native\" or \"generic\""}},
      {"BadNetns",
       "[gateway]\ninstance = \"demo\"\nnetns = \"../x\"\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:3:9: netns \"../x\" must be the name of a file in /run/netns"}},

      // -- [[port]]
      {"NoPorts",
       "[gateway]\ninstance = \"demo\"\n",
       {"router.toml: at least one [[port]] is required"}},
      {"DuplicatePort",
       after_minimal("[[port]]\nname = \"xgw0\"\n"),
       {"router.toml:6:8: duplicate port \"xgw0\" (first at 4:8)"}},
      {"PortNotInEnvironment",
       after_minimal("[[port]]\nname = \"xgw7\"\n"),
       {"router.toml:6:8: port \"xgw7\" does not exist (no network interface by that name)"}},
      {"PortNameTooLong",
       after_minimal("[[port]]\nname = \"xgw0123456789abc\"\n"),
       {"router.toml:6:8: port name \"xgw0123456789abc\" is longer than 15 characters "
        "(IFNAMSIZ - 1)"}},

      // -- [routing] and [[routing.route]]
      {"BadRouteSource",
       after_minimal("[routing]\nsource = \"bgp\"\n"),
       {"router.toml:6:10: source \"bgp\" must be \"fib\", \"static\", \"kernel\" or \"none\""}},
      {"BadIpv4Via",
       static_route("198.18.2.0/24", "10.0.0.300", "xgw0"),
       {"router.toml:9:7: via \"10.0.0.300\" is not an IPv4 address"}},
      {"BadIpv6Via",
       static_route("2001:2:0:2::/64", "2001:2::zz", "xgw0"),
       {"router.toml:9:7: via \"2001:2::zz\" is not an IPv6 address"}},
      {"BadIpv6Prefix",
       static_route("2001:2::1::/64", "2001:2::2", "xgw0"),
       {"router.toml:8:10: prefix \"2001:2::1::/64\": \"2001:2::1::\" is not an IPv6 address"}},
      {"PrefixWithoutLength",
       static_route("198.18.2.0", "198.18.1.2", "xgw0"),
       {"router.toml:8:10: prefix \"198.18.2.0\": expected ADDR/LEN"}},
      {"PrefixHostBitsSet",
       static_route("198.18.2.1/24", "198.18.1.2", "xgw0"),
       {"router.toml:8:10: prefix \"198.18.2.1/24\" has host bits set; "
        "did you mean \"198.18.2.0/24\"?"}},
      {"Ipv6PrefixHostBitsSet",
       static_route("2001:2:0:1::1/64", "2001:2::2", "xgw0"),
       {"router.toml:8:10: prefix \"2001:2:0:1::1/64\" has host bits set; "
        "did you mean \"2001:2:0:1::/64\"?"}},
      {"Ipv4PrefixLengthOutOfRange",
       static_route("198.18.2.0/33", "198.18.1.2", "xgw0"),
       {"router.toml:8:10: prefix \"198.18.2.0/33\": prefix length 33 is out of range for "
        "IPv4 (0..32)"}},
      {"Ipv6PrefixLengthOutOfRange",
       static_route("2001:2::/129", "2001:2::2", "xgw0"),
       {"router.toml:8:10: prefix \"2001:2::/129\": prefix length 129 is out of range for "
        "IPv6 (0..128)"}},
      {"ViaFamilyDiffersFromPrefix",
       static_route("198.18.2.0/24", "2001:2::1", "xgw0"),
       {"router.toml:9:7: via \"2001:2::1\" is IPv6 but prefix \"198.18.2.0/24\" is IPv4"}},
      {"RoutePortNotDeclared",
       static_route("198.18.2.0/24", "198.18.1.2", "xgw1"),
       {"router.toml:10:8: port \"xgw1\" is not declared in a [[port]]"}},
      {"RouteMissingVia",
       kStaticRouting + "[[routing.route]]\nprefix = \"198.18.2.0/24\"\nport = \"xgw0\"\n",
       {"router.toml:7:1: [[routing.route]] is missing required key \"via\""}},
      {"RouteWithFibSource",
       after_minimal("[routing]\nsource = \"fib\"\n[[routing.route]]\n"
                     "prefix = \"198.18.2.0/24\"\nvia = \"198.18.1.2\"\nport = \"xgw0\"\n"),
       {"router.toml:7:1: [[routing.route]] is only allowed with routing.source = \"static\", "
        "not \"fib\""}},
      {"RouteWithDefaultSource",
       after_minimal("[[routing.route]]\n"
                     "prefix = \"198.18.2.0/24\"\nvia = \"198.18.1.2\"\nport = \"xgw0\"\n"),
       {"router.toml:5:1: [[routing.route]] is only allowed with routing.source = \"static\", "
        "not \"fib\""}},
      {"RouteWithKernelSource",
       after_minimal("[routing]\nsource = \"kernel\"\n[[routing.route]]\n"
                     "prefix = \"198.18.2.0/24\"\nvia = \"198.18.1.2\"\nport = \"xgw0\"\n"),
       {"router.toml:7:1: [[routing.route]] is only allowed with routing.source = \"static\", "
        "not \"kernel\""}},
      {"ResyncIntervalWithFibSource",
       after_minimal("[routing]\nsource = \"fib\"\nresync_interval_ms = 5000\n"),
       {"router.toml:7:22: resync_interval_ms is only allowed with routing.source = \"kernel\", "
        "not \"fib\""}},
      {"GatewayResyncIntervalTooShort",
       "[gateway]\ninstance = \"demo\"\nresync_interval_ms = 999\n[[port]]\nname = \"xgw0\"\n",
       {"router.toml:3:22: resync_interval_ms 999 is out of range (1000..86400000)"}},
      {"ResyncIntervalTooShort",
       after_minimal("[routing]\nsource = \"kernel\"\nresync_interval_ms = 10\n"),
       {"router.toml:7:22: resync_interval_ms 10 is out of range (1000..86400000)"}},
      {"DuplicateRoutePrefix",
       static_route("198.18.2.0/24", "198.18.1.2", "xgw0") +
           "[[routing.route]]\nprefix = \"198.18.2.0/24\"\nvia = \"198.18.1.3\"\n"
           "port = \"xgw0\"\n",
       {"router.toml:12:10: duplicate route prefix \"198.18.2.0/24\" (first at 8:10)"}},

      // -- [steering]
      {"CpuOutOfRange",
       after_minimal("[steering]\ncpus = [0, 1024, -1]\n"),
       {"router.toml:6:12: cpu 1024 is out of range (0..1023)",
        "router.toml:6:18: cpu -1 is out of range (0..1023)"}},
      {"DuplicateCpu",
       after_minimal("[steering]\ncpus = [0, 1, 0]\n"),
       {"router.toml:6:15: duplicate cpu 0 (first at 6:9)"}},
      {"QueueSizeZero",
       after_minimal("[steering]\nqueue_size = 0\n"),
       {"router.toml:6:14: queue_size 0 is out of range (1..16384)"}},
      {"QueueSizeTooLarge",
       after_minimal("[steering]\nqueue_size = 16385\n"),
       {"router.toml:6:14: queue_size 16385 is out of range (1..16384)"}},

      // -- [control]
      {"RelativeSocketPath",
       after_minimal("[control]\nsocket = \"run/xdpgw.sock\"\n"),
       {"router.toml:6:10: socket \"run/xdpgw.sock\" must be an absolute path"}},
      {"MetricsHostName",
       after_minimal("[control]\nmetrics = \"localhost:9100\"\n"),
       {"router.toml:6:11: metrics \"localhost:9100\": \"localhost\" is not an IPv4 address (or \"off\")"}},
      {"MetricsPortZero",
       after_minimal("[control]\nmetrics = \"127.0.0.1:0\"\n"),
       {"router.toml:6:11: metrics \"127.0.0.1:0\": port 0 is out of range (1..65535) (or \"off\")"}},
      {"MetricsWithoutPort",
       after_minimal("[control]\nmetrics = \"127.0.0.1\"\n"),
       {"router.toml:6:11: metrics \"127.0.0.1\": expected ADDR:PORT or [IPv6]:PORT (or \"off\")"}},
      {"MetricsIpv6WithoutBrackets",
       after_minimal("[control]\nmetrics = \"::1:9100\"\n"),
       {"router.toml:6:11: metrics \"::1:9100\": an IPv6 address must be written in brackets, "
        "as [ADDR]:PORT (or \"off\")"}},

      {"LogLevelUnknown",
       after_minimal("[control]\nlog_level = \"verbose\"\n"),
       {"router.toml:6:13: log_level \"verbose\": not one of trace, debug, info, warn, error, "
        "critical, off"}},

      // -- [announce]
      {"AnnounceRelativeInclude",
       after_minimal("[announce]\ninclude = \"bird/vips.conf\"\n"),
       {"router.toml:6:11: include \"bird/vips.conf\" must be an absolute file path (BIRD and "
        "xdpgw resolve relative paths from different directories)"}},
      {"AnnounceBirdSocketRelative",
       after_minimal("[announce]\nbird_socket = \"bird.ctl\"\n"),
       {"router.toml:6:15: bird_socket \"bird.ctl\" must be an absolute path"}},
      {"AnnounceProtocolNotABirdName",
       after_minimal("[announce]\nprotocol = \"xdpgw-vips\"\n"),
       {"router.toml:6:12: protocol \"xdpgw-vips\" must be a BIRD name: a letter or '_', then "
        "letters, digits or '_', at most 57 characters"}},
      {"AnnounceGraceTooLong",
       after_minimal("[announce]\nwithdraw_grace_ms = 30000\n"),
       {"router.toml:6:21: withdraw_grace_ms 30000 is out of range (0..20000)"}},
      {"AnnounceUnknownKey",
       after_minimal("[announce]\nneighbor = \"198.18.0.1\"\n"),
       {"router.toml:6:1: unknown key \"neighbor\" in [announce]"}},

      // -- several independent errors. [control] comes first in the file but
      // is checked last: the report must still follow the file.
      // -- policy: [policy], [[acl]], [ratelimit]
      {"AclUnknownKey",
       after_minimal("[[acl]]\naction = \"deny\"\nport = \"xgw0\"\n"),
       {"router.toml:7:1: unknown key \"port\" in [[acl]]"}},
      {"AclMissingAction",
       after_minimal("[[acl]]\nsrc = \"198.18.1.0/24\"\n"),
       {"router.toml:5:1: [[acl]] is missing required key \"action\""}},
      {"AclBadAction",
       after_minimal("[[acl]]\naction = \"reject\"\n"),
       {"router.toml:6:10: action \"reject\" must be \"allow\" or \"deny\""}},
      {"AclNameBadCharacters",
       after_minimal("[[acl]]\nname = \"Block Telnet\"\naction = \"deny\"\n"),
       {"router.toml:6:8: acl rule name \"Block Telnet\" must match [a-z0-9_-]{1,32}"}},
      {"AclNameTooLong",
       after_minimal("[[acl]]\nname = \"" + std::string(33, 'a') + "\"\naction = \"deny\"\n"),
       {"router.toml:6:8: acl rule name \"" + std::string(33, 'a') + "\" must match [a-z0-9_-]{1,32}"}},
      {"AclNameDuplicate",
       after_minimal("[[acl]]\nname = \"telnet\"\naction = \"deny\"\n"
                     "[[acl]]\nname = \"telnet\"\naction = \"allow\"\n"),
       {"router.toml:9:8: duplicate acl rule \"telnet\" (first at 6:8)"}},
      {"AclNameDefaultIsReserved",
       after_minimal("[[acl]]\nname = \"default\"\naction = \"deny\"\n"),
       {"router.toml:6:8: acl rule name \"default\" is reserved for [policy] acl_default"}},
      {"AclPrefixHostBits",
       after_minimal("[[acl]]\naction = \"deny\"\nsrc = \"198.18.1.1/24\"\n"),
       {"router.toml:7:7: src \"198.18.1.1/24\" has host bits set; did you mean \"198.18.1.0/24\"?"}},
      {"AclMixedFamilies",
       after_minimal("[[acl]]\naction = \"deny\"\nsrc = \"198.18.1.0/24\"\ndst = \"2001:2::/48\"\n"),
       {"router.toml:8:7: dst \"2001:2::/48\" is IPv6 but src \"198.18.1.0/24\" is IPv4"}},
      {"AclPortsNeedTcpOrUdp",
       after_minimal("[[acl]]\naction = \"deny\"\nprotocol = \"icmp\"\ndst_ports = \"80\"\n"),
       {"router.toml:8:13: dst_ports needs protocol = \"tcp\" or \"udp\""}},
      {"AclBadPortRange",
       after_minimal("[[acl]]\naction = \"deny\"\nprotocol = \"tcp\"\nsrc_ports = \"90-80\"\n"
                     "dst_ports = \"65536\"\n"),
       {"router.toml:8:13: src_ports \"90-80\": first port is above the last",
        "router.toml:9:13: dst_ports \"65536\" must be a port (0..65535) or a range \"FIRST-LAST\""}},
      {"AclBadProtocol",
       after_minimal("[[acl]]\naction = \"deny\"\nprotocol = \"sctp\"\n"),
       {"router.toml:7:12: protocol \"sctp\" must be \"any\", \"tcp\", \"udp\", \"icmp\" or \"icmpv6\""}},
      {"AclUndeclaredInPort",
       after_minimal("[[acl]]\naction = \"deny\"\nin_port = \"xgw1\"\n"),
       {"router.toml:7:11: in_port \"xgw1\" is not declared in a [[port]]"}},
      {"AclUnknownPrefixSet",
       after_minimal("[[acl]]\naction = \"deny\"\nsrc = \"@blocklist\"\n"),
       {"router.toml:7:7: src \"@blocklist\": no [[prefix_set]] named \"blocklist\""}},
      {"PrefixSetBadEntries",
       after_minimal("[[prefix_set]]\nname = \"a\"\nprefixes = [\"198.18.1.1/24\", \"198.18.300.0\", "
                     "\"2001:2::/129\"]\n"),
       {"router.toml:7:13: prefix \"198.18.1.1/24\": has host bits set; did you mean \"198.18.1.0/24\"?",
        "router.toml:7:30: prefix \"198.18.300.0\": \"198.18.300.0\" is not an IPv4 address",
        "router.toml:7:46: prefix \"2001:2::/129\": prefix length 129 is out of range for IPv6 (0..128)"}},
      {"PrefixSetNames",
       after_minimal("[[prefix_set]]\nname = \"Bad Name\"\n[[prefix_set]]\nname = \"a\"\n"
                     "[[prefix_set]]\nname = \"a\"\n[[prefix_set]]\nprefixes = []\n"),
       {"router.toml:6:8: prefix set name \"Bad Name\" must match [a-z0-9_-]{1,32}",
        "router.toml:10:8: duplicate prefix set \"a\" (first at 8:8)",
        "router.toml:11:1: [[prefix_set]] is missing required key \"name\""}},
      {"PrefixSetMissingFile",
       after_minimal("[[prefix_set]]\nname = \"a\"\nfile = \"/nonexistent/xdpgw/drop.txt\"\n"),
       {"router.toml:7:8: file \"/nonexistent/xdpgw/drop.txt\" cannot open: No such file or directory"}},
      {"PrefixSetFileThatIsNotARegularFile",
       after_minimal("[[prefix_set]]\nname = \"a\"\nfile = \"/dev/zero\"\n"
                     "[[prefix_set]]\nname = \"b\"\nfile = \"/\"\n"),
       {"router.toml:7:8: file \"/dev/zero\" is not a regular file",
        "router.toml:10:8: file \"/\" is a directory"}},
      {"AclSetsWithoutACommonFamily",
       after_minimal("[[prefix_set]]\nname = \"v4\"\nprefixes = [\"198.18.1.0/24\"]\n"
                     "[[prefix_set]]\nname = \"v6\"\nprefixes = [\"2001:2::/48\"]\n"
                     "[[acl]]\naction = \"deny\"\nsrc = \"@v4\"\ndst = \"@v6\"\n"
                     "[[acl]]\naction = \"deny\"\nsrc = \"@v6\"\ndst = \"198.18.2.0/24\"\n"),
       {"router.toml:14:7: dst \"@v6\" and src \"@v4\" have no address family in common",
        "router.toml:18:7: dst \"198.18.2.0/24\" and src \"@v6\" have no address family in common"}},
      {"PolicyBadDefault",
       after_minimal("[policy]\nacl_default = \"drop\"\n"),
       {"router.toml:6:15: acl_default \"drop\" must be \"allow\" or \"deny\""}},
      {"RateClassBounds",
       after_minimal("[ratelimit]\n[[ratelimit.class]]\nname = \"a\"\npackets_per_second = 0\n"
                     "burst = 10000001\n"),
       {"router.toml:8:22: packets_per_second 0 is out of range (1..100000000)",
        "router.toml:9:9: burst 10000001 is out of range (1..10000000)"}},
      {"RateClassMissingKeys",
       after_minimal("[ratelimit]\n[[ratelimit.class]]\nname = \"a\"\n"),
       {"router.toml:6:1: [[ratelimit.class]] is missing required key \"packets_per_second\"",
        "router.toml:6:1: [[ratelimit.class]] is missing required key \"burst\""}},
      {"RateClassDuplicateNameAndSource",
       after_minimal("[ratelimit]\n"
                     "[[ratelimit.class]]\nname = \"a\"\npackets_per_second = 1\nburst = 1\n"
                     "sources = [\"198.18.1.0/24\"]\n"
                     "[[ratelimit.class]]\nname = \"a\"\npackets_per_second = 1\nburst = 1\n"
                     "sources = [\"198.18.1.0/24\"]\n"),
       {"router.toml:12:8: duplicate class \"a\" (first at 7:8)",
        "router.toml:15:12: source \"198.18.1.0/24\" is already in a class (first at 10:12)"}},
      {"RateClassBadName",
       after_minimal("[ratelimit]\n[[ratelimit.class]]\nname = \"Fast!\"\npackets_per_second = 1\nburst = 1\n"),
       {"router.toml:7:8: class name \"Fast!\" must match [a-z0-9_-]{1,32}"}},
      {"RateBytesNeedBurstBytes",
       after_minimal("[ratelimit]\n[[ratelimit.class]]\nname = \"a\"\npackets_per_second = 1\nburst = 1\n"
                     "bytes_per_second = 5000\n"),
       {"router.toml:10:20: bytes_per_second and burst_bytes go together: set both or neither"}},
      {"RateBytesBounds",
       after_minimal("[ratelimit]\n[[ratelimit.class]]\nname = \"a\"\npackets_per_second = 1\nburst = 1\n"
                     "bytes_per_second = 999\nburst_bytes = 1000000001\n"),
       {"router.toml:10:20: bytes_per_second 999 is out of range (1000..100000000000)",
        "router.toml:11:15: burst_bytes 1000000001 is out of range (1500..1000000000)"}},
      {"RateDefaultClassUnknown",
       after_minimal("[ratelimit]\ndefault_class = \"nope\"\n"),
       {"router.toml:6:17: default_class \"nope\" is not a [[ratelimit.class]]"}},
      {"RateSourcesMustBeStrings",
       after_minimal("[ratelimit]\n[[ratelimit.class]]\nname = \"a\"\npackets_per_second = 1\nburst = 1\n"
                     "sources = [1]\n"),
       {"router.toml:10:12: element of \"sources\" in [[ratelimit.class]] must be a string, not an integer"}},
      {"RateUnknownKey",
       after_minimal("[ratelimit]\nrate = 5\n"),
       {"router.toml:6:1: unknown key \"rate\" in [ratelimit]"}},
      {"ThreeIndependentErrorsInSourceOrder",
       "[control]\nsocket = \"xdpgw.sock\"\n"
       "[gateway]\ninstance = \"Demo\"\n"
       "[[port]]\nname = \"xgw0\"\n"
       "[steering]\nqueue_size = 0\n",
       {"router.toml:2:10: socket \"xdpgw.sock\" must be an absolute path",
        "router.toml:4:12: instance \"Demo\" must match [a-z0-9_-]{1,32}",
        "router.toml:8:14: queue_size 0 is out of range (1..16384)"}},
  };
}

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const BadInput& input, std::ostream* out) { *out << input.name; }

class BadInputTest : public testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, ReportsExactlyTheseErrors) {
  EXPECT_EQ(error_lines(GetParam().toml), GetParam().errors) << GetParam().toml;
}

INSTANTIATE_TEST_SUITE_P(Config, BadInputTest, testing::ValuesIn(bad_inputs()),
                         [](const testing::TestParamInfo<BadInput>& test) {
                           return test.param.name;
                         });

// ---- files, exceptions, formatting ------------------------------------------------

// Unnamed rules are named after their content, never their position: a
// rule with no match is "ACTION any", and an identical rule after another
// gets " #2".
TEST(Acl, UnnamedRulesAreNamedAfterWhatTheyDo) {
  const Config config = valid_config(after_minimal(
      "[[acl]]\naction = \"allow\"\nprotocol = \"icmp\"\n"
      "[[acl]]\naction = \"deny\"\n"
      "[[acl]]\naction = \"deny\"\n"
      "[[acl]]\nname = \"web\"\naction = \"allow\"\nprotocol = \"tcp\"\ndst_ports = \"80\"\nin_port = \"xgw0\"\n"));
  ASSERT_EQ(config.policy.acl.size(), 4u);
  EXPECT_EQ(config.policy.acl[0].name, "allow icmp");
  EXPECT_EQ(config.policy.acl[1].name, "deny any");
  EXPECT_EQ(config.policy.acl[2].name, "deny any #2");
  EXPECT_EQ(config.policy.acl[3].name, "web");
  EXPECT_EQ(describe(config.policy.acl[3]), "allow tcp dport 80 in xgw0");
}

// A reload keeps each rule's hit counter by name: a rule that moved keeps
// its slot, a new rule gets one the running config does not count into
// (zeroed first), a removed rule's slot is free again.
TEST(Acl, ReloadKeepsEachNamedRulesCounterSlot) {
  const Config running = valid_config(after_minimal(
      "[[acl]]\nname = \"a\"\naction = \"deny\"\nprotocol = \"udp\"\n"
      "[[acl]]\nname = \"b\"\naction = \"deny\"\nprotocol = \"tcp\"\n"
      "[[acl]]\naction = \"allow\"\nprotocol = \"icmp\"\n"));
  Config next = valid_config(after_minimal(
      "[[acl]]\naction = \"deny\"\nprotocol = \"icmpv6\"\n"
      "[[acl]]\nname = \"b\"\naction = \"deny\"\nprotocol = \"tcp\"\n"
      "[[acl]]\naction = \"allow\"\nprotocol = \"icmp\"\n"
      "[[acl]]\nname = \"a\"\naction = \"deny\"\nprotocol = \"udp\"\n"));
  const std::vector<uint32_t> fresh = keep_acl_stats_slots(running.policy.acl, next.policy.acl);
  EXPECT_EQ(next.policy.acl[1].stats_slot, 1u) << "b stayed";
  EXPECT_EQ(next.policy.acl[2].stats_slot, 2u) << "\"allow icmp\" stayed";
  EXPECT_EQ(next.policy.acl[3].stats_slot, 0u) << "a moved from first to last";
  EXPECT_EQ(next.policy.acl[0].stats_slot, 3u) << "the new rule: a slot nobody counted into";
  EXPECT_EQ(fresh, std::vector<uint32_t>{3});
  // Applying the same config again changes nothing.
  Config again = next;
  EXPECT_TRUE(keep_acl_stats_slots(next.policy.acl, again.policy.acl).empty());
  EXPECT_EQ(again, next);
}

TEST(Load, ThrowsEveryValidationErrorNamingThePathAsGiven) {
  const TempFile file("lb.toml", after_minimal("[steering]\ncpus = [1, 1]\nqueue_size = 0\n"));
  try {
    (void)load(file.path(), lab_interfaces());
    FAIL() << "load accepted an invalid file";
  } catch (const ConfigException& e) {
    const std::string path = file.path().string();
    ASSERT_EQ(e.errors().size(), 2u);
    EXPECT_EQ(e.errors()[0].to_string(), path + ":6:12: duplicate cpu 1 (first at 6:9)");
    EXPECT_EQ(e.errors()[1].to_string(), path + ":7:14: queue_size 0 is out of range (1..16384)");
    EXPECT_EQ(std::string(e.what()),
              e.errors()[0].to_string() + "\n" + e.errors()[1].to_string());
  }
}

TEST(Load, ParseErrorsStopBeforeValidation) {
  // The missing [gateway] would be a validation error; the syntax error wins.
  const TempFile file("router.toml", "[[port]]\nname = \"xgw0\"\nx = \n");
  try {
    (void)load(file.path(), lab_interfaces());
    FAIL() << "load accepted an invalid file";
  } catch (const ConfigException& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].pos.line, 3u);
  }
}

TEST(Parse, MissingFileIsAnErrorWithoutPosition) {
  const Result<RawConfig> raw = parse("/nonexistent/xdpgw/router.toml");
  ASSERT_FALSE(raw.ok());
  ASSERT_EQ(raw.errors().size(), 1u);
  EXPECT_EQ(raw.errors()[0].to_string(),
            "/nonexistent/xdpgw/router.toml: cannot open: No such file or directory");
}

TEST(Parse, KeepsSourcePositionsOfValues) {
  const Result<RawConfig> raw = parse_string(kMinimal, "router.toml");
  ASSERT_TRUE(raw.ok()) << to_string(raw.errors());
  ASSERT_TRUE(raw.value().gateway && raw.value().gateway->instance);
  EXPECT_EQ(raw.value().gateway->pos, (SourcePos{1, 1}));
  EXPECT_EQ(raw.value().gateway->instance->pos, (SourcePos{2, 12}));
  ASSERT_EQ(raw.value().ports.size(), 1u);
  EXPECT_EQ(raw.value().ports[0].pos, (SourcePos{3, 1}));
  EXPECT_EQ(raw.value().ports[0].name->pos, (SourcePos{4, 8}));
}

TEST(Result, ValueOfFailedResultThrowsItsErrors) {
  const Result<int> failed(std::vector<ConfigError>{{"a.toml", {3, 4}, "bad"}});
  EXPECT_FALSE(failed.ok());
  EXPECT_THROW((void)failed.value(), ConfigException);
  const Result<int> succeeded(7);
  EXPECT_TRUE(succeeded.errors().empty());
  EXPECT_EQ(succeeded.value(), 7);
}

// ---- address helpers ----------------------------------------------------------------

TEST(IpAddr, ParsesBothFamiliesAndRejectsNearMisses) {
  EXPECT_EQ(IpAddr::parse("198.18.0.1")->bytes, (std::array<uint8_t, 16>{198, 18, 0, 1}));
  EXPECT_EQ(IpAddr::parse("2001:2::1")->to_string(), "2001:2::1");
  for (const char* text : {"10.0.0.300", "1.2.3", "1.2.3.4.5", "", " 1.2.3.4", "2001:2::g"}) {
    EXPECT_FALSE(IpAddr::parse(text)) << text;
  }
  // TOML strings may hold NUL; inet_pton would stop reading at it.
  EXPECT_FALSE(IpAddr::parse(std::string_view("1.2.3.4\0junk", 12)));
}

TEST(IpPrefix, NetworkClearsHostBits) {
  const auto prefix = IpPrefix::parse("198.18.255.255/15");
  ASSERT_TRUE(prefix);
  EXPECT_TRUE(prefix->has_host_bits());
  EXPECT_EQ(prefix->network().to_string(), "198.18.0.0/15");
  EXPECT_FALSE(IpPrefix::parse("0.0.0.0/0")->has_host_bits());
  EXPECT_FALSE(IpPrefix::parse("2001:2::1/128")->has_host_bits());
  EXPECT_EQ(IpPrefix::parse("2001:2:ffff::/33")->network().to_string(), "2001:2:8000::/33");
  EXPECT_FALSE(IpPrefix::parse("198.18.0.0/-1"));
  EXPECT_FALSE(IpPrefix::parse("198.18.0.0/99999999999999999999999"));
}

TEST(Endpoint, ParsesIpv4AndBracketedIpv6) {
  const auto v4 = Endpoint::parse("198.18.0.1:65535");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->port, 65535);
  const auto v6 = Endpoint::parse("[::1]:1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "[::1]:1");
  EXPECT_FALSE(Endpoint::parse("198.18.0.1:65536"));
  EXPECT_FALSE(Endpoint::parse("[198.18.0.1]:80"));
  EXPECT_FALSE(Endpoint::parse("[::1]80"));
}

}  // namespace
}  // namespace xdpgw::config

namespace xdpgw::config {
namespace {

TEST(FlowExportConfig, ExampleFileResolvesToTypedValues) {
  const Config config =
      load(std::filesystem::path(XDPGW_CONFIG_DIR) / "router-flow-export.toml", lab_interfaces());
  const FlowExport& fe = config.flow_export;
  ASSERT_TRUE(fe.enabled());
  ASSERT_EQ(fe.collectors.size(), 2u);
  EXPECT_EQ(fe.collectors[0].to_string(), "ipfix://198.18.3.2:4739");
  EXPECT_EQ(fe.collectors[1].format, FlowFormat::kNetflow9);
  EXPECT_EQ(fe.collectors[1].port, 9995);
  EXPECT_EQ(fe.active_timeout_s, 60u);
  EXPECT_EQ(fe.inactive_timeout_s, 15u);
  EXPECT_EQ(fe.observation_domain_id, 1u);
  EXPECT_EQ(fe.sampling, 1u);
}

TEST(FlowExportConfig, AbsentMeansOffAndDefaultsFillIn) {
  EXPECT_FALSE(valid_config(kMinimal).flow_export.enabled());
  const Config config = valid_config(std::string(kMinimal) + R"(
[flow_export]
collectors = [{ address = "2001:db8::9" }]
)");
  const FlowExport& fe = config.flow_export;
  ASSERT_EQ(fe.collectors.size(), 1u);
  EXPECT_EQ(fe.collectors[0].to_string(), "ipfix://[2001:db8::9]:4739");
  EXPECT_EQ(fe.active_timeout_s, kDefaultActiveTimeoutS);
  EXPECT_EQ(fe.inactive_timeout_s, kDefaultInactiveTimeoutS);
  EXPECT_EQ(fe.template_refresh_s, kDefaultTemplateRefreshS);
  EXPECT_EQ(fe.sampling, 1u);
}

TEST(FlowExportConfig, EveryMistakeIsReportedWithItsPosition) {
  EXPECT_EQ(error_lines(std::string(kMinimal) + R"([flow_export]
collectors = [
  { address = "198.18.3.300", format = "sflow" },
  { port = 0 },
  { address = "198.18.3.2" },
  { address = "198.18.3.2", port = 4739 },
]
active_timeout_s = 10
inactive_timeout_s = 20
sampling = 0
)"),
            (std::vector<std::string>{
                "router.toml:7:15: collector address: \"198.18.3.300\" is not an IPv4 address",
                "router.toml:7:40: format \"sflow\" must be \"ipfix\" or \"netflow9\"",
                "router.toml:8:3: a collector is missing required key \"address\"",
                "router.toml:8:12: port 0 is out of range (1..65535)",
                "router.toml:10:3: collector ipfix://198.18.3.2:4739 is listed twice",
                "router.toml:13:22: inactive_timeout_s 20 is longer than active_timeout_s 10: a flow "
                "would never go idle before its active timeout",
                "router.toml:14:12: sampling 0 is out of range (1..16777216)",
            }));
  EXPECT_EQ(error_lines(std::string(kMinimal) +
                        "[flow_export]\ncollectors = [{ address = \"198.18.3.2\", colour = \"red\" }]\n"),
            (std::vector<std::string>{
                "router.toml:6:41: unknown key \"colour\" in [[flow_export.collectors]]"}));
  EXPECT_EQ(error_lines(std::string(kMinimal) + "[flow_export]\n"),
            (std::vector<std::string>{
                "router.toml:5:1: [flow_export] needs at least one collector (collectors = [{ address = "
                "\"ADDR\", port = 4739, format = \"ipfix\" }])"}));
}

}  // namespace
}  // namespace xdpgw::config
