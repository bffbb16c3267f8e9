// The load balancer end to end, with the real daemon and real TCP servers:
//
//   client --[p0] gateway [p1]-- backend 1   (each backend: TCP servers on
//                         [p2]-- backend 2    ports 80 and 8080, the VIPs on
//                         [p3]-- backend 3    lo, the decap program on its link)
//
// In both modes (nat: VIP:80 -> backend:8080; dsr: IPIP / IPv6-in-IPv6 to
// backend:80, replies straight back) and both families: 1,000 connections
// spread by weight; established connections keep their backend across a
// reload that changes the pool and across a drain; new ones follow the new
// table.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <fstream>
#include <optional>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "common/fd.hpp"
#include <nlohmann/json.hpp>

#include "e2e/daemon_process.hpp"
#include "e2e/gateway_daemon.hpp"
#include "e2e/lb_hosts.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/child_process.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kBackends = 3;
constexpr uint16_t kVipPort = 80;
constexpr uint16_t kNatBackendPort = 8080;
constexpr const char* kVip4 = "198.18.100.1";
constexpr const char* kVip6 = "2001:2:0:100::1";

std::string backend4(int i) { return fmt::format("198.18.{}.2", 10 + i); }
std::string backend6(int i) { return fmt::format("2001:2:0:{}::2", 10 + i); }

class LbTopology {
 public:
  LbTopology() : client_("cl"), gw_("gw") {
    client_link_.emplace(gw_, client_, VethOptions{.a = {.addresses = {"198.18.1.1/24", "2001:2:0:1::1/64"}},
                                                   .b = {.addresses = {"198.18.1.2/24", "2001:2:0:1::2/64"}}});
    client_peer_.emplace(client_, client_link_->ifindex_b());
    client_.exec_ok("ip route add default via 198.18.1.1 && ip -6 route add default via 2001:2:0:1::1");
    // Hosts compute their own checksums: a veth hands XDP a frame whose
    // checksum is left to offload, and a redirected frame loses that state
    // (see scripts/netns/router-topology.sh).
    client_.exec_ok("ethtool -K " + client_link_->name_b() + " tx off");
    gw_.sysctl("net.ipv4.ip_forward", "1");
    gw_.sysctl("net.ipv6.conf.all.forwarding", "1");
    for (int i = 0; i < kBackends; ++i) {
      auto& b = backends_.emplace_back(fmt::format("b{}", i));
      // DSR adds 20 or 40 bytes to the client's full-size segments: the
      // backend side needs room for them (as with any IPIP deployment).
      auto& link = links_.emplace_back(
          gw_, b, VethOptions{.a = {.addresses = {fmt::format("198.18.{}.1/24", 10 + i),
                                                  fmt::format("2001:2:0:{}::1/64", 10 + i)}},
                              .b = {.addresses = {backend4(i) + "/24", backend6(i) + "/64"}},
                              .mtu = 1600});
      b.exec_ok(fmt::format("ip route add default via 198.18.{}.1 && ip -6 route add default via "
                            "2001:2:0:{}::1",
                            10 + i, 10 + i));
      b.exec_ok(fmt::format("ip addr add {}/32 dev lo && ip addr add {}/128 dev lo nodad", kVip4, kVip6));
      b.exec_ok("ethtool -K " + link.name_b() + " tx off");
      // Decapsulated packets arrive with the client's address on a link
      // whose route back is the same link; keep rp_filter out of the way.
      for (const char* conf : {"all", "default"}) b.sysctl(fmt::format("net.ipv4.conf.{}.rp_filter", conf), "0");
      decaps_.emplace_back(b, link.name_b());
    }
    for (int i = 0; i < kBackends; ++i)
      servers_.emplace_back(backends_[i], fmt::format("b{}", i), std::vector<uint16_t>{kVipPort, kNatBackendPort});
    // The gateway's neighbour entries for the backends, resolved now: a
    // health check right after the daemon starts otherwise waits on a
    // first neighbour solicitation, and when that one is lost (links just
    // came up) on the 1 s retransmit, past a short check timeout.
    for (int i = 0; i < kBackends; ++i)
      gw_.exec_ok(fmt::format("ping -q -c1 -W5 {} && ping -q -c1 -W5 {}", backend4(i), backend6(i)));
  }

  const Netns& client() const { return client_; }
  const Netns& gw() const { return gw_; }
  std::string client_port() const { return client_link_->name_a(); }
  std::string backend_port(int i) const { return links_[i].name_a(); }
  const DecapAttachment& decap(int i) const { return decaps_[i]; }
  const Netns& backend(int i) const { return backends_[i]; }
  void stop_server(int i) { servers_[i].stop(); }

 private:
  Netns client_, gw_;
  std::deque<Netns> backends_;
  std::optional<VethPair> client_link_;
  std::deque<VethPair> links_;
  std::optional<PeerCounter> client_peer_;
  std::deque<DecapAttachment> decaps_;
  std::deque<BackendServer> servers_;
};

struct Case {
  const char* mode;
  bool ipv6;
};
// gtest prints parameters with it ("nat/ipv4", not "16-byte object <...>").
void PrintTo(const Case& c, std::ostream* os) { *os << c.mode << '/' << (c.ipv6 ? "ipv6" : "ipv4"); }

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("{}_{}", info.param.mode, info.param.ipv6 ? "ipv6" : "ipv4");
}

class LbE2e : public ::testing::TestWithParam<Case> {
 protected:
  LbTopology topo_;
  std::filesystem::path config_path_ =
      std::filesystem::temp_directory_path() / (unique_name("lb") + ".toml");
  Daemon daemon_{topo_.gw(), config_path_};

  ~LbE2e() override {
    std::error_code ec;
    std::filesystem::remove(config_path_, ec);
  }

  bool dsr() const { return std::string(GetParam().mode) == "dsr"; }
  std::string vip() const { return GetParam().ipv6 ? kVip6 : kVip4; }

  // `weights[i]` for backend i; a negative weight leaves the backend out.
  // `lb_extra`: more keys of [lb].
  std::string config(const std::array<int, kBackends>& weights, const std::string& extra = "",
                     const std::string& lb_extra = "") const {
    std::string text = fmt::format(R"([gateway]
instance = "{}"

[[port]]
name = "{}"
)", daemon_.instance(), topo_.client_port());
    for (int i = 0; i < kBackends; ++i) text += fmt::format("\n[[port]]\nname = \"{}\"\n", topo_.backend_port(i));
    text += fmt::format(R"(
[routing]
source = "fib"

[lb]
tunnel_source_v4 = "198.18.10.1"
tunnel_source_v6 = "2001:2:0:10::1"
{}
[[vip]]
name = "web"
address = "{}"
protocol = "tcp"
port = {}
mode = "{}"
)", lb_extra, vip(), kVipPort, GetParam().mode);
    for (int i = 0; i < kBackends; ++i) {
      if (weights[i] < 0) continue;
      text += fmt::format("\n[[vip.backend]]\naddress = \"{}\"\nport = {}\nweight = {}\n",
                          GetParam().ipv6 ? backend6(i) : backend4(i),
                          dsr() ? kVipPort : kNatBackendPort, weights[i]);
    }
    text += extra;
    text += fmt::format("\n[control]\nsocket = \"{}\"\n", daemon_.socket().string());
    return text;
  }

  std::map<std::string, int> spread(int connections) {
    std::map<std::string, int> hits;
    try {
      for (int i = 0; i < connections; ++i) ++hits[Connection(topo_.client(), vip(), kVipPort).backend()];
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << " after " << hits.size() << " backends seen\n"
                    << daemon_.cli("stats").output << daemon_.cli("flows").output << "daemon log:\n" << daemon_.log();
    }
    return hits;
  }
};

TEST_P(LbE2e, ThousandConnectionsSpreadByWeight) {
  daemon_.write_config(config({1, 2, 3}));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  auto hits = spread(1000);
  // Expected 1000 * w / 6; each count is binomial (sd <= 16), the bound is
  // over 4 standard deviations wide.
  EXPECT_NEAR(hits["b0"], 167, 65) << "b0";
  EXPECT_NEAR(hits["b1"], 333, 70) << "b1";
  EXPECT_NEAR(hits["b2"], 500, 70) << "b2";
  EXPECT_EQ(hits["b0"] + hits["b1"] + hits["b2"], 1000);

  auto stats = daemon_.cli("stats --json");
  ASSERT_TRUE(stats.ok()) << stats.output;
  EXPECT_NE(stats.output.find(dsr() ? "\"fwd_lb_dsr\"" : "\"fwd_lb_reverse_nat\""), std::string::npos)
      << stats.output;
  if (dsr()) {
    uint64_t decapsulated = 0;
    for (int i = 0; i < kBackends; ++i) decapsulated += topo_.decap(i).decapsulated();
    // At least SYN, ACK and FIN of every connection arrived encapsulated.
    EXPECT_GE(decapsulated, 3000u);
  }
  auto flows = daemon_.cli("flows --json --limit 5");
  ASSERT_TRUE(flows.ok()) << flows.output;
  EXPECT_NE(flows.output.find(dsr() ? "\"dsr\"" : "nat\""), std::string::npos) << flows.output;
}

TEST_P(LbE2e, EstablishedConnectionsKeepTheirBackendAcrossReloadAndDrain) {
  daemon_.write_config(config({1, 1, 1}));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  std::vector<Connection> held;
  for (int i = 0; i < 30; ++i) held.emplace_back(topo_.client(), vip(), kVipPort);
  // Connections on the backends about to leave, or "they stay" checks nothing.
  auto on = [&](const std::string& b) {
    return std::ranges::count_if(held, [&](const Connection& c) { return c.backend() == b; });
  };
  ASSERT_GT(on("b0"), 0);
  ASSERT_GT(on("b1"), 0);

  // Backend 0 leaves the pool: its connections stay, new ones avoid it.
  daemon_.write_config(config({-1, 1, 1}));
  auto r = daemon_.cli("reload -j");
  ASSERT_TRUE(r.ok()) << r.output << daemon_.log();
  EXPECT_TRUE(nlohmann::json::parse(r.output).at("applied").get<bool>()) << r.output;
  for (auto& c : held) EXPECT_EQ(c.echo("after-reload"), c.backend() + ":after-reload");
  auto hits = spread(60);
  EXPECT_EQ(hits.count("b0"), 0u) << "a new connection went to the removed backend";

  // Drain backend 1: the same, by operator command.
  const std::string b1 = GetParam().ipv6 ? fmt::format("[{}]:{}", backend6(1), dsr() ? kVipPort : kNatBackendPort)
                                         : fmt::format("{}:{}", backend4(1), dsr() ? kVipPort : kNatBackendPort);
  r = daemon_.cli("backend drain -j web " + b1);
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_TRUE(nlohmann::json::parse(r.output).contains("message")) << r.output;
  for (auto& c : held) EXPECT_EQ(c.echo("after-drain"), c.backend() + ":after-drain");
  hits = spread(60);
  EXPECT_EQ(hits, (std::map<std::string, int>{{"b2", 60}}));
  r = daemon_.cli("backend undrain web " + b1);
  ASSERT_TRUE(r.ok()) << r.output;
  hits = spread(60);
  EXPECT_GT(hits["b1"], 0);
}

TEST_P(LbE2e, FailedBackendLeavesByHealthCheckOthersKeepTheirConnections) {
  daemon_.write_config(config({1, 1, 1}, R"(
[vip.health_check]
kind = "tcp"
interval_ms = 100
timeout_ms = 50
rise = 1
fall = 2
)"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  std::vector<Connection> held;
  for (int i = 0; i < 30; ++i) held.emplace_back(topo_.client(), vip(), kVipPort);

  const std::size_t log_before_stop = daemon_.log().size();
  topo_.stop_server(0);
  const std::string down = fmt::format("backend {}:{} is DOWN",
                                       GetParam().ipv6 ? "[" + backend6(0) + "]" : backend4(0),
                                       dsr() ? kVipPort : kNatBackendPort);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (daemon_.log().find(down, log_before_stop) == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "health check did not take b0 out:\n" << daemon_.log();
    std::this_thread::sleep_for(50ms);
  }
  // Connections on the other backends never noticed.
  for (auto& c : held) {
    if (c.backend() != "b0") {
      EXPECT_EQ(c.echo("still-here"), c.backend() + ":still-here");
    }
  }
  auto hits = spread(60);
  EXPECT_EQ(hits.count("b0"), 0u) << "a new connection went to the failed backend";
  EXPECT_EQ(hits["b1"] + hits["b2"], 60);
}

// A SYN flood from random sources (hping3, the tool an attacker or a load
// test would use) against tables of 1,024 entries: the connections that
// were established before it keep working through it, including on a
// backend drained during it, new connections are served, and the flood
// evicts only embryonic entries. hping3 speaks IPv4 only.
class LbFloodE2e : public LbE2e {};

TEST_P(LbFloodE2e, ASynFloodEvictsNoEstablishedFlow) {
  daemon_.write_config(config({1, 1, 1}, "", "conn_table_size = 1024\nembryonic_table_size = 1024\n"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  std::vector<Connection> held;
  for (int i = 0; i < 50; ++i) held.emplace_back(topo_.client(), vip(), kVipPort);

  const auto flood_log = std::filesystem::temp_directory_path() / (unique_name("hping") + ".log");
  {
    // ~20,000 SYNs a second, each from another random source.
    ChildProcess flood({"/usr/sbin/ip", "netns", "exec", topo_.client().name(), "/usr/sbin/hping3",
                        "-q", "-S", "-p", std::to_string(kVipPort), "-i", "u50", "--rand-source", vip()},
                       flood_log);
    std::this_thread::sleep_for(2s);  // let the flood fill the tables before checking
    for (auto& c : held) EXPECT_EQ(c.echo("during"), c.backend() + ":during");
    const std::string b1 = fmt::format("{}:{}", backend4(1), dsr() ? kVipPort : kNatBackendPort);
    auto r = daemon_.cli("backend drain web " + b1);
    ASSERT_TRUE(r.ok()) << r.output;
    for (auto& c : held) EXPECT_EQ(c.echo("drained"), c.backend() + ":drained");
    for (int i = 0; i < 20; ++i) {
      try {
        Connection fresh(topo_.client(), vip(), kVipPort);
        EXPECT_NE(fresh.backend(), "b1") << "a new connection went to the drained backend";
      } catch (const std::exception& e) {
        ADD_FAILURE() << "new connection " << i << " during the flood: " << e.what();
      }
    }
    // The operator sees it: the transition logged once, status and the
    // VIP's new-flow rate.
    auto during = daemon_.cli("status --json");
    ASSERT_TRUE(during.ok()) << during.output;
    const auto lb_during = nlohmann::json::parse(during.output).at("lb");
    EXPECT_TRUE(lb_during.at("syn_flood").at("active").get<bool>()) << lb_during.dump();
    EXPECT_GT(lb_during.at("vips").at(0).at("new_flows_per_second").get<double>(), 0.0)
        << lb_during.dump();
    EXPECT_NE(daemon_.log().find("SYN flood:"), std::string::npos) << daemon_.log();
    EXPECT_FALSE(flood.poll()) << "hping3 ended early: " << read_file(flood_log);
  }
  // Over once the rate stays low (FloodWatch::kCalmSeconds).
  bool over = false;
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       !over && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms))
    over = daemon_.log().find("SYN flood over") != std::string::npos;
  EXPECT_TRUE(over) << daemon_.log();
  for (auto& c : held) EXPECT_EQ(c.echo("after"), c.backend() + ":after");
  auto status = daemon_.cli("status --json");
  ASSERT_TRUE(status.ok()) << status.output;
  const auto lb = nlohmann::json::parse(status.output).at("lb");
  EXPECT_EQ(lb.at("conn_table").at("evicted").get<uint64_t>(), 0u) << lb.dump();
  EXPECT_GT(lb.at("embryonic").at("evicted").get<uint64_t>(), 0u)
      << "the flood did not even fill the embryonic table: " << lb.dump();
  EXPECT_GE(lb.at("embryonic").at("promoted").get<uint64_t>(), 70u) << lb.dump();
  std::error_code ec;
  std::filesystem::remove(flood_log, ec);
}

INSTANTIATE_TEST_SUITE_P(V4, LbFloodE2e, ::testing::Values(Case{"nat", false}, Case{"dsr", false}),
                         case_name);

// SYN cookies in XDP ([vip.synproxy]) with real clients on both ends:
// curl and ab (HTTP: the client speaks first) to one VIP, the echo servers
// (the server speaks first: its greeting waits for the backend's repeated
// SYN-ACK, ~1 s) to the other, each connection opened by a cookie.
class SynproxyE2e : public LbE2e {
 protected:
  static constexpr uint16_t kHttpVipPort = 90;
  static constexpr uint16_t kHttpPort = 9090;

  SynproxyE2e() {
    for (int i = 0; i < kBackends; ++i) {
      const auto dir = std::filesystem::temp_directory_path() / unique_name(fmt::format("www{}", i));
      std::filesystem::create_directories(dir);
      std::ofstream(dir / "index.html") << fmt::format("b{}\n", i);
      dirs_.push_back(dir);
      http_.emplace_back(std::vector<std::string>{"/usr/sbin/ip", "netns", "exec",
                                                  topo_.backend(i).name(), "/usr/bin/python3",
                                                  "-m", "http.server", std::to_string(kHttpPort),
                                                  "--bind", "::", "--directory", dir.string()},
                         dir.string() + ".log");
    }
  }
  ~SynproxyE2e() override {
    http_.clear();
    std::error_code ec;
    for (const auto& d : dirs_) {
      std::filesystem::remove_all(d, ec);
      std::filesystem::remove(d.string() + ".log", ec);
    }
  }

  // Both VIPs with `synproxy` as their [vip.synproxy] table's body.
  std::string synproxy_config(const std::string& synproxy) const {
    std::string http = fmt::format(R"(
[vip.synproxy]
{0}

[[vip]]
name = "http"
address = "{1}"
protocol = "tcp"
port = {2}
mode = "nat"
)", synproxy, vip(), kHttpVipPort);
    for (int i = 0; i < kBackends; ++i)
      http += fmt::format("\n[[vip.backend]]\naddress = \"{}\"\nport = {}\n",
                          GetParam().ipv6 ? backend6(i) : backend4(i), kHttpPort);
    http += fmt::format("\n[vip.synproxy]\n{}\n", synproxy);
    return config({1, 1, 1}, http);
  }

  std::string url() const {
    return GetParam().ipv6 ? fmt::format("http://[{}]:{}/", vip(), kHttpVipPort)
                           : fmt::format("http://{}:{}/", vip(), kHttpVipPort);
  }

  nlohmann::json vip_status(const std::string& name) const {
    auto r = daemon_.cli("status --json");
    if (!r.ok()) throw std::runtime_error(r.output);
    const auto status = nlohmann::json::parse(r.output);
    for (const auto& v : status.at("lb").at("vips"))
      if (v.at("name").get<std::string>() == name) return v;
    throw std::runtime_error("no VIP " + name + " in status: " + r.output);
  }

  // SYNs (without ACK) the backends' kernels received on the HTTP port,
  // counted by nftables in each backend namespace.
  void count_backend_syns() {
    for (int i = 0; i < kBackends; ++i)
      topo_.backend(i).exec_ok(fmt::format(
          "nft add table inet xgtsyn && nft add chain inet xgtsyn in '{{ type filter hook input "
          "priority 0; }}' && nft add rule inet xgtsyn in tcp dport {} 'tcp flags & (syn|ack) == "
          "syn' counter",
          kHttpPort));
  }
  uint64_t backend_syns() const {
    uint64_t total = 0;
    for (int i = 0; i < kBackends; ++i) {
      const std::string out = topo_.backend(i).exec_ok("nft list chain inet xgtsyn in");
      auto at = out.find("packets ");
      if (at == std::string::npos) throw std::runtime_error("no nft counter: " + out);
      total += std::stoull(out.substr(at + 8));
    }
    return total;
  }

  std::vector<std::filesystem::path> dirs_;
  std::deque<ChildProcess> http_;
};

TEST_P(SynproxyE2e, CookiesOnServeCurlAbAndServerFirstClients) {
  daemon_.write_config(synproxy_config("mode = \"on\""));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  count_backend_syns();

  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    auto r = topo_.client().exec(fmt::format("curl -sS -m 10 {}", url()));
    ASSERT_EQ(r.exit_status, 0) << "curl " << i << ": " << r.output << daemon_.cli("stats").output;
    ++seen[r.output];
  }
  EXPECT_EQ(seen.size(), size_t(kBackends)) << "the Maglev spread still applies";
  auto ab = topo_.client().exec(fmt::format("ab -q -n 300 -c 10 {}", url()));
  ASSERT_EQ(ab.exit_status, 0) << ab.output << daemon_.cli("stats").output << daemon_.cli("status --json").output;
  EXPECT_NE(ab.output.find("Complete requests:      300"), std::string::npos) << ab.output;
  EXPECT_NE(ab.output.find("Failed requests:        0"), std::string::npos) << ab.output;

  // The server speaks first: the client has nothing to send, so the
  // gateway completes the backend's handshake when it repeats its SYN-ACK.
  for (int i = 0; i < 3; ++i) {
    Connection c(topo_.client(), vip(), kVipPort);
    EXPECT_EQ(c.echo("hello"), c.backend() + ":hello");
  }

  const auto http = vip_status("http").at("synproxy");
  EXPECT_TRUE(http.at("cookies_active").get<bool>()) << http.dump();
  EXPECT_GE(http.at("cookies_sent").get<uint64_t>(), 330u) << http.dump();
  EXPECT_GE(http.at("cookies_valid").get<uint64_t>(), 330u) << http.dump();
  EXPECT_EQ(http.at("cookies_failed").get<uint64_t>(), 0u) << http.dump();
  // Every backend SYN answers a client that returned a cookie (sent again
  // when the backend's full listen queue dropped it: python's is 5 deep).
  EXPECT_EQ(backend_syns(), http.at("cookies_valid").get<uint64_t>() +
                                http.at("backend_syn_repeats").get<uint64_t>())
      << http.dump();
  const auto web = vip_status("web").at("synproxy");
  EXPECT_GE(web.at("backend_answered").get<uint64_t>(), 3u) << web.dump();
  EXPECT_NE(daemon_.cli("stats").output.find("tx_synproxy_synack"), std::string::npos);
}

// The bulk-transfer server on every backend (python, one thread per
// connection). A connection's first byte says what it is for:
//   'T' + 8-byte length N: reads N bytes, answers their SHA-256, then sends
//       N bytes of the pattern and closes (FIN);
//   'Q': sends "bye" and closes with SO_LINGER 0 (RST);
//   'W': sends "w" (the connection is up end to end), reads until the
//       client closes, then logs "eof" or "reset".
// The pattern: 1 MiB from random.Random(18), repeated.
constexpr std::string_view kBulkServer = R"(
import hashlib, random, socket, struct, sys, threading
BLOCK = random.Random(18).randbytes(1 << 20)
def recv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        got = c.recv(min(1 << 16, n - len(buf)))
        if not got: raise EOFError
        buf += got
    return bytes(buf)
def handle(c):
    with c:
        kind = recv_exact(c, 1)
        if kind == b"T":
            n = struct.unpack("!Q", recv_exact(c, 8))[0]
            h, left = hashlib.sha256(), n
            while left:
                got = c.recv(min(1 << 16, left))
                if not got: raise EOFError
                h.update(got); left -= len(got)
            c.sendall(h.digest())
            left = n
            while left:
                chunk = BLOCK[:min(left, len(BLOCK))]
                c.sendall(chunk); left -= len(chunk)
        elif kind == b"Q":
            c.sendall(b"bye")
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == b"W":
            c.sendall(b"w")
            try:
                while c.recv(4096): pass
                print("eof", flush=True)
            except ConnectionResetError:
                print("reset", flush=True)
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1]))); s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
)";

// The client side of kBulkServer's three kinds, run in the client's
// namespace; prints one line per check and exits non-zero on any failure.
constexpr std::string_view kBulkClient = R"(
import hashlib, random, socket, struct, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BLOCK = random.Random(18).randbytes(1 << 20)
def pattern_hash(n):
    h, left = hashlib.sha256(), n
    while left:
        chunk = BLOCK[:min(left, len(BLOCK))]; h.update(chunk); left -= len(chunk)
    return h.digest()
def connect():
    return socket.create_connection((host, port), timeout=60)
# 'T': n bytes up, n bytes down, then the server's FIN.
c = connect()
sent = random.Random(7).randbytes(1 << 20)
c.sendall(b"T" + struct.pack("!Q", n))
up, left = hashlib.sha256(), n
while left:
    chunk = sent[:min(left, len(sent))]; c.sendall(chunk); up.update(chunk); left -= len(chunk)
digest = b""
while len(digest) < 32:
    got = c.recv(32 - len(digest))
    if not got: sys.exit("closed before the digest")
    digest += got
if digest != up.digest(): sys.exit("the backend got other bytes than were sent")
print("upload ok", flush=True)
down, got_n = hashlib.sha256(), 0
while True:
    got = c.recv(1 << 16)
    if not got: break
    down.update(got); got_n += len(got)
if got_n != n or down.digest() != pattern_hash(n): sys.exit(f"download: {got_n} bytes, not the pattern's {n}")
print("download ok, closed by FIN", flush=True)
c.close()
# 'Q': the backend resets; the client must see it.
c = connect()
c.sendall(b"Q")
try:
    data = b""
    while True:
        got = c.recv(16)
        if not got: sys.exit(f"server reset seen as a FIN after {data!r}")
        data += got
except ConnectionResetError:
    print("server reset seen", flush=True)
# 'W': the client resets; the backend logs it.
c = connect()
c.sendall(b"W" + b"x" * 1000)
if c.recv(1) != b"w": sys.exit("no answer on the connection to be reset")
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("client reset sent", flush=True)
)";

// A sequence-translated (cookie) connection carries 100 MB each way byte
// for byte, ends cleanly with FIN, and RSTs from either end arrive.
TEST_P(SynproxyE2e, HundredMegabytesEachWayArriveIntactAndFinAndRstEndTheFlow) {
  constexpr uint16_t kBulkVipPort = 91, kBulkPort = 9191;
  constexpr uint64_t kBytes = 100ull << 20;
  std::string bulk = fmt::format("\n[[vip]]\nname = \"bulk\"\naddress = \"{}\"\nprotocol = \"tcp\"\n"
                                 "port = {}\nmode = \"nat\"\n",
                                 vip(), kBulkVipPort);
  for (int i = 0; i < kBackends; ++i)
    bulk += fmt::format("\n[[vip.backend]]\naddress = \"{}\"\nport = {}\n",
                        GetParam().ipv6 ? backend6(i) : backend4(i), kBulkPort);
  bulk += "\n[vip.synproxy]\nmode = \"on\"\n";
  daemon_.write_config(config({1, 1, 1}, bulk));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());

  const TempDir temp;
  const std::filesystem::path& dir = temp.path();
  std::ofstream(dir / "server.py") << kBulkServer;
  std::ofstream(dir / "client.py") << kBulkClient;
  std::deque<ChildProcess> servers;
  for (int i = 0; i < kBackends; ++i)
    servers.emplace_back(std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", topo_.backend(i).name(),
                                                  "/usr/bin/python3", (dir / "server.py").string(),
                                                  std::to_string(kBulkPort)},
                         dir / fmt::format("server{}.log", i));
  const auto log_of = [&](int i) {
    std::ifstream in(dir / fmt::format("server{}.log", i));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  ASSERT_TRUE(wait_until([&] {
    for (int i = 0; i < kBackends; ++i)
      if (log_of(i).find("listening") == std::string::npos) return false;
    return true;
  }, 20s, 50ms)) << log_of(0) << log_of(1) << log_of(2);

  const auto r = topo_.client().exec(fmt::format("timeout 120 /usr/bin/python3 {} {} {} {}", (dir / "client.py").string(),
                                                 vip(), kBulkVipPort, kBytes));
  EXPECT_EQ(r.exit_status, 0) << r.output << daemon_.cli("stats").output;
  for (const char* line : {"upload ok", "download ok, closed by FIN", "server reset seen", "client reset sent"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
  // The client's RST reached whichever backend had that connection.
  EXPECT_TRUE(wait_until([&] {
    for (int i = 0; i < kBackends; ++i)
      if (log_of(i).find("reset") != std::string::npos) return true;
    return false;
  }, 10s, 50ms)) << log_of(0) << log_of(1) << log_of(2);
  for (int i = 0; i < kBackends; ++i) EXPECT_EQ(log_of(i).find("eof"), std::string::npos) << log_of(i);

  // All three went through cookies.
  const auto synproxy = vip_status("bulk").at("synproxy");
  EXPECT_GE(synproxy.at("cookies_valid").get<uint64_t>(), 3u) << synproxy.dump();
  EXPECT_EQ(synproxy.at("cookies_failed").get<uint64_t>(), 0u) << synproxy.dump();
  // `xdpgw flows` marks the flows cookies opened, both directions.
  const auto flows_json = daemon_.cli("flows --json");
  ASSERT_TRUE(flows_json.ok()) << flows_json.output;
  const auto listing = nlohmann::json::parse(flows_json.output);
  std::size_t cookie_flows = 0;
  for (const auto& f : listing.at("flows"))
    if (f.at("syn_cookie").get<bool>()) ++cookie_flows;
  EXPECT_GE(cookie_flows, 6u) << flows_json.output;
  EXPECT_NE(daemon_.cli("flows").output.find("[SYN cookie]"), std::string::npos);
}

// "auto": a flood from random sources switches cookies on; from then on
// the backends see only handshakes of clients that answered, while real
// clients keep being served; the flood over, cookies switch off. hping3
// speaks IPv4 only.
class SynproxyFloodE2e : public SynproxyE2e {};

TEST_P(SynproxyFloodE2e, AutoModeKeepsAFloodOffTheBackends) {
  // A threshold well below what hping3 sends from one core (~20,000 a
  // second unloaded, a few thousand on a busy machine).
  daemon_.write_config(synproxy_config("mode = \"auto\"\nthreshold_syn_per_second = 300"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  count_backend_syns();
  auto before = topo_.client().exec(fmt::format("curl -sS -m 10 {}", url()));
  ASSERT_EQ(before.exit_status, 0) << before.output;
  EXPECT_FALSE(vip_status("http").at("synproxy").at("cookies_active").get<bool>());

  const auto flood_log = std::filesystem::temp_directory_path() / (unique_name("hping") + ".log");
  {
    ChildProcess flood({"/usr/sbin/ip", "netns", "exec", topo_.client().name(), "/usr/sbin/hping3",
                        "-q", "-S", "-p", std::to_string(kHttpVipPort), "-i", "u50",
                        "--rand-source", vip()},
                       flood_log);
    bool on = false;
    for (auto deadline = std::chrono::steady_clock::now() + 20s;
         !on && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(100ms))
      on = vip_status("http").at("synproxy").at("cookies_active").get<bool>();
    ASSERT_TRUE(on) << daemon_.log();
    EXPECT_NE(daemon_.log().find("VIP http: SYN cookies on"), std::string::npos) << daemon_.log();
    std::this_thread::sleep_for(1s);  // the SYNs that slipped through before are answered by now
    const uint64_t syns_before = backend_syns();
    const auto sp_before = vip_status("http").at("synproxy");
    const uint64_t valid_before = sp_before.at("cookies_valid").get<uint64_t>() +
                                  sp_before.at("backend_syn_repeats").get<uint64_t>();
    const uint64_t sent_before = sp_before.at("cookies_sent").get<uint64_t>();
    std::this_thread::sleep_for(2s);
    for (int i = 0; i < 10; ++i) {
      auto r = topo_.client().exec(fmt::format("curl -sS -m 10 {}", url()));
      EXPECT_EQ(r.exit_status, 0) << "curl during the flood: " << r.output;
    }
    const auto sp = vip_status("http").at("synproxy");
    const uint64_t valid = sp.at("cookies_valid").get<uint64_t>() +
                           sp.at("backend_syn_repeats").get<uint64_t>() - valid_before;
    EXPECT_EQ(backend_syns() - syns_before, valid)
        << "the backends saw SYNs of clients that never answered a cookie: " << sp.dump()
        << daemon_.cli("stats").output;
    EXPECT_GE(valid, 10u) << sp.dump();
    EXPECT_LE(valid, 20u) << "cookies validated for spoofed sources? " << sp.dump();
    EXPECT_TRUE(sp.at("cookies_active").get<bool>()) << "cookies went off during the flood: " << sp.dump();
    EXPECT_GT(sp.at("cookies_sent").get<uint64_t>() - sent_before, 600u)
        << "the flood's SYNs (2 s at >= 300 a second) were answered by cookies: " << sp.dump();
    EXPECT_FALSE(flood.poll()) << "hping3 ended early: " << read_file(flood_log);
  }
  bool off = false;
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       !off && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms))
    off = daemon_.log().find("VIP http: SYN cookies off") != std::string::npos;
  EXPECT_TRUE(off) << daemon_.log();
  EXPECT_FALSE(vip_status("http").at("synproxy").at("cookies_active").get<bool>());
  auto after = topo_.client().exec(fmt::format("curl -sS -m 10 {}", url()));
  EXPECT_EQ(after.exit_status, 0) << after.output;
  std::error_code ec;
  std::filesystem::remove(flood_log, ec);
}

INSTANTIATE_TEST_SUITE_P(Nat, SynproxyE2e, ::testing::Values(Case{"nat", false}, Case{"nat", true}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(V4, SynproxyFloodE2e, ::testing::Values(Case{"nat", false}), case_name);

INSTANTIATE_TEST_SUITE_P(Modes, LbE2e,
                         ::testing::Values(Case{"nat", false}, Case{"nat", true},
                                           Case{"dsr", false}, Case{"dsr", true}),
                         case_name);

}  // namespace
}  // namespace xdpgw::test::e2e
