// Flow export against a real collector: Debian's nfcapd (nfdump 1.7) runs in
// a collector namespace linked to the gateway; the real daemon exports the
// routed flows of known traffic (ping, UDP over IPv4 and IPv6, a TCP
// transfer) as IPFIX and NetFlow v9 at once, to one nfcapd each; `nfdump -o
// json` reads what they stored. Every flow must be there with its addresses,
// ports, protocol, ingress and egress ports, and exactly the packets and
// bytes the receiving host's netfilter counted (an nftables counter on its
// input hook counts IP datagrams as XDP does: skb->len is the IP total
// length there; GRO is off on the hosts so each frame is its own skb).
// Also: a 1-in-N sampled run (nfdump scales the counts by the announced
// interval: within wide statistical bounds), and a collector that is down
// (forwarding unaffected, the errors counted in `xdpgw status`).
//
// No assertion depends on timing: waits are bounded and only wait for the
// exporter to report that it has sent what the cache held.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/child_process.hpp"
#include "harness/names.hpp"
#include "harness/run.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kGatewayC4 = "198.18.3.1";
constexpr std::string_view kCollector4 = "198.18.3.2";
constexpr uint16_t kIpfixPort = 4739;
constexpr uint16_t kNetflow9Port = 9995;

// nfcapd in the foreground, in `ns`, bound to ip:port, writing into a
// directory of its own (removed on destruction, after nfcapd is stopped).
class Nfcapd {
 public:
  Nfcapd(const Netns& ns, std::string_view ip, uint16_t port)
      : ns_(ns), dir_(std::filesystem::temp_directory_path() / unique_name("nfcapd")) {
    std::filesystem::create_directories(dir_ / "flows");
    process_.emplace(std::vector<std::string>{"/usr/bin/nsenter", "--net=" + ns.path(), "/usr/bin/nfcapd",
                                              "-w", (dir_ / "flows").string(), "-b", std::string(ip), "-p",
                                              std::to_string(port), "-t", "3600", "-I", "xdpgw-test"},
                     dir_ / "nfcapd.log");
    // Templates lost before nfcapd listens would make the data that follows
    // unreadable: the exporter is started only once it listens.
    const bool listening = wait_until(
        [&] { return ns_.exec(fmt::format("ss -Hlun 'sport = :{}' | grep -q .", port)).ok(); }, 10s, 100ms);
    if (!listening) throw std::runtime_error("nfcapd did not start listening: " + log());
  }
  ~Nfcapd() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Nfcapd(const Nfcapd&) = delete;
  Nfcapd& operator=(const Nfcapd&) = delete;

  // SIGTERM: nfcapd writes and closes its current file.
  void stop() {
    if (process_) {
      const ExitStatus st = process_->terminate();
      EXPECT_TRUE(st.clean()) << "nfcapd: " << st.describe() << "\n" << log();
      process_.reset();
    }
  }

  std::string log() const { return read_file(dir_ / "nfcapd.log"); }

  // Every flow record stored, as nfdump prints it in JSON.
  nlohmann::json flows() {
    stop();
    const CmdResult r = run_cmd(fmt::format("nfdump -R {} -o json", shell_quote((dir_ / "flows").string())));
    if (!r.ok()) throw std::runtime_error("nfdump failed: " + r.output);
    // nfdump prints nothing but an empty line when no file holds a flow.
    if (r.output.find('{') == std::string::npos) return nlohmann::json::array();
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error("nfdump -o json is not JSON: " + r.output);
    return j;
  }

 private:
  const Netns& ns_;
  std::filesystem::path dir_;
  std::optional<ChildProcess> process_;
};

// An nftables counter on the input hook of `ns` for packets matching `match`
// (nft expression syntax).
struct Counted {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
class InputCounters {
 public:
  explicit InputCounters(const Netns& ns) : ns_(ns) {
    ns_.exec_ok("nft add table inet xgtfe && nft add chain inet xgtfe in "
                "'{ type filter hook input priority -300; policy accept; }'");
  }
  // Adds a counter; its index for read().
  std::size_t add(std::string_view match) {
    ns_.exec_ok(fmt::format("nft add rule inet xgtfe in {} counter comment '\"c{}\"'", match, n_));
    return n_++;
  }
  Counted read(std::size_t index) const {
    const auto j = nlohmann::json::parse(ns_.exec_ok("nft -j list chain inet xgtfe in"));
    for (const auto& item : j.at("nftables")) {
      if (!item.contains("rule")) continue;
      const auto& rule = item["rule"];
      if (rule.value("comment", "") != fmt::format("c{}", index)) continue;
      for (const auto& e : rule.at("expr"))
        if (e.contains("counter"))
          return {e["counter"].at("packets").get<uint64_t>(), e["counter"].at("bytes").get<uint64_t>()};
    }
    throw std::runtime_error(fmt::format("nft counter c{} not found", index));
  }

 private:
  const Netns& ns_;
  std::size_t n_ = 0;
};

// A flow the test expects in the collector's records.
struct ExpectedFlow {
  std::string name;
  std::string src, dst;  // as nfdump prints them
  uint8_t proto = 0;
  std::optional<uint16_t> sport, dport;  // unset: any (an ephemeral port)
  std::optional<uint8_t> icmp_type;
  int ingress = 0, egress = 0;
  Counted counted;
};

std::string src_of(const nlohmann::json& f) {
  return f.contains("src4_addr") ? f["src4_addr"].get<std::string>() : f.value("src6_addr", "");
}
std::string dst_of(const nlohmann::json& f) {
  return f.contains("dst4_addr") ? f["dst4_addr"].get<std::string>() : f.value("dst6_addr", "");
}

bool matches(const nlohmann::json& f, const ExpectedFlow& e) {
  if (src_of(f) != e.src || dst_of(f) != e.dst || f.value("proto", 0u) != e.proto) return false;
  if (e.sport && f.value("src_port", 0u) != *e.sport) return false;
  if (e.dport && f.value("dst_port", 0u) != *e.dport) return false;
  if (e.icmp_type && f.value("icmp_type", 999u) != *e.icmp_type) return false;
  return true;
}

// Every expected flow is there once, with its interfaces and exact counts,
// and nothing else is.
void expect_flows(const nlohmann::json& records, const std::vector<ExpectedFlow>& expected,
                  std::string_view collector) {
  std::vector<bool> used(records.size(), false);
  for (const ExpectedFlow& e : expected) {
    SCOPED_TRACE(fmt::format("{}: flow {}", collector, e.name));
    uint64_t packets = 0, bytes = 0;
    int found = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (used[i] || !matches(records[i], e)) continue;
      used[i] = true;
      ++found;
      packets += records[i].value("in_packets", uint64_t{0});
      bytes += records[i].value("in_bytes", uint64_t{0});
      EXPECT_EQ(records[i].value("input_snmp", 0), e.ingress) << records[i].dump();
      EXPECT_EQ(records[i].value("output_snmp", 0), e.egress) << records[i].dump();
    }
    EXPECT_GE(found, 1) << "not exported; records: " << records.dump(1);
    EXPECT_EQ(packets, e.counted.packets);
    EXPECT_EQ(bytes, e.counted.bytes);
  }
  for (std::size_t i = 0; i < records.size(); ++i)
    EXPECT_TRUE(used[i]) << collector << ": a flow no traffic of the test made: " << records[i].dump();
}

// The collector namespace, linked to the gateway by a veth that is not an
// xdpgw port: the daemon's UDP leaves through the gateway's own stack.
class FlowExportE2e : public ::testing::Test {
 protected:
  FlowExportE2e() {
    for (const VethEnd* end : {&topology_.host_a_end(), &topology_.host_b_end()}) {
      const Netns& ns = end == &topology_.host_a_end() ? topology_.host_a() : topology_.host_b();
      ns.exec_ok("ethtool -K " + end->name + " gro off");
    }
  }

  static std::string flow_export_toml(std::string_view collectors, uint32_t sampling) {
    // Short inactive timeout: records leave soon after the traffic.
    return fmt::format("\n[flow_export]\ncollectors = [{}]\nactive_timeout_s = 300\n"
                       "inactive_timeout_s = 2\nsampling = {}\nobservation_domain_id = 7\n",
                       collectors, sampling);
  }

  GatewayConfig config(std::string extra) const {
    return GatewayConfig{.ports = {topology_.gateway_port_a().name, topology_.gateway_port_b().name},
                         .route_source = RouteSource::kFib,
                         .extra_toml = std::move(extra)};
  }

  nlohmann::json status(const GatewayDaemon& daemon) const {
    const CmdResult r = run_cmd(fmt::format("{} status --json --socket {}", XDPGW_BINARY,
                                            shell_quote(daemon.control_socket().string())));
    if (!r.ok()) throw std::runtime_error("xdpgw status: " + r.output);
    return nlohmann::json::parse(r.output);
  }

  // Bounded wait until the daemon's flow cache is empty (every flow ended
  // and exported) and no collector has records waiting.
  void wait_until_exported(const GatewayDaemon& daemon, uint64_t min_records) const {
    nlohmann::json last;
    const bool done = wait_until(
        [&] {
          last = status(daemon).value("flow_export", nlohmann::json::object());
          if (last.value("flows_cached", uint64_t{1}) != 0) return false;
          for (const auto& c : last.value("collectors", nlohmann::json::array()))
            if (c.value("queued", 1) != 0 || c.value("records_sent", uint64_t{0}) < min_records) return false;
          return true;
        },
        60s, 100ms);
    ASSERT_TRUE(done) << "flows not exported; flow_export status: " << last.dump(1) << "\n" << daemon.log();
  }

  // Permanent neighbours: no first packet of a flow waits in the kernel for
  // ARP/ND (the kernel, not XDP, would forward it, unaccounted).
  RouterTopology topology_{TopologyOptions{.ipv6 = true, .static_neighbours = true}};
  Netns collector_{"col"};
  VethPair collector_link_{topology_.gateway(), collector_,
                           {.a = {.addresses = {std::string(kGatewayC4) + "/24"}},
                            .b = {.addresses = {std::string(kCollector4) + "/24"}}}};
};

TEST_F(FlowExportE2e, EveryRoutedFlowReachesNfcapdAsIpfixAndNetflow9WithExactCounts) {
  Nfcapd ipfix(collector_, kCollector4, kIpfixPort);
  Nfcapd nf9(collector_, kCollector4, kNetflow9Port);
  GatewayDaemon daemon(topology_.gateway(),
                       config(flow_export_toml(fmt::format(R"({{ address = "{0}", port = {1}, format = "ipfix" }},
  {{ address = "{0}", port = {2}, format = "netflow9" }})",
                                                           kCollector4, kIpfixPort, kNetflow9Port),
                                               1)));
  const Netns& a = topology_.host_a();
  const Netns& b = topology_.host_b();
  InputCounters at_a(a), at_b(b);
  const int port_a = topology_.gateway_port_a().ifindex, port_b = topology_.gateway_port_b().ifindex;
  std::vector<ExpectedFlow> flows{
      {"ping request", std::string(kHostA4), std::string(kHostB4), 1, {}, {}, 8, port_a, port_b, {}},
      {"ping reply", std::string(kHostB4), std::string(kHostA4), 1, {}, {}, 0, port_b, port_a, {}},
      {"udp4", std::string(kHostA4), std::string(kHostB4), 17, 40001, 5001, {}, port_a, port_b, {}},
      {"udp6", std::string(kHostA6), std::string(kHostB6), 17, 40003, 5003, {}, port_a, port_b, {}},
      {"tcp data", std::string(kHostA4), std::string(kHostB4), 6, {}, 5201, {}, port_a, port_b, {}},
      {"tcp acks", std::string(kHostB4), std::string(kHostA4), 6, 5201, {}, {}, port_b, port_a, {}},
  };
  const std::size_t c_req = at_b.add(fmt::format("ip saddr {} icmp type echo-request", kHostA4));
  const std::size_t c_rep = at_a.add(fmt::format("ip saddr {} icmp type echo-reply", kHostB4));
  const std::size_t c_udp4 = at_b.add(fmt::format("ip saddr {} udp sport 40001 udp dport 5001", kHostA4));
  const std::size_t c_udp6 = at_b.add(fmt::format("ip6 saddr {} udp sport 40003 udp dport 5003", kHostA6));
  const std::size_t c_tcp = at_b.add(fmt::format("ip saddr {} tcp dport 5201", kHostA4));
  const std::size_t c_ack = at_a.add(fmt::format("ip saddr {} tcp sport 5201", kHostB4));

  const CmdResult ping = a.exec(fmt::format("ping -c 5 -i 0.2 -W 2 {}", kHostB4));
  ASSERT_TRUE(ping.ok()) << ping.output;
  for (auto [from_ip, to_ip, sport, dport, count] :
       {std::tuple{kHostA4, kHostB4, uint16_t{40001}, uint16_t{5001}, 50},
        std::tuple{kHostA6, kHostB6, uint16_t{40003}, uint16_t{5003}, 30}}) {
    const UdpSocket receiver(b, to_ip, dport);
    const UdpSocket sender(a, from_ip, sport);
    for (int i = 0; i < count; ++i) {
      sender.send_to(SocketAddress::parse(to_ip, dport), pseudo_random_bytes(100 + i, uint32_t(i)));
      ASSERT_TRUE(receiver.receive(5s).has_value()) << "UDP datagram " << i << " to " << to_ip;
    }
  }
  const auto data = pseudo_random_bytes(1u << 20, 22);
  ASSERT_EQ(tcp_transfer(a, b, kHostB4, 5201, data).size(), data.size());

  for (auto [i, c] : {std::pair{0, c_req}, {1, c_rep}, {2, c_udp4}, {3, c_udp6}, {4, c_tcp}, {5, c_ack}})
    flows[std::size_t(i)].counted = (i == 1 || i == 5 ? at_a : at_b).read(c);
  EXPECT_EQ(flows[0].counted.packets, 5u);
  EXPECT_EQ(flows[2].counted.packets, 50u);
  EXPECT_EQ(flows[3].counted.packets, 30u);

  wait_until_exported(daemon, flows.size());
  const nlohmann::json st = status(daemon)["flow_export"];
  for (const auto& c : st["collectors"]) {
    EXPECT_EQ(c.value("errors", 1), 0) << c.dump();
    EXPECT_EQ(c.value("records_dropped", 1), 0) << c.dump();
  }
  expect_flows(ipfix.flows(), flows, "ipfix");
  expect_flows(nf9.flows(), flows, "netflow9");
}

// A load-balanced NAT flow (client -> VIP rewritten to the backend, and the
// backend's replies rewritten back to the VIP): its records name the
// addresses the client used, and the translated ones in the postNAT fields,
// which nfdump shows as *_xlt_*.
TEST_F(FlowExportE2e, NatFlowsCarryTheTranslatedAddressesFromTheConnectionTable) {
  Nfcapd ipfix(collector_, kCollector4, kIpfixPort);
  Nfcapd nf9(collector_, kCollector4, kNetflow9Port);
  constexpr std::string_view kVip = "198.18.100.1";
  const std::string vip_toml = fmt::format(R"(
[[vip]]
name = "udp"
address = "{}"
protocol = "udp"
port = 80
mode = "nat"
[[vip.backend]]
address = "{}"
port = 5001
)",
                                           kVip, kHostB4);
  GatewayDaemon daemon(
      topology_.gateway(),
      config(vip_toml + flow_export_toml(fmt::format(R"({{ address = "{0}", port = {1}, format = "ipfix" }},
  {{ address = "{0}", port = {2}, format = "netflow9" }})",
                                                     kCollector4, kIpfixPort, kNetflow9Port),
                                         1)));
  constexpr int kRequests = 25;
  {
    const UdpSocket client(topology_.host_a(), kHostA4, 40005);
    const UdpSocket backend(topology_.host_b(), kHostB4, 5001);
    for (int i = 0; i < kRequests; ++i) {
      client.send_to(SocketAddress::parse(kVip, 80), pseudo_random_bytes(100, 1));  // 128-byte datagrams
      const auto request = backend.receive(5s);
      ASSERT_TRUE(request.has_value()) << "request " << i << " did not reach the backend";
      ASSERT_EQ(request->from.to_string(), fmt::format("{}:40005", kHostA4));
      backend.send_to(request->from, pseudo_random_bytes(200, 2));  // 228-byte datagrams
      const auto reply = client.receive(5s);
      ASSERT_TRUE(reply.has_value()) << "reply " << i << " did not reach the client";
      ASSERT_EQ(reply->from.to_string(), fmt::format("{}:80", kVip)) << "reverse NAT";
    }
  }
  wait_until_exported(daemon, 2);
  const int port_a = topology_.gateway_port_a().ifindex, port_b = topology_.gateway_port_b().ifindex;
  const std::vector<ExpectedFlow> flows{
      {"client -> VIP", std::string(kHostA4), std::string(kVip), 17, 40005, 80, {}, port_a, port_b,
       {kRequests, kRequests * 128}},
      {"backend -> client", std::string(kHostB4), std::string(kHostA4), 17, 5001, 40005, {}, port_b, port_a,
       {kRequests, kRequests * 228}},
  };
  for (auto* collector : {&ipfix, &nf9}) {
    const nlohmann::json records = collector->flows();
    const char* name = collector == &ipfix ? "ipfix" : "netflow9";
    expect_flows(records, flows, name);
    for (const auto& f : records) {
      SCOPED_TRACE(fmt::format("{}: {}", name, f.dump()));
      if (src_of(f) == kHostA4) {
        EXPECT_EQ(f.value("src4_xlt_ip", ""), kHostA4);
        EXPECT_EQ(f.value("dst4_xlt_ip", ""), kHostB4) << "the backend";
        EXPECT_EQ(f.value("src_xlt_port", ""), "40005");
        EXPECT_EQ(f.value("dst_xlt_port", ""), "5001");
      } else {
        EXPECT_EQ(f.value("src4_xlt_ip", ""), kVip) << "the VIP the client saw";
        EXPECT_EQ(f.value("dst4_xlt_ip", ""), kHostA4);
        EXPECT_EQ(f.value("src_xlt_port", ""), "80");
        EXPECT_EQ(f.value("dst_xlt_port", ""), "40005");
      }
    }
  }
}

TEST_F(FlowExportE2e, SampledRunCarriesTheIntervalAndCountsWithinBounds) {
  Nfcapd ipfix(collector_, kCollector4, kIpfixPort);
  constexpr uint32_t kSampling = 10;
  constexpr int kDatagrams = 3000;
  GatewayDaemon daemon(topology_.gateway(),
                       config(flow_export_toml(fmt::format(R"({{ address = "{}", port = {} }})", kCollector4,
                                                           kIpfixPort),
                                               kSampling)));
  const UdpSocket receiver(topology_.host_b(), kHostB4, 5001);
  const UdpSocket sender(topology_.host_a(), kHostA4, 40001);
  const auto payload = pseudo_random_bytes(100, 1);  // 128-byte IP datagrams
  for (int i = 0; i < kDatagrams; ++i) {
    sender.send_to(SocketAddress::parse(kHostB4, 5001), payload);
    ASSERT_TRUE(receiver.receive(5s).has_value()) << "UDP datagram " << i;
  }
  wait_until_exported(daemon, 1);
  const nlohmann::json records = ipfix.flows();
  uint64_t packets = 0, bytes = 0;
  for (const auto& f : records)
    if (src_of(f) == kHostA4 && dst_of(f) == kHostB4 && f.value("dst_port", 0) == 5001) {
      packets += f.value("in_packets", uint64_t{0});
      bytes += f.value("in_bytes", uint64_t{0});
    }
  // nfdump multiplies by the interval the options record announced: about
  // kDatagrams. Sampled packets are Binomial(3000, 1/10), 300 +- 16.4; the
  // bounds are more than 6 standard deviations wide, and exclude the
  // unscaled ~300 (no interval seen) and every-packet counting.
  EXPECT_GE(packets, 2000u) << records.dump(1);
  EXPECT_LE(packets, 4000u) << records.dump(1);
  EXPECT_EQ(packets % kSampling, 0u) << "counts are scaled by the interval";
  EXPECT_EQ(bytes, packets * 128);
}

TEST_F(FlowExportE2e, ReloadMovesToANewCollectorWithoutLosingCachedFlows) {
  Nfcapd first(collector_, kCollector4, kNetflow9Port);
  Nfcapd second(collector_, kCollector4, kIpfixPort);
  // A long inactive timeout first: the flow stays in the cache across the
  // reload, which then shortens it and names the other collector.
  auto toml = [](uint16_t port, std::string_view format, uint32_t inactive) {
    return fmt::format("\n[flow_export]\ncollectors = [{{ address = \"{}\", port = {}, format = \"{}\" }}]\n"
                       "active_timeout_s = 300\ninactive_timeout_s = {}\n",
                       kCollector4, port, format, inactive);
  };
  GatewayDaemon daemon(topology_.gateway(), config(toml(kNetflow9Port, "netflow9", 300)));
  {
    const UdpSocket receiver(topology_.host_b(), kHostB4, 5001);
    const UdpSocket sender(topology_.host_a(), kHostA4, 40001);
    for (int i = 0; i < 20; ++i) {
      sender.send_to(SocketAddress::parse(kHostB4, 5001), pseudo_random_bytes(100, 1));
      ASSERT_TRUE(receiver.receive(5s).has_value()) << "UDP datagram " << i;
    }
  }
  // The exporter has seen the flow in the cache (and, with 300 s to go,
  // sent nothing of it).
  ASSERT_TRUE(wait_until([&] { return status(daemon)["flow_export"].value("flows_cached", 0u) == 1; }, 30s, 100ms))
      << status(daemon).dump(1);
  daemon.rewrite_config(config(toml(kIpfixPort, "ipfix", 2)));
  const CmdResult reload = run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY,
                                               shell_quote(daemon.control_socket().string())));
  ASSERT_TRUE(reload.ok()) << reload.output << daemon.log();
  wait_until_exported(daemon, 1);
  const nlohmann::json records = second.flows();
  uint64_t packets = 0;
  for (const auto& f : records)
    if (src_of(f) == kHostA4 && f.value("dst_port", 0) == 5001) packets += f.value("in_packets", uint64_t{0});
  EXPECT_EQ(packets, 20u) << records.dump(1);
  EXPECT_EQ(first.flows().size(), 0u) << "the old collector got no record";
}

TEST_F(FlowExportE2e, CollectorDownLeavesForwardingAloneAndCountsErrors) {
  // Nothing listens on the collector's port: its kernel answers ICMP port
  // unreachable, which the connected socket reports on the next send.
  GatewayDaemon daemon(topology_.gateway(),
                       config(flow_export_toml(fmt::format(R"({{ address = "{}", port = {} }})", kCollector4,
                                                           kIpfixPort),
                                               1)));
  const VerdictSnapshot before = daemon.verdicts();
  for (int round = 0; round < 3; ++round) {
    const CmdResult ping = topology_.host_a().exec(fmt::format("ping -c 3 -i 0.2 -W 2 {}", kHostB4));
    ASSERT_TRUE(ping.ok()) << ping.output;
  }
  const VerdictSnapshot after = daemon.verdicts();
  EXPECT_EQ((after - before).total(XDPGW_R_FWD_REDIRECT), 18u) << "9 requests and 9 replies forwarded by XDP";
  nlohmann::json last;
  const bool counted = wait_until(
      [&] {
        last = status(daemon)["flow_export"];
        return last["collectors"].at(0).value("errors", 0) > 0;
      },
      60s, 100ms);
  EXPECT_TRUE(counted) << "no send error counted: " << last.dump(1);
  const uint64_t errors = last["collectors"].at(0).value("errors", uint64_t{0});
  // The same count in the status text and in the metrics (at least as many:
  // later sends may have failed too).
  const CmdResult text = run_cmd(fmt::format("{} status --socket {}", XDPGW_BINARY,
                                             shell_quote(daemon.control_socket().string())));
  EXPECT_NE(text.output.find("ipfix://198.18.3.2:4739: "), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(" errors, "), std::string::npos) << text.output;
  const CmdResult scrape = topology_.gateway().exec("curl -sS http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.output;
  const std::string series = "xdpgw_flow_export_errors_total{collector=\"ipfix://198.18.3.2:4739\"} ";
  const auto at = scrape.output.find(series);
  ASSERT_NE(at, std::string::npos) << scrape.output;
  EXPECT_GE(std::stoull(scrape.output.substr(at + series.size())), errors) << scrape.output;
  EXPECT_NE(scrape.output.find("xdpgw_flow_export_records_total{collector="), std::string::npos);
  EXPECT_NE(scrape.output.find("xdpgw_flow_export_flows "), std::string::npos);
}

}  // namespace
}  // namespace xdpgw::test::e2e
