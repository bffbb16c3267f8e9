// Proxy mode end to end, with the real daemon and real clients and servers:
//
//   client --[p0] gateway [p1]-- backend 0   nginx :8080 (HTTP), :8081 (PROXY v2),
//           (VIP on lo) [p2]-- backend 1     an in-process line echo :9000,
//                       [p3]-- backend 2     socat binary echo :9001
//
// The VIP 198.18.100.1 is a local address of the gateway; XDP passes its
// packets to the kernel stack, where the daemon's listeners accept them and
// splice each to a backend through the SOCKHASH. curl and ab are the
// clients; nginx and socat run in the backend namespaces (killed at the
// end, whatever happens).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "e2e/daemon_process.hpp"
#include "e2e/gateway_daemon.hpp"
#include "e2e/lb_hosts.hpp"
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
constexpr const char* kVip = "198.18.100.1";
constexpr const char* kVip6 = "2001:2:0:100::1";
constexpr uint16_t kHttpPort = 80, kPpPort = 81, kEchoPort = 90, kBinPort = 91, kRefusePort = 92,
                   kDeadPort = 93, kSlowPort = 94;
constexpr uint64_t kBigFile = 64ull << 20;

std::string backend_addr(int i) { return fmt::format("198.18.{}.2", 10 + i); }

// nginx in a backend namespace, from a config generated into `dir`: "/"
// answers the backend's name, /files/ serves the shared directory, and
// :8081 expects a PROXY protocol header and answers with the client it
// names. Runs in the foreground under the test (ChildProcess), so it is
// stopped with the test whatever happens.
class Nginx {
 public:
  Nginx(const Netns& ns, const std::string& name, const std::filesystem::path& dir,
        const std::filesystem::path& files)
      : dir_(dir / name) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "nginx.conf") << fmt::format(R"(user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {0}/nginx.pid;
error_log {0}/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log {0}/access.log;
  client_body_temp_path {0}/body;
  proxy_temp_path {0}/proxy;
  fastcgi_temp_path {0}/fastcgi;
  uwsgi_temp_path {0}/uwsgi;
  scgi_temp_path {0}/scgi;
  server {{
    listen 8080 backlog=4096;
    location = / {{ return 200 "{1}\n"; }}
    location /files/ {{ root {2}; }}
  }}
  server {{
    listen 8081 proxy_protocol;
    location / {{ return 200 "client=$proxy_protocol_addr:$proxy_protocol_port name={1}\n"; }}
  }}
}}
)", dir_.string(), name, files.string());
    process_.emplace(std::vector<std::string>{"/usr/bin/nsenter", "--net=/run/netns/" + ns.name(),
                                              "/usr/sbin/nginx", "-c", (dir_ / "nginx.conf").string(),
                                              "-g", "daemon off;"},
                     dir_ / "stdout.log");
    for (int i = 0; i < 500; ++i) {
      if (ns.exec("ss -Hltn 'sport = :8081' | grep -q LISTEN").ok()) return;
      if (process_->poll()) break;
      std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("nginx did not start: " + ns.exec("cat " + (dir_ / "error.log").string()).output);
  }
  // Requests this backend logged.
  int requests() const {
    std::ifstream in(dir_ / "access.log");
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }

 private:
  std::filesystem::path dir_;
  std::optional<ChildProcess> process_;
};

// kill -9 of every process in a namespace, as a crashed host; from this
// (the root) namespace, so the shell doing it is not among them.
void kill_all(const Netns& ns) { run_cmd("ip netns pids " + ns.name() + " | xargs -r kill -9"); }

class ProxyTopology {
 public:
  ProxyTopology() : client_("pc"), gw_("pg") {
    client_link_.emplace(gw_, client_, VethOptions{.a = {.addresses = {"198.18.1.1/24", "2001:2:0:1::1/64"}},
                                                   .b = {.addresses = {"198.18.1.2/24", "2001:2:0:1::2/64"}}});
    client_.exec_ok("ip route add default via 198.18.1.1 && ip -6 route add default via 2001:2:0:1::1");
    // As in the LB tests: hosts compute their own checksums.
    client_.exec_ok("ethtool -K " + client_link_->name_b() + " tx off");
    // The VIP is the gateway's own address: the kernel delivers it to the
    // daemon's listeners (XDP passes packets for local addresses).
    gw_.exec_ok(fmt::format("ip addr add {}/32 dev lo && ip addr add {}/128 dev lo nodad", kVip, kVip6));
    std::filesystem::create_directories(dir_.path() / "files" / "files");
    // Sparse: nginx sends zeros without reading a disk.
    const auto big = dir_.path() / "files" / "files" / "big.bin";
    std::ofstream(big).close();
    std::filesystem::resize_file(big, kBigFile);
    for (int i = 0; i < kBackends; ++i) {
      auto& b = backends_.emplace_back(fmt::format("pb{}", i));
      auto& link = links_.emplace_back(
          gw_, b, VethOptions{.a = {.addresses = {fmt::format("198.18.{}.1/24", 10 + i)}},
                              .b = {.addresses = {backend_addr(i) + "/24"}}});
      b.exec_ok(fmt::format("ip route add default via 198.18.{}.1", 10 + i));
      b.exec_ok("ethtool -K " + link.name_b() + " tx off");
    }
    for (int i = 0; i < kBackends; ++i) {
      const std::string name = fmt::format("b{}", i);
      nginx_.emplace_back(backends_[i], name, dir_.path(), dir_.path() / "files");
      echo_.emplace_back(backends_[i], name, std::vector<uint16_t>{9000});
      socat_.emplace_back(std::vector<std::string>{"/usr/bin/nsenter", "--net=/run/netns/" + backends_[i].name(),
                                                   "/usr/bin/socat", "TCP-LISTEN:9001,reuseaddr,fork,backlog=1024",
                                                   fmt::format("SYSTEM:echo {}; exec cat", name)},
                          dir_.path() / fmt::format("socat{}.log", i));
    }
    for (int i = 0; i < kBackends; ++i) {
      gw_.exec_ok(fmt::format("ping -q -c1 -W5 {}", backend_addr(i)));
      for (int t = 0; t < 500 && !backends_[i].exec("ss -Hltn 'sport = :9001' | grep -q LISTEN").ok(); ++t)
        std::this_thread::sleep_for(10ms);
    }
  }
  ~ProxyTopology() {
    // Whatever a test left running in the backends (socat's children).
    for (auto& b : backends_) kill_all(b);
  }

  const Netns& client() const { return client_; }
  const Netns& gw() const { return gw_; }
  const Netns& backend(int i) const { return backends_[i]; }
  std::string client_port() const { return client_link_->name_a(); }
  std::string backend_port(int i) const { return links_[i].name_a(); }
  const Nginx& nginx(int i) const { return nginx_[i]; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  Netns client_, gw_;
  std::deque<Netns> backends_;
  std::optional<VethPair> client_link_;
  std::deque<VethPair> links_;
  std::deque<Nginx> nginx_;
  std::deque<BackendServer> echo_;
  std::deque<ChildProcess> socat_;
};

// A connected TCP socket from the client namespace (5 s hang guards).
UniqueFd connect_to(const Netns& client, uint16_t port) {
  auto in = client.enter();
  SocketAddress to = SocketAddress::parse(kVip, port);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw std::system_error(errno, std::generic_category(), "socket");
  timeval tv{20, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.storage), to.size) < 0)
    throw std::system_error(errno, std::generic_category(), "connect " + to.to_string());
  return fd;
}

std::string read_line(int fd) {
  std::string out;
  char c = 0;
  while (read(fd, &c, 1) == 1 && c != '\n') out += c;
  return out;
}

void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) throw std::system_error(errno, std::generic_category(), "write");
    off += size_t(n);
  }
}

// Reads until EOF; the errno of a failed read in *err (0 at EOF).
std::string read_to_end(int fd, int* err = nullptr) {
  std::string out;
  std::array<char, 65536> buf{};
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n > 0) {
      out.append(buf.data(), size_t(n));
      continue;
    }
    if (err) *err = n < 0 ? errno : 0;
    return out;
  }
}

class ProxyE2e : public ::testing::Test {
 protected:
  ProxyE2e() {
    // 1,000 client sockets and their 1,000 in-process echo peers.
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ~ProxyE2e() override {
    std::error_code ec;
    std::filesystem::remove(config_path_, ec);
  }

  ProxyTopology topo_;
  std::filesystem::path config_path_ = topo_.dir() / "gw.toml";
  Daemon daemon_{topo_.gw(), config_path_};

  // `echo_extra`: more keys for the "echo" VIP (limits, timeouts).
  std::string config(const std::array<int, kBackends>& weights = {1, 1, 1},
                     const std::string& echo_extra = "") const {
    std::string text = fmt::format(R"([gateway]
instance = "{}"

[[port]]
name = "{}"
)", daemon_.instance(), topo_.client_port());
    for (int i = 0; i < kBackends; ++i) text += fmt::format("\n[[port]]\nname = \"{}\"\n", topo_.backend_port(i));
    text += "\n[routing]\nsource = \"fib\"\n\n[lb]\nproxy_stop_grace_ms = 3000\n";
    auto vip = [&](const char* name, uint16_t port, uint16_t backend_port, bool pp, bool health,
                   const std::string& extra = "") {
      std::string v = fmt::format("\n[[vip]]\nname = \"{}\"\naddress = \"{}\"\nprotocol = \"tcp\"\nport = {}\n"
                                  "mode = \"proxy\"\nproxy_protocol = {}\n{}",
                                  name, kVip, port, pp ? "true" : "false", extra);
      if (health)
        v += "\n[vip.health_check]\nkind = \"tcp\"\ninterval_ms = 200\ntimeout_ms = 100\nrise = 1\nfall = 1\n";
      for (int i = 0; i < kBackends; ++i)
        v += fmt::format("\n[[vip.backend]]\naddress = \"{}\"\nport = {}\nweight = {}\n", backend_addr(i),
                         backend_port, weights[i]);
      return v;
    };
    text += vip("web", kHttpPort, 8080, false, false);
    // An IPv6 VIP in front of the same IPv4 backends: a proxy translates.
    text += fmt::format("\n[[vip]]\nname = \"web6\"\naddress = \"{}\"\nprotocol = \"tcp\"\nport = {}\nmode = \"proxy\"\n",
                        kVip6, kHttpPort);
    for (int i = 0; i < kBackends; ++i)
      text += fmt::format("\n[[vip.backend]]\naddress = \"{}\"\nport = 8080\n", backend_addr(i));
    text += vip("pp", kPpPort, 8081, true, false);
    text += vip("echo", kEchoPort, 9000, false, false, echo_extra);
    text += vip("bin", kBinPort, 9001, false, true);
    // "refuse": b0 has nothing on port 9 (connects are refused), b1 and b2
    // echo; "dead": nothing listens anywhere.
    text += fmt::format("\n[[vip]]\nname = \"refuse\"\naddress = \"{}\"\nprotocol = \"tcp\"\nport = {}\n"
                        "mode = \"proxy\"\nconnect_tries = 3\n"
                        "[[vip.backend]]\naddress = \"{}\"\nport = 9\n"
                        "[[vip.backend]]\naddress = \"{}\"\nport = 9000\n"
                        "[[vip.backend]]\naddress = \"{}\"\nport = 9000\n",
                        kVip, kRefusePort, backend_addr(0), backend_addr(1), backend_addr(2));
    text += fmt::format("\n[[vip]]\nname = \"dead\"\naddress = \"{}\"\nprotocol = \"tcp\"\nport = {}\n"
                        "mode = \"proxy\"\n[[vip.backend]]\naddress = \"{}\"\nport = 9\n",
                        kVip, kDeadPort, backend_addr(0));
    // "slow": the first backend never answers (no such host on the link:
    // the SYN goes nowhere), so its connect times out and b1 answers.
    text += fmt::format("\n[[vip]]\nname = \"slow\"\naddress = \"{}\"\nprotocol = \"tcp\"\nport = {}\n"
                        "mode = \"proxy\"\nconnect_timeout_ms = 200\ntable_size = 2\n"
                        "[[vip.backend]]\naddress = \"198.18.10.99\"\nport = 9000\n"
                        "[[vip.backend]]\naddress = \"{}\"\nport = 9000\n",
                        kVip, kSlowPort, backend_addr(1));
    // Metrics on the gateway namespace's loopback: each test has its own.
    text += fmt::format("\n[control]\nsocket = \"{}\"\nmetrics = \"127.0.0.1:10170\"\n", daemon_.socket().string());
    return text;
  }

  void start(const std::array<int, kBackends>& weights = {1, 1, 1}, const std::string& echo_extra = "") {
    daemon_.write_config(config(weights, echo_extra));
    ASSERT_NO_FATAL_FAILURE(daemon_.start());
  }

  nlohmann::json proxied() const {
    auto r = daemon_.cli("flows --json --limit 100000");
    EXPECT_TRUE(r.ok()) << r.output;
    return r.ok() ? nlohmann::json::parse(r.output).value("proxied", nlohmann::json::object()) : nlohmann::json();
  }
  size_t proxied_total() const { return proxied().value("total", size_t{0}); }

  // Waits (bounded) until the daemon holds no proxied connection.
  void wait_until_no_connections() const {
    for (int i = 0; i < 600 && proxied_total() != 0; ++i) std::this_thread::sleep_for(50ms);
    ASSERT_EQ(proxied_total(), 0u) << proxied().dump(1);
  }

  size_t open_fds() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", daemon_.pid())))
      ++n;
    return n;
  }

  // ab's "Complete requests" and "Failed requests".
  std::pair<int, int> ab(int requests, int concurrency, uint16_t port) const {
    auto r = topo_.client().exec(fmt::format("ab -q -r -n {} -c {} http://{}:{}/ 2>&1", requests, concurrency, kVip, port));
    std::smatch m;
    int complete = -1, failed = -1;
    if (std::regex_search(r.output, m, std::regex(R"(Complete requests:\s+(\d+))"))) complete = std::stoi(m[1]);
    if (std::regex_search(r.output, m, std::regex(R"(Failed requests:\s+(\d+))"))) failed = std::stoi(m[1]);
    if (r.output.find("Non-2xx") != std::string::npos) failed = std::max(failed, 1);
    EXPECT_TRUE(r.ok()) << r.output;
    return {complete, failed};
  }
};

TEST_F(ProxyE2e, CurlAndAbThroughTheVipSpreadByWeight) {
  ASSERT_NO_FATAL_FAILURE(start({1, 2, 3}));
  for (int i = 0; i < 10; ++i) {
    auto r = topo_.client().exec(fmt::format("curl -sS --max-time 10 http://{}:{}/", kVip, kHttpPort));
    ASSERT_TRUE(r.ok()) << r.output << daemon_.log();
    EXPECT_TRUE(std::regex_match(r.output, std::regex("b[0-2]\n"))) << r.output;
  }
  // A client that sends its request and its FIN at once, before the backend
  // is even connected (the socket is past ESTABLISHED at splice time and is
  // relayed instead): it still gets the answer.
  for (int i = 0; i < 5; ++i) {
    auto r = topo_.client().exec(fmt::format(
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat -t 10 - TCP:{}:{},shut-down | tail -n 1", kVip, kHttpPort));
    ASSERT_TRUE(r.ok()) << r.output;
    EXPECT_TRUE(std::regex_match(r.output, std::regex("b[0-2]\n"))) << r.output;
  }
  const std::array<int, kBackends> before{topo_.nginx(0).requests(), topo_.nginx(1).requests(),
                                          topo_.nginx(2).requests()};
  auto [complete, failed] = ab(600, 8, kHttpPort);
  EXPECT_EQ(complete, 600);
  EXPECT_EQ(failed, 0);
  // Expected 600 * w / 6 by Maglev over the clients' 5-tuples; each count
  // is binomial (sd <= 12.3), the bounds are 4 standard deviations wide.
  const std::array<int, kBackends> expected{100, 200, 300};
  int total = 0;
  for (int i = 0; i < kBackends; ++i) {
    const int got = topo_.nginx(i).requests() - before[i];
    total += got;
    EXPECT_NEAR(got, expected[i], 50) << "b" << i;
  }
  EXPECT_EQ(total, 600);
  auto flows = daemon_.cli("flows");
  EXPECT_TRUE(flows.ok()) << flows.output;
  EXPECT_NE(flows.output.find("proxied connections"), std::string::npos) << flows.output;
}

TEST_F(ProxyE2e, Ipv6VipToIpv4Backends) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (int i = 0; i < 5; ++i) {
    auto r = topo_.client().exec(fmt::format("curl -sS --max-time 10 http://[{}]:{}/", kVip6, kHttpPort));
    ASSERT_TRUE(r.ok()) << r.output << daemon_.log();
    EXPECT_TRUE(std::regex_match(r.output, std::regex("b[0-2]\n"))) << r.output;
  }
}

TEST_F(ProxyE2e, ProxyProtocolShowsTheRealClient) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto r = topo_.client().exec(fmt::format("curl -sS --max-time 10 http://{}:{}/", kVip, kPpPort));
  ASSERT_TRUE(r.ok()) << r.output << daemon_.log();
  EXPECT_TRUE(std::regex_match(r.output, std::regex("client=198\\.18\\.1\\.2:[0-9]+ name=b[0-2]\n"))) << r.output;
}

TEST_F(ProxyE2e, HundredMegabytesBothWaysByteForByte) {
  ASSERT_NO_FATAL_FAILURE(start());
  const auto in = topo_.dir() / "in.bin", out = topo_.dir() / "out.bin";
  topo_.client().exec_ok(fmt::format("head -c 100000000 /dev/urandom > {}", in.string()));
  // The echo backend greets with its name and sends back every byte; the
  // client's FIN (shut-down) ends it after the last one.
  auto r = topo_.client().exec(fmt::format("socat -t 60 - TCP:{}:{},shut-down < {} > {}", kVip, kBinPort,
                                           in.string(), out.string()));
  ASSERT_TRUE(r.ok()) << r.output << daemon_.log();
  auto sums = topo_.client().exec_ok(
      fmt::format("sha256sum < {} | cut -c1-64; tail -c +4 {} | sha256sum | cut -c1-64; head -c 3 {}",
                  in.string(), out.string(), out.string()));
  std::istringstream lines(sums);
  std::string sent, received, greeting;
  lines >> sent >> received >> greeting;
  EXPECT_EQ(sent, received) << "100 MB echoed through the splice differ";
  EXPECT_TRUE(std::regex_match(greeting, std::regex("b[0-2]"))) << greeting;
  EXPECT_EQ(std::filesystem::file_size(out), 100'000'000u + 3);
  // The metrics count the bytes both ways, and promtool accepts them.
  const std::string metrics = topo_.gw().exec_ok("curl -sS --max-time 10 http://127.0.0.1:10170/metrics");
  std::smatch m;
  for (const char* direction : {"to_backend", "to_client"}) {
    ASSERT_TRUE(std::regex_search(metrics, m, std::regex(fmt::format(
                                                  R"(xdpgw_proxy_bytes_total\{{vip="bin",direction="{}"\}} ([0-9.e+]+))",
                                                  direction))))
        << metrics;
    EXPECT_GE(std::stod(m[1]), direction == std::string("to_backend") ? 100e6 : 100e6 + 3) << direction;
  }
  EXPECT_NE(metrics.find("xdpgw_proxy_connections_total{vip=\"bin\"} 1"), std::string::npos) << metrics;
  auto lint = topo_.gw().exec("curl -sS --max-time 10 http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;
  std::error_code ec;
  std::filesystem::remove(in, ec);
  std::filesystem::remove(out, ec);
}

TEST_F(ProxyE2e, HalfCloseStillDeliversTheWholeReply) {
  ASSERT_NO_FATAL_FAILURE(start());
  UniqueFd fd = connect_to(topo_.client(), kBinPort);
  const std::string greeting = read_line(fd.get());
  ASSERT_TRUE(std::regex_match(greeting, std::regex("b[0-2]"))) << greeting;
  std::string payload(256 * 1024, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = char('a' + i % 26);
  write_all(fd.get(), payload);
  ASSERT_EQ(shutdown(fd.get(), SHUT_WR), 0);
  int err = -1;
  const std::string back = read_to_end(fd.get(), &err);
  EXPECT_EQ(err, 0) << std::strerror(err);
  EXPECT_EQ(back.size(), payload.size());
  EXPECT_TRUE(back == payload) << "the reply after the client's FIN differs";
}

TEST_F(ProxyE2e, BackendKilledMidTransferEndsOnlyItsConnections) {
  ASSERT_NO_FATAL_FAILURE(start());
  // Connections until one is on b1 and two are elsewhere.
  std::vector<std::pair<UniqueFd, std::string>> on_b1, others;
  for (int i = 0; i < 100 && (on_b1.empty() || others.size() < 2); ++i) {
    UniqueFd fd = connect_to(topo_.client(), kBinPort);
    std::string name = read_line(fd.get());
    (name == "b1" ? on_b1 : others).emplace_back(std::move(fd), name);
  }
  ASSERT_FALSE(on_b1.empty());
  ASSERT_GE(others.size(), 2u);
  const int victim = on_b1.front().first.get();
  // Mid-transfer: 1 MB sent, echoed back in part.
  write_all(victim, std::string(1 << 20, 'k'));
  char first[4096];
  ASSERT_GT(read(victim, first, sizeof(first)), 0);
  kill_all(topo_.backend(1));
  int err = -1;
  read_to_end(victim, &err);
  EXPECT_TRUE(err == 0 || err == ECONNRESET) << "the client must see its connection end, not hang: "
                                             << std::strerror(err);
  for (auto& [fd, name] : others) {
    write_all(fd.get(), "still here\n");
    EXPECT_EQ(read_line(fd.get()), "still here") << name;
  }
  // The health check takes b1 out: new connections avoid it.
  const std::string down = fmt::format("backend {}:9001 is DOWN", backend_addr(1));
  for (int i = 0; i < 200 && daemon_.log().find(down) == std::string::npos; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_NE(daemon_.log().find(down), std::string::npos) << daemon_.log();
  for (int i = 0; i < 30; ++i) {
    UniqueFd fd = connect_to(topo_.client(), kBinPort);
    EXPECT_NE(read_line(fd.get()), "b1");
  }
}

TEST_F(ProxyE2e, ReloadKeepsAThousandOpenConnections) {
  ASSERT_NO_FATAL_FAILURE(start({1, 1, 1}));
  std::vector<Connection> conns;
  conns.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    try {
      conns.emplace_back(topo_.client(), kVip, kEchoPort);
    } catch (const std::exception& e) {
      const std::string log = daemon_.log();
      FAIL() << "connection " << i << ": " << e.what() << "\n" << daemon_.cli("flows").output
             << topo_.gw().exec("ss -ltn; ss -tn | tail -5").output << log.substr(log.size() > 1500 ? log.size() - 1500 : 0);
    }
  }
  ASSERT_EQ(proxied_total(), 1000u);
  // `xdpgw flows`: client, backend and the greeting's 3 bytes each.
  for (const auto& f : proxied()["connections"]) {
    EXPECT_EQ(f["vip"], "echo");
    EXPECT_EQ(f["to_client_bytes"], 3u) << f.dump();
    EXPECT_TRUE(std::regex_match(f["backend"].get<std::string>(), std::regex(R"(198\.18\.1[0-2]\.2:9000)"))) << f.dump();
  }
  // A reload that changes every pool: the acceptors stay, the live pairs too.
  daemon_.write_config(config({3, 1, 2}));
  auto r = daemon_.cli("reload");
  ASSERT_TRUE(r.ok()) << r.output;
  int kept = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    try {
      kept += conns[i].echo("after reload") == conns[i].backend() + ":after reload";
    } catch (const std::exception& e) {
      ADD_FAILURE() << "connection " << i << " after the reload: " << e.what();
    }
  }
  EXPECT_EQ(kept, 1000);
  conns.clear();
  ASSERT_NO_FATAL_FAILURE(wait_until_no_connections());
}

// 20,000 rather than the issue's 100,000 keeps this test's time bounded
// on a shared 2-vCPU machine running the sanitizer build; a leak of one
// fd per connection, or per thousand, shows all the same.
TEST_F(ProxyE2e, NoFdLeakAfterTwentyThousandShortConnections) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto [warm, warm_failed] = ab(100, 4, kHttpPort);
  ASSERT_EQ(warm, 100);
  ASSERT_NO_FATAL_FAILURE(wait_until_no_connections());
  const size_t before = open_fds();
  auto [complete, failed] = ab(20000, 16, kHttpPort);
  EXPECT_EQ(complete, 20000);
  EXPECT_EQ(failed, 0);
  ASSERT_NO_FATAL_FAILURE(wait_until_no_connections());
  EXPECT_EQ(open_fds(), before);
}

// The gateway must not read ahead of a slow client: what the backend got
// acknowledged stays within a few socket buffers of what the client read.
TEST_F(ProxyE2e, SlowClientDoesNotMakeTheGatewayBufferTheFile) {
  ASSERT_NO_FATAL_FAILURE(start());
  UniqueFd fd = connect_to(topo_.client(), kHttpPort);
  write_all(fd.get(), "GET /files/big.bin HTTP/1.0\r\n\r\n");
  // 1 byte per millisecond for a while.
  uint64_t got = 0;
  for (int i = 0; i < 300; ++i) {
    char c;
    got += read(fd.get(), &c, 1) == 1;
    std::this_thread::sleep_for(1ms);
  }
  // What every backend's nginx has had acknowledged on port 8080, once it
  // stops growing (the gateway's buffers are full).
  auto acked = [&] {
    uint64_t sum = 0;
    for (int i = 0; i < kBackends; ++i) {
      auto out = topo_.backend(i).exec("ss -Htni state established 'sport = :8080'").output;
      static const std::regex kAcked(R"(bytes_acked:(\d+))");
      for (auto it = std::sregex_iterator(out.begin(), out.end(), kAcked);
           it != std::sregex_iterator(); ++it)
        sum += std::stoull((*it)[1]);
    }
    return sum;
  };
  uint64_t last = 0, now = acked();
  for (int i = 0; i < 60 && now != last; ++i) {
    std::this_thread::sleep_for(300ms);
    last = now;
    now = acked();
  }
  const std::string memory = topo_.gw().exec("ss -tmn").output;
  // It was the flow control that held nginx back: the direction to the
  // client is now copied by the daemon at the client's pace.
  const std::string metrics = topo_.gw().exec_ok("curl -sS --max-time 10 http://127.0.0.1:10170/metrics");
  EXPECT_NE(metrics.find("xdpgw_proxy_copied_directions_total{vip=\"web\"} 1"), std::string::npos) << metrics;
  EXPECT_GT(now, 0u);
  EXPECT_LT(now - got, 32ull << 20) << "the gateway took " << now << " bytes of a " << kBigFile
                                    << "-byte file for a client that read " << got << "\n" << memory;
  // And the whole file still arrives.
  int err = -1;
  const std::string rest = read_to_end(fd.get(), &err);
  EXPECT_EQ(err, 0);
  EXPECT_GT(got + rest.size(), kBigFile);  // the headers and the whole file
}

TEST_F(ProxyE2e, MaxConnectionsPausesAcceptingUntilOneCloses) {
  ASSERT_NO_FATAL_FAILURE(start({1, 1, 1}, "max_connections = 2\n"));
  std::optional<Connection> first(std::in_place, topo_.client(), kVip, kEchoPort);
  Connection second(topo_.client(), kVip, kEchoPort);
  auto echo_vip = [&] {
    auto r = daemon_.cli("status --json");
    EXPECT_TRUE(r.ok()) << r.output;
    return nlohmann::json::parse(r.output)["proxy"]["echo"];
  };
  EXPECT_EQ(echo_vip()["active"], 2);
  EXPECT_EQ(echo_vip()["accepting"], false);
  // The third client completes its handshake in the kernel's backlog and is
  // greeted once the first connection is gone.
  UniqueFd third = connect_to(topo_.client(), kEchoPort);
  first.reset();
  EXPECT_TRUE(std::regex_match(read_line(third.get()), std::regex("b[0-2]")));
  EXPECT_EQ(second.echo("x"), second.backend() + ":x");
}

TEST_F(ProxyE2e, IdleConnectionsAreClosed) {
  ASSERT_NO_FATAL_FAILURE(start({1, 1, 1}, "idle_timeout_ms = 1000\n"));
  UniqueFd fd = connect_to(topo_.client(), kEchoPort);
  ASSERT_TRUE(std::regex_match(read_line(fd.get()), std::regex("b[0-2]")));
  // Nothing sent: the daemon closes it (the read's 20 s guard only stops a hang).
  int err = -1;
  EXPECT_EQ(read_to_end(fd.get(), &err), "");
  EXPECT_EQ(err, 0) << std::strerror(err);
  ASSERT_NO_FATAL_FAILURE(wait_until_no_connections());
}

TEST_F(ProxyE2e, StopStopsAcceptingAndLetsOpenConnectionsFinish) {
  ASSERT_NO_FATAL_FAILURE(start());
  Connection open(topo_.client(), kVip, kEchoPort);
  ASSERT_EQ(::kill(daemon_.pid(), SIGTERM), 0);
  for (int i = 0; i < 200 && daemon_.log().find("proxied connections get") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  ASSERT_NE(daemon_.log().find("proxied connections get"), std::string::npos) << daemon_.log();
  // Draining: the open connection still works, new ones are refused.
  EXPECT_EQ(open.echo("during the drain"), open.backend() + ":during the drain");
  EXPECT_THROW(connect_to(topo_.client(), kEchoPort), std::system_error);
  // The daemon exits once the last connection has ended (or the grace is
  // over); stop() expects a clean exit.
  daemon_.stop();
}

TEST_F(ProxyE2e, RefusedBackendsAreSkippedAndNoneLeftClosesTheClientAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start());
  // b0 refuses every connect: the next backend of the table answers.
  for (int i = 0; i < 30; ++i) {
    Connection c(topo_.client(), kVip, kRefusePort);
    EXPECT_TRUE(c.backend() == "b1" || c.backend() == "b2") << c.backend();
  }
  const std::string metrics = topo_.gw().exec_ok("curl -sS --max-time 10 http://127.0.0.1:10170/metrics");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      metrics, m,
      std::regex(fmt::format(R"(xdpgw_proxy_connect_failures_total\{{vip="refuse",backend="{}:9"\}} (\d+))",
                             backend_addr(0)))))
      << metrics;
  EXPECT_GT(std::stoi(m[1]), 0);
  // A connect that times out moves on to the next backend too.
  // 20 clients: each finds the silent backend first with probability 1/2.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Connection(topo_.client(), kVip, kSlowPort).backend(), "b1");
  const std::string after = topo_.gw().exec_ok("curl -sS --max-time 10 http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(std::regex_search(
      after, m, std::regex(R"(xdpgw_proxy_connect_failures_total\{vip="slow",backend="198\.18\.10\.99:9000"\} (\d+))")))
      << after;
  EXPECT_GT(std::stoi(m[1]), 0);
  // No backend left: the client is reset, it does not wait for a timeout.
  UniqueFd fd = connect_to(topo_.client(), kDeadPort);
  int err = -1;
  EXPECT_EQ(read_to_end(fd.get(), &err), "");
  EXPECT_EQ(err, ECONNRESET) << std::strerror(err);
}

TEST_F(ProxyE2e, DrainedBackendTakesNoNewConnectionsItsOpenOnesStay) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<Connection> open;
  for (int i = 0; i < 30 && std::none_of(open.begin(), open.end(), [](const Connection& c) { return c.backend() == "b0"; }); ++i)
    open.emplace_back(topo_.client(), kVip, kEchoPort);
  auto on_b0 = std::find_if(open.begin(), open.end(), [](const Connection& c) { return c.backend() == "b0"; });
  ASSERT_NE(on_b0, open.end());
  auto r = daemon_.cli(fmt::format("backend drain echo {}:9000", backend_addr(0)));
  ASSERT_TRUE(r.ok()) << r.output;
  for (int i = 0; i < 30; ++i) EXPECT_NE(Connection(topo_.client(), kVip, kEchoPort).backend(), "b0");
  EXPECT_EQ(on_b0->echo("still"), "b0:still");
}

}  // namespace
}  // namespace xdpgw::test::e2e
