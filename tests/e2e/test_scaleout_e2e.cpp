// Scale-out: two xdpgw instances behind an ECMP router, VIPs announced over
// BGP by BIRD, DSR to three backends.
//
//   client --- [upstream router: BIRD AS 65000, ECMP with the L4 hash]
//                    | br0 198.18.30.1/24 (one L2 segment)
//      +-------------+--------------+--------------+---------+---------+
//   gw0 .11        gw1 .12         b0 .20         b1 .21    b2 .22
//   xdpgw + BIRD   xdpgw + BIRD    VIP on lo, decap XDP, default via .1
//   (AS 65001)     (AS 65001)
//
// Each instance announces the VIP through its own BIRD once its backends
// are confirmed healthy; the router installs a multipath route. Replies go
// from the backends straight to the router (DSR), so a connection's state
// lives on its backend only, and Maglev picks the same backend for a flow
// on either instance: when one instance leaves (graceful stop: withdraw,
// grace period, exit, datapath detached) its flows move to the other and
// carry on, and when it comes back the flows ECMP hands it carry on too.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include "e2e/daemon_process.hpp"
#include "e2e/lb_hosts.hpp"
#include "harness/bird.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kInstances = 2;
constexpr int kBackends = 3;
constexpr const char* kVip = "198.18.100.1";
constexpr uint16_t kVipPort = 80;
constexpr const char* kRouterAddr = "198.18.30.1";
constexpr int kConnections = 32;

std::string instance_addr(int i) { return fmt::format("198.18.30.{}", 11 + i); }
std::string backend_addr(int i) { return fmt::format("198.18.30.{}", 20 + i); }

// Fast BGP timers: a test must not wait for the 120 s default connect retry.
constexpr const char* kBgpTimers =
    "connect retry time 1; hold time 3; keepalive time 1; error wait time 1, 2;";

class ScaleOutTopology {
 public:
  ScaleOutTopology() : client_("cl"), router_("up") {
    router_.exec_ok("ip link add br0 type bridge && ip link set br0 up && "
                    "ip addr add 198.18.30.1/24 dev br0");
    router_.sysctl("net.ipv4.ip_forward", "1");
    // ECMP by the 5-tuple, as upstream routers in front of load balancers do.
    router_.sysctl("net.ipv4.fib_multipath_hash_policy", "1");
    client_link_.emplace(router_, client_, VethOptions{.a = {.addresses = {"198.18.40.1/24"}},
                                                       .b = {.addresses = {"198.18.40.2/24"}}});
    client_.exec_ok("ip route add default via 198.18.40.1");
    // Hosts compute their own checksums: a frame XDP redirects loses the
    // checksum-offload state a veth leaves it in.
    client_.exec_ok("ethtool -K " + client_link_->name_b() + " tx off");

    for (int i = 0; i < kInstances; ++i) {
      auto& gw = instances_.emplace_back(fmt::format("gw{}", i));
      // FIB routing (bpf_fib_lookup) answers "forwarding disabled" without it.
      gw.sysctl("net.ipv4.ip_forward", "1");
      auto& link = attach_to_fabric(gw, instance_addr(i));
      // The instance transmits with XDP back out of this port (DSR hairpin):
      // the router's end needs NAPI to take redirected frames.
      router_.exec_ok("ethtool -K " + link.name_a() + " gro on");
      instance_ports_.push_back(link.name_b());
    }
    for (int i = 0; i < kBackends; ++i) {
      auto& b = backends_.emplace_back(fmt::format("b{}", i));
      auto& link = attach_to_fabric(b, backend_addr(i));
      b.exec_ok(fmt::format("ip route add default via {} && ip addr add {}/32 dev lo", kRouterAddr, kVip));
      b.exec_ok("ethtool -K " + link.name_b() + " tx off");
      // The usual DSR backend: decapsulated packets carry the client's
      // address, and the VIP on lo is never answered for in ARP.
      for (const char* conf : {"all", "default"}) {
        b.sysctl(fmt::format("net.ipv4.conf.{}.rp_filter", conf), "0");
        b.sysctl(fmt::format("net.ipv4.conf.{}.arp_ignore", conf), "1");
      }
      decaps_.emplace_back(b, link.name_b());
      servers_.emplace_back(b, fmt::format("b{}", i), std::vector<uint16_t>{kVipPort});
    }
    // Neighbours resolved before the daemons start (see LbTopology).
    for (int i = 0; i < kInstances; ++i)
      for (int b = 0; b < kBackends; ++b)
        instances_[i].exec_ok(fmt::format("ping -q -c1 -W5 {}", backend_addr(b)));
  }

  const Netns& client() const { return client_; }
  const Netns& router() const { return router_; }
  const Netns& instance(int i) const { return instances_[i]; }
  const std::string& instance_port(int i) const { return instance_ports_[i]; }

  // Next hops of the router's kernel route to the VIP ("198.18.30.11", ...).
  std::set<std::string> vip_nexthops() const {
    std::set<std::string> hops;
    const std::string out = router_.exec_ok(fmt::format("ip -4 route show {}/32", kVip));
    for (size_t pos = out.find("via "); pos != std::string::npos; pos = out.find("via ", pos + 4))
      hops.insert(out.substr(pos + 4, out.find(' ', pos + 4) - pos - 4));
    return hops;
  }

 private:
  // A veth from the router's bridge to `host`, which gets `addr`/24. Room
  // for the 20 bytes of the DSR tunnel header on the whole segment.
  VethPair& attach_to_fabric(const Netns& host, const std::string& addr) {
    auto& link = fabric_.emplace_back(router_, host,
                                      VethOptions{.b = {.addresses = {addr + "/24"}}, .mtu = 1600});
    router_.exec_ok("ip link set " + link.name_a() + " master br0");
    return link;
  }

  Netns client_, router_;
  std::deque<Netns> instances_, backends_;
  std::optional<VethPair> client_link_;
  std::deque<VethPair> fabric_;
  std::vector<std::string> instance_ports_;
  std::deque<DecapAttachment> decaps_;
  std::deque<BackendServer> servers_;
};

class ScaleOutE2e : public ::testing::Test {
 protected:
  ScaleOutE2e() {
    std::filesystem::create_directories(dir_);
    std::string upstream = fmt::format(R"(router id {};
protocol device {{ scan time 1; }}
# Equal BGP routes from several instances become one multipath kernel route.
protocol kernel {{ ipv4 {{ export all; }}; merge paths on; }}
template bgp instances {{ local {} as 65000; ipv4 {{ import all; export none; }}; {} }}
)", kRouterAddr, kRouterAddr, kBgpTimers);
    for (int i = 0; i < kInstances; ++i)
      upstream += fmt::format("protocol bgp gw{} from instances {{ neighbor {} as 65001; }}\n", i,
                              instance_addr(i));
    upstream_.emplace(topo_.router(), upstream);

    for (int i = 0; i < kInstances; ++i) {
      // What an operator puts in each instance's bird.conf: the directory
      // xdpgw writes into (a pattern, so BIRD starts before xdpgw ever ran)
      // and an export filter naming xdpgw's protocol.
      const auto include_dir = dir_ / fmt::format("gw{}", i);
      std::filesystem::create_directories(include_dir);
      auto& d = daemons_.emplace_back(topo_.instance(i), dir_ / fmt::format("gw{}.toml", i));
      speakers_.emplace_back(topo_.instance(i), fmt::format(R"(router id {addr};
protocol device {{ scan time 1; }}
include "{dir}/*.conf";
protocol bgp upstream {{
  local {addr} as 65001; neighbor {router} as 65000;
  ipv4 {{ import none; export where proto = "{proto}_v4"; }};
  {timers}
}}
)", fmt::arg("addr", instance_addr(i)), fmt::arg("dir", include_dir.string()),
                                           fmt::arg("router", kRouterAddr),
                                           fmt::arg("proto", bird_protocol(d)),
                                           fmt::arg("timers", kBgpTimers)));
      d.write_config(config(i, include_dir));
    }
    for (int i = 0; i < kInstances; ++i) upstream_->wait_established(fmt::format("gw{}", i));
  }

  ~ScaleOutE2e() override {
    daemons_.clear();  // withdraw and detach before BIRD goes
    speakers_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static std::string bird_protocol(const Daemon& d) {
    std::string p = "xdpgw_" + d.instance();
    std::replace(p.begin(), p.end(), '-', '_');
    return p;
  }

  std::string config(int i, const std::filesystem::path& include_dir) const {
    const Daemon& d = daemons_[i];
    std::string text = fmt::format(R"([gateway]
instance = "{}"

[[port]]
name = "{}"

[routing]
source = "fib"

[lb]
tunnel_source_v4 = "{}"

[[vip]]
name = "web"
address = "{}"
protocol = "tcp"
port = {}
mode = "dsr"
)", d.instance(), topo_.instance_port(i), instance_addr(i), kVip, kVipPort);
    for (int b = 0; b < kBackends; ++b)
      text += fmt::format("\n[[vip.backend]]\naddress = \"{}\"\nport = {}\n", backend_addr(b), kVipPort);
    text += fmt::format(R"(
[vip.health_check]
kind = "tcp"
interval_ms = 200
timeout_ms = 100
rise = 1
fall = 2

[announce]
include = "{}/{}.conf"
bird_socket = "{}"
withdraw_grace_ms = 500

[control]
socket = "{}"
)", include_dir.string(), d.instance(), speakers_[i].socket().string(), d.socket().string());
    return text;
  }

  // Waits (bounded) until the router's route to the VIP has exactly `hops`.
  void wait_for_nexthops(const std::set<std::string>& hops) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (topo_.vip_nexthops() != hops) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::string why = fmt::format("router's next hops for {}: {} (want {})\n", kVip,
                                      fmt::join(topo_.vip_nexthops(), ","), fmt::join(hops, ","));
        for (int i = 0; i < kInstances; ++i)
          why += fmt::format("--- gw{} announce:\n{}\n--- log:\n{}\n", i,
                             daemons_[i].cli("announce status").output, daemons_[i].log());
        why += "--- upstream BIRD:\n" + upstream_->birdc("show route all");
        FAIL() << why;
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  // Both instances running and announced by the router, then kConnections
  // connections opened through it.
  void start_both_and_connect(std::deque<Connection>& conns) {
    for (auto& d : daemons_) ASSERT_NO_FATAL_FAILURE(d.start());
    ASSERT_NO_FATAL_FAILURE(wait_for_nexthops(both_));
    for (int i = 0; i < kConnections; ++i) conns.emplace_back(topo_.client(), kVip, kVipPort);
  }

  uint64_t flows(int i) const {
    auto r = daemons_[i].cli("flows --json --limit 1");
    EXPECT_TRUE(r.ok()) << r.output;
    // The connection table's total, not one of the other tables' (proxy,
    // snat) that the same answer carries.
    return r.ok() ? nlohmann::json::parse(r.output).at("total").get<uint64_t>() : 0;
  }

  // Sends a line on every connection; returns how many came back from the
  // backend that greeted the connection.
  int survivors(std::deque<Connection>& conns, const std::string& line) {
    int ok = 0;
    for (auto& c : conns) {
      try {
        const std::string answer = c.echo(line);
        if (answer == c.backend() + ":" + line)
          ++ok;
        else
          ADD_FAILURE() << "connection greeted by " << c.backend() << " answered " << answer;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "connection greeted by " << c.backend() << ": " << e.what();
      }
    }
    return ok;
  }

  const std::set<std::string> both_{instance_addr(0), instance_addr(1)};
  ScaleOutTopology topo_;
  std::filesystem::path dir_ = std::filesystem::temp_directory_path() / unique_name("scaleout");
  std::optional<BirdDaemon> upstream_;
  std::deque<BirdDaemon> speakers_;  // one per instance, before its daemon
  std::deque<Daemon> daemons_;
};

TEST_F(ScaleOutE2e, ConnectionsSurviveAnInstanceLeavingAndComingBack) {
  std::deque<Connection> conns;
  ASSERT_NO_FATAL_FAILURE(start_both_and_connect(conns));
  ASSERT_EQ(survivors(conns, "before"), kConnections);
  // ECMP gave each instance some of them, or the failover proves nothing.
  const uint64_t on_leaving = flows(0);
  ASSERT_GT(on_leaving, 0u) << "ECMP sent no connection through gw0";
  ASSERT_GT(flows(1), 0u) << "ECMP sent no connection through gw1";

  // gw0 leaves: SIGTERM withdraws its route, it serves the grace period,
  // exits, and its datapath is removed (nothing of it forwards any more).
  daemons_[0].stop_and_detach();
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops({instance_addr(1)}));
  const int after_failover = survivors(conns, "after-failover");
  RecordProperty("survived_failover", after_failover);
  std::cout << after_failover << " of " << kConnections << " connections survived gw0 leaving ("
            << on_leaving << " of them went through gw0)\n";
  EXPECT_EQ(after_failover, kConnections)
      << after_failover << " of " << kConnections << " connections survived gw0 leaving ("
      << on_leaving << " went through it)";
  EXPECT_GE(flows(1), uint64_t(kConnections)) << "gw1 did not take over gw0's flows";
  auto status = daemons_[1].cli("announce status");
  EXPECT_NE(status.output.find("VIP web 198.18.100.1: announced"), std::string::npos) << status.output;

  // gw0 comes back: it announces once its health checks confirm a backend,
  // and ECMP hands it part of the established connections again.
  ASSERT_NO_FATAL_FAILURE(daemons_[0].start());
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops(both_));
  const int after_return = survivors(conns, "after-return");
  RecordProperty("survived_return", after_return);
  std::cout << after_return << " of " << kConnections << " connections survived gw0 coming back\n";
  EXPECT_EQ(after_return, kConnections)
      << after_return << " of " << kConnections << " connections survived gw0 coming back";
  EXPECT_GT(flows(0), 0u) << "no established connection moved back to gw0";

  // New connections work through both.
  for (int i = 0; i < 8; ++i) {
    Connection c(topo_.client(), kVip, kVipPort);
    EXPECT_EQ(c.echo("new"), c.backend() + ":new");
  }
}

// Withdrawn for maintenance: the router stops sending new flows to the
// instance, the instance keeps serving (XDP) whatever still arrives, and a
// restore brings it back, all without restarting anything.
TEST_F(ScaleOutE2e, OperatorWithdrawAndRestoreMoveTrafficWithoutBreakingConnections) {
  std::deque<Connection> conns;
  ASSERT_NO_FATAL_FAILURE(start_both_and_connect(conns));

  auto r = daemons_[0].cli("announce withdraw");
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_NE(r.output.find("WITHDRAWN by the operator"), std::string::npos) << r.output;
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops({instance_addr(1)}));
  EXPECT_EQ(survivors(conns, "withdrawn"), kConnections);

  r = daemons_[0].cli("announce restore");
  ASSERT_TRUE(r.ok()) << r.output;
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops(both_));
  EXPECT_EQ(survivors(conns, "restored"), kConnections);

  // Every backend drained on gw0: it has nothing to offer new flows, so it
  // stops attracting them; one back is enough to return.
  for (int b = 0; b < kBackends; ++b) {
    r = daemons_[0].cli(fmt::format("backend drain web {}:{}", backend_addr(b), kVipPort));
    ASSERT_TRUE(r.ok()) << r.output;
  }
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops({instance_addr(1)}));
  r = daemons_[0].cli("announce status");
  EXPECT_NE(r.output.find("not announced (no usable backend"), std::string::npos) << r.output;
  EXPECT_EQ(survivors(conns, "drained"), kConnections);
  r = daemons_[0].cli(fmt::format("backend undrain web {}:{}", backend_addr(1), kVipPort));
  ASSERT_TRUE(r.ok()) << r.output;
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops(both_));
  EXPECT_EQ(survivors(conns, "undrained"), kConnections);
}

// A box that dies says nothing: gw0's daemon is killed and its link goes
// dark. Its BGP session times out (hold time 3 s here), the router drops
// the next hop, and the survivor carries every connection on.
TEST_F(ScaleOutE2e, ConnectionsSurviveAnInstanceDyingWithoutAWord) {
  std::deque<Connection> conns;
  ASSERT_NO_FATAL_FAILURE(start_both_and_connect(conns));
  ASSERT_GT(flows(0), 0u) << "ECMP sent no connection through gw0";

  daemons_[0].kill9();
  topo_.instance(0).exec_ok("ip link set " + topo_.instance_port(0) + " down");
  ASSERT_NO_FATAL_FAILURE(wait_for_nexthops({instance_addr(1)}));
  const int survived = survivors(conns, "after-death");
  std::cout << survived << " of " << kConnections << " connections survived gw0 dying\n";
  EXPECT_EQ(survived, kConnections);
}

}  // namespace
}  // namespace xdpgw::test::e2e
