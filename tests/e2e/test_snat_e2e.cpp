// Source NAT end to end, with real clients: host A (198.18.1.2 and a second
// inside address, 198.18.1.3) behind the gateway, host B (198.18.2.2)
// outside with no route back to A's network, so only translated flows can
// be answered. The same client suite (curl to python's http.server, iperf3
// TCP and UDP, ping) runs through two gateways on the same topology: xdpgw
// with [[snat]] masquerade, and the reference, the gateway's kernel with
// nftables `masquerade` and `ct state established,related accept`. Host B's
// own nftables counters say which sources reached it: only the gateway's
// 198.18.2.1, never an inside address.
//
// No assertion depends on timing: waits are bounded and only wait for
// something to happen (a server listening, a translation expiring).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/child_process.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kHostA4b = "198.18.1.3";  // the second inside source
constexpr uint16_t kHttpPort = 8080;
constexpr uint16_t kIperfPort = 5201;
constexpr std::size_t kHttpBytes = 1u << 20;

enum class NatGateway { kXdpgw, kNftables };

std::string snat_toml(const RouterTopology& topo, std::string_view extra = "") {
  return fmt::format("\n[[snat]]\nsrc = [\"{}\"]\nout_port = \"{}\"\nto = \"masquerade\"\n{}", kSubnetA4,
                     topo.gateway_port_b().name, extra);
}

GatewayConfig xdpgw_config(const RouterTopology& topo, std::string_view snat_extra = "",
                           std::string_view nat_section = "") {
  return {.ports = {topo.gateway_port_a().name, topo.gateway_port_b().name},
          .route_source = RouteSource::kFib,
          .routes = {},
          .steering_cpus = {},
          .extra_toml = snat_toml(topo, snat_extra) + std::string(nat_section)};
}

// The topology with B's way back removed, the second inside address, and
// host B counting what it receives by source.
class NatTopology {
 public:
  NatTopology() {
    topo_.host_a().exec_ok(fmt::format("ip addr add {}/24 dev {}", kHostA4b, topo_.host_a_end().name));
    topo_.host_b().exec_ok("ip route del default");
    topo_.host_b().exec_ok(fmt::format(
        "nft -f - <<'EOF'\n"
        "table ip seen {{\n"
        "  chain input {{\n"
        "    type filter hook input priority 0;\n"
        "    ip saddr {} counter\n"
        "    ip saddr {} counter\n"
        "  }}\n"
        "}}\n"
        "EOF",
        kSubnetA4, kGatewayB4));
  }

  RouterTopology& topo() { return topo_; }

  // Packets host B received from inside addresses, and from the gateway.
  std::pair<uint64_t, uint64_t> seen_at_b() const {
    const auto listing = nlohmann::json::parse(topo_.host_b().exec_ok("nft -j list table ip seen"));
    std::vector<uint64_t> counts;
    for (const auto& item : listing["nftables"]) {
      if (!item.contains("rule")) continue;
      for (const auto& expr : item["rule"]["expr"])
        if (expr.contains("counter")) counts.push_back(expr["counter"]["packets"].get<uint64_t>());
    }
    if (counts.size() != 2) throw std::runtime_error("host B's counters: " + listing.dump());
    return {counts[0], counts[1]};
  }

 private:
  RouterTopology topo_{TopologyOptions{.ipv6 = false, .static_neighbours = true}};
};

// A server in a host namespace, its output in `log`, killed at the end.
class Server {
 public:
  Server(const Netns& ns, std::vector<std::string> argv, const std::filesystem::path& log)
      : log_(log), process_([&] {
          std::vector<std::string> full{"/usr/bin/nsenter", "--net=" + ns.path()};
          full.insert(full.end(), argv.begin(), argv.end());
          return ChildProcess(full, log);
        }()) {}
  std::string output() const {
    std::ifstream in(log_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  std::filesystem::path log_;
  ChildProcess process_;
};

bool listening(const Netns& ns, uint16_t port) {
  return ns.exec(fmt::format("ss -Hltn 'sport = :{}' | grep -q LISTEN", port)).ok();
}

class SnatClientSuite : public ::testing::TestWithParam<NatGateway> {
 protected:
  SnatClientSuite() {
    RouterTopology& t = net_.topo();
    if (GetParam() == NatGateway::kXdpgw) {
      daemon_.emplace(t.gateway(), xdpgw_config(t));
    } else {
      t.gateway().exec_ok(fmt::format(
          "nft -f - <<'EOF'\n"
          "table ip reference_nat {{\n"
          "  chain post {{\n"
          "    type nat hook postrouting priority srcnat;\n"
          "    oifname \"{}\" ip saddr {} masquerade\n"
          "  }}\n"
          "  chain forward_filter {{\n"
          "    type filter hook forward priority filter; policy drop;\n"
          "    ct state established,related accept\n"
          "    iifname \"{}\" accept\n"
          "  }}\n"
          "}}\n"
          "EOF",
          t.gateway_port_b().name, kSubnetA4, t.gateway_port_a().name));
    }
    std::ofstream(dir_.path() / "blob") << std::string(reinterpret_cast<const char*>(
                                                           pseudo_random_bytes(kHttpBytes, 18).data()),
                                                       kHttpBytes);
    http_.emplace(t.host_b(),
                  std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", std::to_string(kHttpPort),
                                           "--bind", std::string(kHostB4), "--directory", dir_.path().string()},
                  dir_.path() / "http.log");
    iperf_.emplace(t.host_b(),
                   std::vector<std::string>{"/usr/bin/iperf3", "-s", "--forceflush", "-B", std::string(kHostB4), "-p",
                                            std::to_string(kIperfPort)},
                   dir_.path() / "iperf.log");
    EXPECT_TRUE(wait_until([&] { return listening(t.host_b(), kHttpPort) && listening(t.host_b(), kIperfPort); },
                           20s, 50ms))
        << "servers did not listen";
  }

  NatTopology net_;
  TempDir dir_;
  std::optional<GatewayDaemon> daemon_;
  std::optional<Server> http_;
  std::optional<Server> iperf_;
};

TEST_P(SnatClientSuite, CurlIperf3AndPingFromTwoInsideSourcesReachTheOutsideAsTheGatewayOnly) {
  RouterTopology& t = net_.topo();
  for (std::string_view src : {kHostA4, kHostA4b}) {
    SCOPED_TRACE(std::string(src));
    const CmdResult curl = t.host_a().exec(fmt::format(
        "curl -sS --fail --max-time 30 --interface {} -o /dev/null -w '%{{size_download}}' http://{}:{}/blob",
        src, kHostB4, kHttpPort));
    ASSERT_TRUE(curl.ok()) << curl.output;
    EXPECT_EQ(curl.output, std::to_string(kHttpBytes));

    const CmdResult tcp = t.host_a().exec(
        fmt::format("iperf3 -c {} -p {} -B {} -t 2 -J", kHostB4, kIperfPort, src));
    ASSERT_TRUE(tcp.ok()) << tcp.output;
    // (iperf3's sent and received sums differ by what was in flight when
    // the time was up: curl's download above is the exact byte check.)
    const auto tj = nlohmann::json::parse(tcp.output);
    EXPECT_GT(tj["end"]["sum_received"]["bytes"].get<uint64_t>(), 0u) << tcp.output;

    const CmdResult udp = t.host_a().exec(
        fmt::format("iperf3 -c {} -p {} -B {} -u -b 10M -t 2 -J", kHostB4, kIperfPort, src));
    ASSERT_TRUE(udp.ok()) << udp.output;
    const auto uj = nlohmann::json::parse(udp.output);
    EXPECT_GT(uj["end"]["sum"]["packets"].get<uint64_t>(), 0u) << "the server received no datagram";

    const CmdResult ping = t.host_a().exec(fmt::format("ping -c 3 -W 5 -I {} {}", src, kHostB4));
    EXPECT_TRUE(ping.ok()) << ping.output;
  }
  const auto [from_inside, from_gateway] = net_.seen_at_b();
  EXPECT_EQ(from_inside, 0u) << "an inside address reached the outside";
  EXPECT_GT(from_gateway, 1000u);
  // The servers saw the gateway's address, twice each.
  EXPECT_EQ(http_->output().find("198.18.1."), std::string::npos) << http_->output();
  EXPECT_NE(http_->output().find(fmt::format("{} - - ", kGatewayB4)), std::string::npos) << http_->output();
  EXPECT_EQ(iperf_->output().find("from 198.18.1."), std::string::npos) << iperf_->output();
  EXPECT_NE(iperf_->output().find(fmt::format("Accepted connection from {}", kGatewayB4)), std::string::npos)
      << iperf_->output();

  if (GetParam() == NatGateway::kXdpgw) {
    // XDP translated, not the gateway's kernel (it has no NAT rule here).
    const VerdictSnapshot v = daemon_->verdicts();
    EXPECT_GT(v.total(XDPGW_R_FWD_SNAT), 1000u);
    EXPECT_GT(v.total(XDPGW_R_FWD_SNAT_REVERSE), 1000u);
    const CmdResult flows = run_cmd(fmt::format("{} flows --json --socket {}", XDPGW_BINARY,
                                                daemon_->control_socket().string()));
    ASSERT_TRUE(flows.ok()) << flows.output;
    const auto fj = nlohmann::json::parse(flows.output);
    EXPECT_GE(fj["snat"]["total"].get<uint64_t>(), 2u);
    for (const auto& x : fj["snat"]["translations"])
      EXPECT_TRUE(x["translated"].get<std::string>().starts_with(std::string(kGatewayB4) + ":")) << x.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Gateways, SnatClientSuite,
                         ::testing::Values(NatGateway::kXdpgw, NatGateway::kNftables),
                         [](const auto& info) {
                           return info.param == NatGateway::kXdpgw ? std::string("xdpgw")
                                                                   : std::string("nftables");
                         });

uint64_t snat_total(const GatewayDaemon& daemon) {
  const CmdResult flows = run_cmd(fmt::format("{} flows --json --socket {}", XDPGW_BINARY,
                                              daemon.control_socket().string()));
  if (!flows.ok()) throw std::runtime_error(flows.output);
  return nlohmann::json::parse(flows.output)["snat"]["total"].get<uint64_t>();
}

TEST(SnatE2e, TinyPortRangeExhaustsCleanlyAndExpiredFlowsGiveTheirPortsBack) {
  NatTopology net;
  RouterTopology& t = net.topo();
  GatewayDaemon daemon(t.gateway(), xdpgw_config(t, "ports = \"3000-3003\"\n",
                                                 "\n[nat]\nudp_s = 1\nexpiry_interval_ms = 100\n"));
  UdpSocket server(t.host_b(), kHostB4, 9999);
  const SocketAddress to = SocketAddress::parse(kHostB4, 9999);
  std::vector<UdpSocket> clients;
  for (uint16_t i = 0; i < 5; ++i) clients.emplace_back(t.host_a(), kHostA4, static_cast<uint16_t>(7000 + i));
  const std::vector<uint8_t> hello{'h', 'i'};

  const VerdictSnapshot before = daemon.verdicts();
  std::set<uint16_t> ports;
  for (int i = 0; i < 4; ++i) {
    clients[static_cast<size_t>(i)].send_to(to, hello);
    const auto got = server.receive(5s);
    ASSERT_TRUE(got) << "flow " << i << " did not arrive";
    EXPECT_TRUE(got->from.to_string().starts_with(std::string(kGatewayB4) + ":")) << got->from.to_string();
    ports.insert(got->from.port());
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{3000, 3001, 3002, 3003}));
  // The fifth flow finds every port taken: dropped and counted.
  clients[4].send_to(to, hello);
  EXPECT_FALSE(server.receive(1s)) << "a fifth flow got through a four-port range";
  EXPECT_EQ((daemon.verdicts() - before).total(XDPGW_R_DROP_SNAT_PORTS_EXHAUSTED), 1u);

  // Idle for udp_s: every translation expires and its port is free again.
  ASSERT_TRUE(wait_until([&] { return snat_total(daemon) == 0; }, 30s, 50ms)) << "translations did not expire";
  clients[4].send_to(to, hello);
  const auto got = server.receive(5s);
  ASSERT_TRUE(got) << "the fifth flow still had no port after the others expired";
  EXPECT_TRUE(ports.contains(got->from.port())) << got->from.to_string();
  // Answered, it is a replied flow (udp_replied_s, 120 s): it stays for the
  // checks below however slowly they run.
  server.send_to(got->from, hello);
  ASSERT_TRUE(clients[4].receive(5s)) << "the reply did not come back";
  const CmdResult stats = run_cmd(fmt::format("{} stats --json --socket {}", XDPGW_BINARY,
                                              daemon.control_socket().string()));
  ASSERT_TRUE(stats.ok()) << stats.output;
  EXPECT_GE(nlohmann::json::parse(stats.output)["snat"]["expired"]["udp"].get<uint64_t>(), 4u) << stats.output;
  // And as the operator reads them.
  const CmdResult text_stats = run_cmd(fmt::format("{} stats --socket {}", XDPGW_BINARY,
                                                   daemon.control_socket().string()));
  ASSERT_TRUE(text_stats.ok()) << text_stats.output;
  EXPECT_NE(text_stats.output.find(fmt::format("{:<16} 1 live translations, ports in use: udp 1", kGatewayB4)),
            std::string::npos)
      << text_stats.output;
  EXPECT_NE(text_stats.output.find("drop_snat_ports_exhausted"), std::string::npos) << text_stats.output;
  const CmdResult text_flows = run_cmd(fmt::format("{} flows --socket {}", XDPGW_BINARY,
                                                   daemon.control_socket().string()));
  ASSERT_TRUE(text_flows.ok()) << text_flows.output;
  EXPECT_NE(text_flows.output.find("1 source-NAT translations"), std::string::npos) << text_flows.output;
  EXPECT_NE(text_flows.output.find(fmt::format("{}:7004 as {}:", kHostA4, kGatewayB4)), std::string::npos)
      << text_flows.output;
  // Metrics: the live translation by address and protocol, the expiries,
  // and the exhaustion under its reason; promtool finds nothing to fix.
  const CmdResult scrape = t.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.output;
  for (const std::string line :
       {fmt::format("xdpgw_snat_translations{{address=\"{}\"}} 1", kGatewayB4),
        fmt::format("xdpgw_snat_ports_in_use{{address=\"{}\",protocol=\"udp\"}} 1", kGatewayB4),
        std::string("xdpgw_snat_expired_total{protocol=\"udp\"} 4"),
        std::string("xdpgw_packets_total{reason=\"drop_snat_ports_exhausted\",outcome=\"drop\"} 1")})
    EXPECT_NE(scrape.output.find(line), std::string::npos) << line << "\n" << scrape.output;
  const CmdResult lint =
      t.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;
}

TEST(SnatE2e, LiveTcpTransferSurvivesAReloadAndAKillNineRestart) {
  NatTopology net;
  RouterTopology& t = net.topo();
  GatewayDaemon daemon(t.gateway(), xdpgw_config(t));
  TempDir dir;
  Server iperf(t.host_b(),
               {"/usr/bin/iperf3", "-s", "-1", "--forceflush", "-B", std::string(kHostB4), "-p", std::to_string(kIperfPort)},
               dir.path() / "server.log");
  ASSERT_TRUE(wait_until([&] { return listening(t.host_b(), kIperfPort); }, 20s, 50ms));
  // One long TCP transfer; the gateway's daemon reloads, then dies and comes
  // back, while it runs.
  Server client(t.host_a(),
                {"/usr/bin/iperf3", "-c", std::string(kHostB4), "-p", std::to_string(kIperfPort), "-B",
                 std::string(kHostA4), "-t", "8", "-J"},
                dir.path() / "client.json");
  ASSERT_TRUE(wait_until([&] { return snat_total(daemon) >= 2; }, 20s, 50ms)) << "no translation appeared";

  daemon.rewrite_config(xdpgw_config(t, "", "\n[nat]\ntcp_transitory_s = 60\n"));
  const CmdResult reload = run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY,
                                               daemon.control_socket().string()));
  ASSERT_TRUE(reload.ok()) << reload.output;
  daemon.kill9();
  daemon.restart(t.gateway());
  EXPECT_NE(daemon.log().find("adopted from pins"), std::string::npos) << daemon.log();

  ASSERT_TRUE(wait_until([&] { return client.output().find("\"end\"") != std::string::npos &&
                                      client.output().rfind('}') != std::string::npos &&
                                      nlohmann::json::accept(client.output()); },
                         60s, 50ms))
      << client.output();
  const auto j = nlohmann::json::parse(client.output());
  ASSERT_FALSE(j.contains("error")) << client.output();
  EXPECT_GT(j["end"]["sum_received"]["bytes"].get<uint64_t>(), 0u) << client.output();
  EXPECT_EQ(net.seen_at_b().first, 0u) << "an inside address reached the outside";
}

TEST(SnatE2e, EstablishedOnlyWanPortDropsUnsolicitedInboundAndPassesReplies) {
  NatTopology net;
  RouterTopology& t = net.topo();
  // B could now reach A's network directly, were it let in.
  t.host_b().exec_ok(fmt::format("ip route add {} via {}", kSubnetA4, kGatewayB4));
  GatewayConfig config = xdpgw_config(t);
  config.established_only_ports = {t.gateway_port_b().name};
  GatewayDaemon daemon(t.gateway(), config);

  const VerdictSnapshot before = daemon.verdicts();
  const CmdResult unsolicited = t.host_b().exec(fmt::format("ping -c 2 -W 1 {}", kHostA4));
  EXPECT_FALSE(unsolicited.ok()) << unsolicited.output;
  UdpSocket a(t.host_a(), kHostA4, 9000);
  UdpSocket b(t.host_b(), kHostB4, 9001);
  b.send_to(SocketAddress::parse(kHostA4, 9000), std::vector<uint8_t>{'x'});
  EXPECT_FALSE(a.receive(1s)) << "an unsolicited datagram got in";
  EXPECT_GE((daemon.verdicts() - before).total(XDPGW_R_DROP_INBOUND_NOT_ESTABLISHED), 3u);

  // What A started is answered: ping, and a datagram B answers.
  const CmdResult ping = t.host_a().exec(fmt::format("ping -c 2 -W 5 {}", kHostB4));
  EXPECT_TRUE(ping.ok()) << ping.output;
  a.send_to(SocketAddress::parse(kHostB4, 9001), std::vector<uint8_t>{'q'});
  const auto query = b.receive(5s);
  ASSERT_TRUE(query);
  EXPECT_EQ(query->from.to_string().substr(0, kGatewayB4.size()), kGatewayB4);
  b.send_to(query->from, std::vector<uint8_t>{'r'});
  const auto answer = a.receive(5s);
  ASSERT_TRUE(answer) << "the reply to A's own flow did not get in";
  EXPECT_EQ(answer->payload, std::vector<uint8_t>{'r'});
}

}  // namespace
}  // namespace xdpgw::test::e2e
