// The daemon's lifecycle under steady traffic, with the real binary on real
// veths: 100 reloads alternating two configs (and broken ones) lose nothing
// and every packet follows one config or the other; kill -9 and restart
// lose nothing and the restarted daemon adopts the pinned state.
//
// Topology: host A -- [p0] gateway [p1] -- host B (link 1)
//                                  [p2] -- host B (link 2)
// Both configs route 198.18.4.0/24 (an address on B's loopback) with static
// routes: config "one" via B's link-1 address, config "two" via its link-2
// address. The XDP counter on each of B's interfaces says which config each
// packet followed; a packet that mixed the two (route of one generation,
// nexthop of the other) would reach B with a MAC that is not the receiving
// interface's and be dropped, so sent == received proves there was none.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "e2e/daemon_process.hpp"
#include "e2e/router_topology.hpp"
#include "harness/child_process.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStreamDst = "198.18.4.2";
constexpr uint16_t kStreamPort = 7000;

// A gateway with three ports and host B reachable over two links.
class DualPathTopology {
 public:
  DualPathTopology()
      : a_("a"),
        gw_("gw"),
        b_("b"),
        link0_(gw_, a_, {.a = {.addresses = {"198.18.1.1/24"}},
                         .b = {.addresses = {"198.18.1.2/24"}}}),
        link1_(gw_, b_, {.a = {.addresses = {"198.18.2.1/24"}},
                         .b = {.addresses = {"198.18.2.2/24"}}}),
        link2_(gw_, b_, {.a = {.addresses = {"198.18.3.1/24"}},
                         .b = {.addresses = {"198.18.3.2/24"}}}),
        peer_a_(a_, link0_.ifindex_b()),
        peer_b1_(b_, link1_.ifindex_b()),
        peer_b2_(b_, link2_.ifindex_b()) {
    // IPv4 only: IPv6 link-local chatter (MLD, ND) would reach B's counters
    // at unpredictable times and blur the exact per-link counts.
    for (const Netns* ns : {&a_, &gw_, &b_})
      for (const char* conf : {"all", "default"})
        ns->sysctl(fmt::format("net.ipv6.conf.{}.disable_ipv6", conf), "1");
    gw_.sysctl("net.ipv4.ip_forward", "1");
    a_.exec_ok("ip route add default via 198.18.1.1");
    // A computes its own UDP checksums (see scripts/netns/router-topology.sh).
    a_.exec_ok("ethtool -K " + link0_.name_b() + " tx off");
    // Neighbours known up front, so each config's nexthop is resolved before
    // its generation goes live and no packet takes the kernel's slow path.
    a_.exec_ok(fmt::format("ip neigh replace 198.18.1.1 lladdr {} nud permanent dev {}",
                           to_string(link0_.mac_a()), link0_.name_b()));
    gw_.exec_ok(fmt::format("ip neigh replace 198.18.2.2 lladdr {} nud permanent dev {}",
                            to_string(link1_.mac_b()), link1_.name_a()));
    gw_.exec_ok(fmt::format("ip neigh replace 198.18.3.2 lladdr {} nud permanent dev {}",
                            to_string(link2_.mac_b()), link2_.name_a()));
    b_.exec_ok(fmt::format("ip addr add {}/32 dev lo", kStreamDst));
    // B receives the stream on whichever link the config chose.
    for (const char* conf : {"all", "default"}) b_.sysctl(fmt::format("net.ipv4.conf.{}.rp_filter", conf), "0");
    b_.sysctl("net.ipv4.conf." + link1_.name_b() + ".rp_filter", "0");
    b_.sysctl("net.ipv4.conf." + link2_.name_b() + ".rp_filter", "0");
  }

  const Netns& a() const { return a_; }
  const Netns& gw() const { return gw_; }
  const Netns& b() const { return b_; }
  const VethPair& link0() const { return link0_; }
  const VethPair& link1() const { return link1_; }
  const VethPair& link2() const { return link2_; }
  uint64_t at_b1() const { return peer_b1_.packets(); }
  uint64_t at_b2() const { return peer_b2_.packets(); }

 private:
  Netns a_, gw_, b_;
  VethPair link0_, link1_, link2_;
  PeerCounter peer_a_, peer_b1_, peer_b2_;
};

// Config text for the gateway; `via_link` picks the nexthop for the stream,
// `extra` is appended (steering, ACLs).
std::string gateway_config(const DualPathTopology& t, const std::string& instance,
                           const std::filesystem::path& socket, int via_link,
                           const std::string& extra = "") {
  const VethPair& out = via_link == 1 ? t.link1() : t.link2();
  std::string via = via_link == 1 ? "198.18.2.2" : "198.18.3.2";
  return fmt::format(R"([gateway]
instance = "{}"

[[port]]
name = "{}"

[[port]]
name = "{}"

[[port]]
name = "{}"

[routing]
source = "static"

[[routing.route]]
prefix = "198.18.1.0/24"
via = "198.18.1.2"
port = "{}"

[[routing.route]]
prefix = "198.18.4.0/24"
via = "{}"
port = "{}"

[control]
socket = "{}"
{})",
                     instance, t.link0().name_a(), t.link1().name_a(), t.link2().name_a(),
                     t.link0().name_a(), via, out.name_a(), socket.string(), extra);
}

// Sequence-numbered UDP datagrams from A to B at a steady pace until
// stopped; B counts the distinct ones it received.
class UdpStream {
 public:
  UdpStream(const Netns& a, const Netns& b) {
    {
      auto in = b.enter();
      rx_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    {
      auto in = a.enter();
      tx_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    if (!rx_ || !tx_) throw std::system_error(errno, std::generic_category(), "udp socket");
    // Room for a whole test's worth of datagrams: a full receive buffer
    // would be loss the gateway did not cause.
    int big = 64 << 20;
    setsockopt(rx_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    timeval tv{0, 200'000};
    setsockopt(rx_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kStreamPort);
    inet_pton(AF_INET, kStreamDst, &addr.sin_addr);
    if (bind(rx_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
      throw std::system_error(errno, std::generic_category(), "bind stream receiver");
    dst_ = addr;
    receiver_ = std::thread([this] { receive_loop(); });
    sender_ = std::thread([this] { send_loop(); });
  }
  ~UdpStream() { finish(); }

  struct Result {
    uint64_t sent;
    uint64_t received;
    uint64_t duplicates;
  };

  // Stops sending, lets B drain, and counts.
  Result finish() {
    if (sender_.joinable()) {
      sending_ = false;
      sender_.join();
      std::this_thread::sleep_for(1s);
      receiving_ = false;
      receiver_.join();
    }
    return {sent_, seen_.size(), duplicates_};
  }
  uint64_t sent() const { return sent_; }

 private:
  void send_loop() {
    while (sending_) {
      // ~20k packets/s: well below what a veth path takes, steady enough
      // that every reload and restart happens under traffic.
      for (int i = 0; i < 20; ++i) {
        uint64_t seq = sent_;
        if (sendto(tx_.get(), &seq, sizeof(seq), 0, reinterpret_cast<sockaddr*>(&dst_),
                   sizeof(dst_)) == sizeof(seq))
          sent_ = seq + 1;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  void receive_loop() {
    while (receiving_) {
      uint64_t seq = 0;
      ssize_t n = recv(rx_.get(), &seq, sizeof(seq), 0);
      if (n == sizeof(seq) && !seen_.insert(seq).second) ++duplicates_;
    }
  }

  UniqueFd rx_, tx_;
  sockaddr_in dst_{};
  std::atomic<bool> sending_{true}, receiving_{true};
  std::atomic<uint64_t> sent_{0};
  std::set<uint64_t> seen_;
  uint64_t duplicates_ = 0;
  std::thread sender_, receiver_;
};

class LifecycleE2e : public ::testing::Test {
 protected:
  DualPathTopology topo_;
  std::filesystem::path config_path_ =
      std::filesystem::temp_directory_path() / (unique_name("lc") + ".toml");
  Daemon daemon_{topo_.gw(), config_path_};

  ~LifecycleE2e() override {
    std::error_code ec;
    std::filesystem::remove(config_path_, ec);
  }
  std::string config_via(int link, const std::string& extra = "") const {
    return gateway_config(topo_, daemon_.instance(), daemon_.socket(), link, extra);
  }
};

TEST_F(LifecycleE2e, HundredReloadsUnderTrafficLoseNothingAndMixNoConfigs) {
  daemon_.write_config(config_via(1));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  const uint64_t b1_before = topo_.at_b1(), b2_before = topo_.at_b2();
  UdpStream stream(topo_.a(), topo_.b());
  std::this_thread::sleep_for(200ms);

  int applied = 0, refused = 0;
  for (int i = 0; i < 100; ++i) {
    uint32_t gen_before = daemon_.generation();
    bool broken = i % 2 == 1;
    if (broken)
      daemon_.write_config(config_via(i % 4 == 1 ? 1 : 2) + "\n[[port]]\nname = \"nosuch0\"\n");
    else
      daemon_.write_config(config_via(i % 4 == 0 ? 2 : 1));
    auto r = daemon_.cli("reload");
    if (broken) {
      EXPECT_EQ(r.exit_status, 2) << r.output;
      EXPECT_NE(r.output.find("nosuch0"), std::string::npos) << r.output;
      EXPECT_EQ(daemon_.generation(), gen_before) << "a refused reload changed the generation";
      ++refused;
    } else {
      EXPECT_TRUE(r.ok()) << r.output;
      EXPECT_NE(daemon_.generation(), gen_before);
      ++applied;
    }
    std::this_thread::sleep_for(20ms);
  }
  auto result = stream.finish();

  EXPECT_EQ(applied, 50);
  EXPECT_EQ(refused, 50);
  EXPECT_GT(result.sent, 1000u);
  EXPECT_EQ(result.received, result.sent) << "lost " << result.sent - result.received;
  EXPECT_EQ(result.duplicates, 0u);
  // Each packet crossed exactly one of B's links; both configs carried some.
  const uint64_t via_link1 = topo_.at_b1() - b1_before, via_link2 = topo_.at_b2() - b2_before;
  EXPECT_EQ(via_link1 + via_link2, result.sent);
  EXPECT_GT(via_link1, 0u);
  EXPECT_GT(via_link2, 0u);
  EXPECT_GE(daemon_.fwd_redirect(), result.sent) << "packets took the kernel's path";
}

// With CPU steering, the ACL runs on the CPU that received a packet and the
// route on the CPU its flow hash chose (the CPUMAP second stage). Config
// "one" allows the stream and routes it over link 1; config "two" denies it
// and would route it over link 2. A packet allowed by "one" and routed by
// "two" would reach B over link 2, so: nothing on link 2, and every packet
// either reached B over link 1 or was denied.
TEST_F(LifecycleE2e, ReloadsWithSteeringNeverMixTheFirstAndSecondStagesConfigs) {
  // The longest CPUMAP queue: on a loaded machine (the sanitized daemon,
  // builds beside it) the second stage's kthread can wait long enough for a
  // default queue to overflow, which is loss no generation flip caused.
  const std::string steering = "\n[steering]\ncpus = [0, 1]\nqueue_size = 16384\n";
  const std::string deny_stream = fmt::format(
      "\n[[acl]]\naction = \"deny\"\ndst = \"{}/32\"\nprotocol = \"udp\"\n", kStreamDst);
  const std::string one = config_via(1, steering), two = config_via(2, steering + deny_stream);
  daemon_.write_config(one);
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  const uint64_t b1_before = topo_.at_b1(), b2_before = topo_.at_b2();
  const uint64_t denied_before = daemon_.reason_packets("drop_acl_deny");
  UdpStream stream(topo_.a(), topo_.b());
  std::this_thread::sleep_for(200ms);

  for (int i = 0; i < 60; ++i) {
    daemon_.write_config(i % 2 == 0 ? two : one);
    auto r = daemon_.cli("reload");
    ASSERT_TRUE(r.ok()) << r.output;
    std::this_thread::sleep_for(15ms);
  }
  daemon_.write_config(one);
  ASSERT_TRUE(daemon_.cli("reload").ok());
  std::this_thread::sleep_for(200ms);
  auto result = stream.finish();

  const uint64_t via_link1 = topo_.at_b1() - b1_before, via_link2 = topo_.at_b2() - b2_before;
  const uint64_t denied = daemon_.reason_packets("drop_acl_deny") - denied_before;
  EXPECT_GT(result.sent, 1000u);
  EXPECT_EQ(via_link2, 0u) << "allowed by config one, routed by config two";
  EXPECT_EQ(via_link1, result.received);
  EXPECT_EQ(result.received + denied, result.sent)
      << daemon_.cli("stats").output;
  EXPECT_GT(denied, 0u);
  EXPECT_GT(result.received, 0u);
  EXPECT_EQ(result.duplicates, 0u);
  EXPECT_GE(daemon_.reason_packets("steer_cpu"), result.received) << "packets were not steered";
}

// An optional feature the kernel lacks turns off that one feature, said in
// one line (log and status), and the router forwards as before.
TEST_F(LifecycleE2e, WithoutPerfEventOutputOnlyDropCaptureIsOffAndTheRouterForwards) {
  const std::string line =
      "missing: helper bpf_perf_event_output (denied by XDPGW_PROBE_DENY) — needed by drop "
      "capture (xdpgw capture --what drops), which is turned off.";
  ScopedEnv deny("XDPGW_PROBE_DENY", "bpf_perf_event_output");
  daemon_.write_config(config_via(1));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  EXPECT_NE(daemon_.log().find(line), std::string::npos) << daemon_.log();
  auto status = daemon_.cli("status");
  EXPECT_NE(status.output.find("WARNING: " + line), std::string::npos) << status.output;
  const auto pcap = std::filesystem::temp_directory_path() / (unique_name("cap") + ".pcap");
  auto capture = daemon_.cli("capture --what drops -c 1 -w " + pcap.string());
  EXPECT_NE(capture.exit_status, 0) << capture.output;
  EXPECT_NE(capture.output.find("drop capture is off"), std::string::npos) << capture.output;
  std::error_code ec;
  std::filesystem::remove(pcap, ec);

  const uint64_t b1_before = topo_.at_b1();
  UdpStream stream(topo_.a(), topo_.b());
  std::this_thread::sleep_for(300ms);
  auto result = stream.finish();
  EXPECT_GT(result.sent, 1000u);
  EXPECT_EQ(result.received, result.sent);
  EXPECT_EQ(topo_.at_b1() - b1_before, result.sent);
  EXPECT_GE(daemon_.fwd_redirect(), result.sent);
}

// A required feature missing: `xdpgw run` refuses to start with the one
// line (what, who needs it, what to do), not a verifier dump.
TEST_F(LifecycleE2e, WithoutARequiredHelperRunRefusesWithOneLine) {
  daemon_.write_config(config_via(1));
  auto r = run_cmd(fmt::format("XDPGW_PROBE_DENY=bpf_tail_call timeout 60 {} run -c {} --netns {}",
                               XDPGW_BINARY, config_path_.string(), topo_.gw().name()));
  EXPECT_NE(r.exit_status, 0);
  EXPECT_NE(r.output.find("missing: helper bpf_tail_call (denied by XDPGW_PROBE_DENY) — needed "
                          "by the dispatcher's hand-off to each handler, so xdpgw cannot run."),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("processed"), std::string::npos) << "a verifier log reached the terminal";
  EXPECT_LT(std::count(r.output.begin(), r.output.end(), '\n'), 5) << r.output;
}

// An optional feature missing that a configured VIP needs: the daemon says
// which VIP and what is missing, in a few lines, and loads nothing.
TEST_F(LifecycleE2e, ProxyVipWithoutTheSkSkbVerdictIsRefusedWithOneLine) {
  daemon_.write_config(config_via(1, R"(
[[vip]]
name = "web"
address = "198.18.100.1"
protocol = "tcp"
port = 80
mode = "proxy"
  [[vip.backend]]
  address = "198.18.10.2"
  port = 8080
)"));
  auto r = run_cmd(fmt::format("XDPGW_PROBE_DENY=sk_skb_verdict timeout 60 {} run -c {} --netns {}",
                               XDPGW_BINARY, config_path_.string(), topo_.gw().name()));
  EXPECT_NE(r.exit_status, 0);
  EXPECT_NE(r.output.find("missing: program SK_SKB stream verdict on a SOCKHASH (denied by "
                          "XDPGW_PROBE_DENY) — needed by proxy VIPs"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("VIP web: proxy mode needs an sk_skb stream verdict"), std::string::npos)
      << r.output;
  EXPECT_LT(std::count(r.output.begin(), r.output.end(), '\n'), 6) << r.output;
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path("/sys/fs/bpf/xdpgw") / daemon_.instance()))
      << "nothing was loaded";
}

TEST_F(LifecycleE2e, KillNineAndRestartUnderTrafficLoseNothingAndAdoptState) {
  daemon_.write_config(config_via(1));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  const uint64_t b1_before = topo_.at_b1();
  UdpStream stream(topo_.a(), topo_.b());
  std::this_thread::sleep_for(500ms);

  daemon_.kill9();
  uint64_t sent_at_kill = stream.sent();
  std::this_thread::sleep_for(1s);  // no daemon: XDP must keep forwarding
  uint64_t sent_while_down = stream.sent() - sent_at_kill;
  uint64_t forwarded_while_down = daemon_.fwd_redirect();

  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  EXPECT_NE(daemon_.log().find("adopted from pins"), std::string::npos) << daemon_.log();
  EXPECT_NE(daemon_.log().find("link adopted"), std::string::npos) << daemon_.log();
  std::this_thread::sleep_for(500ms);
  auto result = stream.finish();

  EXPECT_GT(sent_while_down, 1000u);
  EXPECT_EQ(result.received, result.sent) << "lost " << result.sent - result.received;
  EXPECT_EQ(result.duplicates, 0u);
  EXPECT_EQ(topo_.at_b1() - b1_before, result.sent);
  // Counters kept counting through the restart: the adopted map holds
  // every packet since the first start.
  EXPECT_GE(forwarded_while_down, sent_at_kill);
  EXPECT_GE(daemon_.fwd_redirect(), result.sent);
  // While the new daemon adopted the pins, the old dispatcher tail-called the
  // new handlers: none of them may have misread a packet.
  EXPECT_TRUE(daemon_.drops().empty()) << ::testing::PrintToString(daemon_.drops());
}

TEST_F(LifecycleE2e, StopWithoutDetachKeepsForwardingStopDetachRemovesEverything) {
  daemon_.write_config(config_via(1));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  auto stop = run_cmd(fmt::format("{} stop --instance {}", XDPGW_BINARY, daemon_.instance()));
  ASSERT_TRUE(stop.ok()) << stop.output;

  UdpStream stream(topo_.a(), topo_.b());
  std::this_thread::sleep_for(300ms);
  auto result = stream.finish();
  EXPECT_GT(result.sent, 100u);
  EXPECT_EQ(result.received, result.sent);

  auto detach = run_cmd(fmt::format("{} stop --instance {} --detach", XDPGW_BINARY, daemon_.instance()));
  ASSERT_TRUE(detach.ok()) << detach.output;
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path("/sys/fs/bpf/xdpgw") /
                                       daemon_.instance()));
  auto link = topo_.gw().exec_ok("ip link show " + topo_.link0().name_a());
  EXPECT_EQ(link.find("prog/xdp"), std::string::npos) << link;
}

TEST_F(LifecycleE2e, StatusAndMetricsDescribeTheRunningGateway) {
  daemon_.write_config(config_via(1));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  UdpStream stream(topo_.a(), topo_.b());
  std::this_thread::sleep_for(300ms);
  auto result = stream.finish();
  ASSERT_EQ(result.received, result.sent);

  auto status = daemon_.cli("status");
  ASSERT_TRUE(status.ok()) << status.output;
  for (const VethPair* link : {&topo_.link0(), &topo_.link1(), &topo_.link2()})
    EXPECT_NE(status.output.find("port " + link->name_a()), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("XDP native"), std::string::npos) << status.output;
  // Every far end runs the peer program: nothing to warn about.
  EXPECT_EQ(status.output.find("WARNING"), std::string::npos) << status.output;

  // Scraped with a real HTTP client inside the gateway's namespace (the
  // listener's 127.0.0.1), and checked by Prometheus' own linter.
  auto scrape = topo_.gw().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.output;
  auto line_start = scrape.output.find("xdpgw_packets_total{reason=\"fwd_redirect\"");
  ASSERT_NE(line_start, std::string::npos) << scrape.output;
  auto value_at = scrape.output.find(' ', line_start) + 1;
  EXPECT_GE(std::stoull(scrape.output.substr(value_at)), result.sent);
  EXPECT_NE(scrape.output.find("xdpgw_config_generation"), std::string::npos);
  EXPECT_NE(scrape.output.find("\nxdpgw_build_info{version=\""), std::string::npos) << scrape.output;
  auto lint = topo_.gw().exec("curl -sS --fail http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;

  // Reload times: the start counts as the first; an applied reload moves
  // both, a refused one only the attempt.
  const auto sample = [&](const std::string& name) {
    auto r = topo_.gw().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
    EXPECT_TRUE(r.ok()) << r.output;
    const auto at = r.output.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name << " missing:\n" << r.output;
    return at == std::string::npos ? 0.0 : std::stod(r.output.substr(at + name.size() + 2));
  };
  const std::string attempt = "xdpgw_last_reload_attempt_timestamp_seconds";
  const std::string success = "xdpgw_last_reload_success_timestamp_seconds";
  const double started = sample(success);
  EXPECT_GT(started, 1.7e9) << "not a Unix time";
  EXPECT_EQ(sample(attempt), started);
  daemon_.write_config(config_via(2));
  ASSERT_TRUE(daemon_.cli("reload").ok());
  const double applied = sample(success);
  EXPECT_GT(applied, started);
  EXPECT_EQ(sample(attempt), applied);
  daemon_.write_config(config_via(1) + "\n[[port]]\nname = \"nosuch0\"\n");
  const auto refused = daemon_.cli("reload --json");
  EXPECT_EQ(refused.exit_status, 2);
  EXPECT_NE(refused.output.find("\"applied\": false"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("nosuch0"), std::string::npos) << refused.output;
  EXPECT_GT(sample(attempt), applied);
  EXPECT_EQ(sample(success), applied);
}

TEST_F(LifecycleE2e, StatusWarnsAboutAVethPeerWithoutXdp) {
  daemon_.write_config(config_via(1));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  // Take the program off B's second link: redirects into it would vanish.
  topo_.b().exec_ok("ip link set dev " + topo_.link2().name_b() + " xdp off");
  auto status = daemon_.cli("status");
  ASSERT_TRUE(status.ok()) << status.output;
  EXPECT_NE(status.output.find("WARNING: port " + topo_.link2().name_a() +
                               " is a veth whose peer"),
            std::string::npos)
      << status.output;
  EXPECT_EQ(status.output.find("WARNING: port " + topo_.link1().name_a()), std::string::npos)
      << status.output;
}

}  // namespace
}  // namespace xdpgw::test::e2e
