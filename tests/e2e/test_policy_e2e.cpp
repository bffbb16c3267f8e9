// Policy end to end: the real daemon with [ratelimit] / [[acl]] config, real
// sockets in the host namespaces, counters read from the pinned maps.
//
// Rate bounds use the elapsed time the test measured around the traffic as
// an input (passed <= burst + rate * elapsed + 1); there is no timing
// threshold.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"
#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/prog_run.hpp"
#include "harness/child_process.hpp"
#include "harness/cpu.hpp"
#include "harness/names.hpp"
#include "harness/pcapng.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

// A second address on host A: the flooding "host". Host A's own address
// (198.18.1.2) stays the well-behaved one.
constexpr std::string_view kFlooder4 = "198.18.1.3";
constexpr uint64_t kRate = 1000;
constexpr uint64_t kBurst = 200;

GatewayConfig policy_config(const RouterTopology& topology, std::vector<unsigned> cpus = {}) {
  GatewayConfig config{.ports = {topology.gateway_port_a().name, topology.gateway_port_b().name},
                       .route_source = RouteSource::kFib,
                       .steering_cpus = std::move(cpus)};
  config.extra_toml = fmt::format(R"(
[ratelimit]
[[ratelimit.class]]
name = "flooder"
packets_per_second = {}
burst = {}
sources = ["{}/32"]

# Telnet to host B is denied, from anywhere.
[[acl]]
action = "deny"
protocol = "tcp"
dst_ports = "23"
)",
                                  kRate, kBurst, kFlooder4);
  return config;
}

UniqueFd open_pinned(const GatewayDaemon& daemon, const char* map) {
  const std::string path = (daemon.pin_dir() / map).string();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw_errno(errno, "open pinned " + path);
  return UniqueFd(fd);
}

std::vector<xdpgw_rl_counter> flooder_stats(const GatewayDaemon& daemon) {
  UniqueFd fd = open_pinned(daemon, "rl_stats");
  return read_percpu<xdpgw_rl_counter>(fd.get(), 0);
}

struct Totals {
  uint64_t passed = 0;
  uint64_t dropped = 0;
};
Totals total(const std::vector<xdpgw_rl_counter>& per_cpu) {
  Totals t;
  for (const auto& c : per_cpu) {
    t.passed += c.passed;
    t.dropped += c.dropped;
  }
  return t;
}

// Sends `count` datagrams from `socket` as fast as the kernel takes them.
// A veth whose ring is full refuses some (ENOBUFS); those never reached XDP
// and are simply not counted as sent.
uint64_t flood(const UdpSocket& socket, const SocketAddress& to, int count) {
  const std::vector<uint8_t> payload(64, 0x5a);
  uint64_t sent = 0;
  for (int i = 0; i < count; ++i) {
    try {
      socket.send_to(to, payload);
      ++sent;
    } catch (const std::system_error&) {
    }
  }
  return sent;
}

TEST(PolicyE2e, FloodIsCutToItsRateWhileAnotherHostsTcpTransferCompletes) {
  RouterTopology topology;
  topology.host_a().exec_ok(
      fmt::format("ip addr add {}/24 dev {}", kFlooder4, topology.host_a_end().name));
  GatewayDaemon daemon(topology.gateway(), policy_config(topology));

  const UdpSocket sink(topology.host_b(), kHostB4, 7001);
  const UdpSocket flooder(topology.host_a(), kFlooder4, 7002);
  const auto data = pseudo_random_bytes(4 << 20, 8);

  std::atomic<bool> stop{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread flood_thread([&] {
    const SocketAddress to = SocketAddress::parse(kHostB4, 7001);
    while (!stop.load()) flood(flooder, to, 1000);
  });
  std::vector<uint8_t> received;
  try {
    received = tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 5001, data);
  } catch (...) {
    stop = true;
    flood_thread.join();
    throw;
  }
  stop = true;
  flood_thread.join();
  // Let the last frames through the veth before taking the time: the bound
  // only gets looser with a longer elapsed.
  std::this_thread::sleep_for(100ms);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  EXPECT_EQ(first_difference(received, data), std::nullopt) << "the TCP transfer was damaged";
  const Totals flooder_total = total(flooder_stats(daemon));
  EXPECT_GT(flooder_total.dropped, 0u) << "the flood was never over its rate";
  EXPECT_GE(flooder_total.passed, kBurst);
  EXPECT_LE(double(flooder_total.passed), kBurst + kRate * elapsed + 1)
      << fmt::format("burst {} + {} pkt/s x {:.3f} s + 1", kBurst, kRate, elapsed);
  const VerdictSnapshot v = daemon.verdicts();
  EXPECT_EQ(v.total(XDPGW_R_DROP_RATE_LIMITED), flooder_total.dropped);
}

TEST(PolicyE2e, AclDeniesTelnetAndCountsTheRule) {
  RouterTopology topology;
  GatewayDaemon daemon(topology.gateway(), policy_config(topology));
  // A TCP connect to port 23 through the gateway: the SYN is dropped in XDP,
  // so the connection cannot complete (the sender retransmits).
  EXPECT_THROW(tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 23,
                            pseudo_random_bytes(1000, 1), std::chrono::seconds(2)),
               std::exception);
  EXPECT_GE(daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY), 1u);
  UniqueFd acl = open_pinned(daemon, "acl_stats");
  uint64_t hits = 0;
  for (const auto& c : read_percpu<xdpgw_counter>(acl.get(), 0)) hits += c.packets;
  EXPECT_EQ(hits, daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY));
  // Everything else still flows.
  const auto data = pseudo_random_bytes(100000, 2);
  EXPECT_EQ(tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 5002, data), data);

  // What the operator sees: `xdpgw stats` names the rule and the class, and
  // the metrics carry them and pass Prometheus' linter.
  auto stats = run_cmd(fmt::format("{} stats --socket {}", XDPGW_BINARY, daemon.control_socket().string()));
  EXPECT_TRUE(stats.ok()) << stats.output;
  EXPECT_NE(stats.output.find("deny tcp dport 23"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("flooder"), std::string::npos) << stats.output;
  auto scrape = topology.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.output;
  // The unnamed rule is called by what it does; its line is in the info metric only.
  EXPECT_NE(scrape.output.find(fmt::format("xdpgw_acl_hits_total{{rule=\"deny tcp dport 23\"}} {}\n", hits)),
            std::string::npos)
      << scrape.output;
  EXPECT_NE(scrape.output.find("xdpgw_acl_rule_info{rule=\"deny tcp dport 23\",line=\""), std::string::npos)
      << scrape.output;
  EXPECT_NE(scrape.output.find("action=\"deny\",match=\"deny tcp dport 23\"} 1\n"), std::string::npos)
      << scrape.output;
  EXPECT_NE(scrape.output.find("xdpgw_ratelimit_packets_total{class=\"flooder\",result=\"dropped\"}"),
            std::string::npos)
      << scrape.output;
  auto lint = topology.gateway().exec(
      "curl -sS --fail http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;
}

// `capture -w -` into a pipe whose reader exits after the first bytes
// (`| head -c 1`): the daemon's next write fails with EPIPE, which ends
// that capture with its reason, not the daemon (SIGPIPE is ignored), and
// the next capture starts.
TEST(PolicyE2e, ACaptureWhosePipeReaderLeavesEndsAndTheDaemonStays) {
  RouterTopology topology;
  GatewayDaemon daemon(topology.gateway(), policy_config(topology));
  const std::filesystem::path log = std::filesystem::temp_directory_path() / (unique_name("epipe") + ".log");
  struct RemoveFile {
    std::filesystem::path path;
    ~RemoveFile() { std::filesystem::remove(path); }
  } remove_log{log};
  std::optional<ExitStatus> ended;
  {
    ChildProcess capture({"/bin/sh", "-c",
                          fmt::format("{} capture --socket {} --what drops -w - | head -c 1 >/dev/null",
                                      shell_quote(XDPGW_BINARY), shell_quote(daemon.control_socket().string()))},
                         log);
    for (int attempt = 0; attempt < 20 && !(ended = capture.poll()); ++attempt) {
      EXPECT_THROW(tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 23, pseudo_random_bytes(10, 1),
                                std::chrono::seconds(1)),
                   std::exception);
    }
    ASSERT_TRUE(ended) << "the capture did not end when its reader left\n" << read_file(log);
  }
  const std::string out = read_file(log);
  EXPECT_NE(out.find("xdpgw capture: stopped early:"), std::string::npos) << out;
  EXPECT_NE(out.find("Broken pipe"), std::string::npos) << out;
  auto status = run_cmd(fmt::format("{} status --socket {}", XDPGW_BINARY, daemon.control_socket().string()));
  EXPECT_TRUE(status.ok()) << "the daemon lives on\n" << status.output << daemon.log();
  // The next capture starts and writes.
  const std::filesystem::path pcap = std::filesystem::temp_directory_path() / (unique_name("after") + ".pcapng");
  const RemoveFile remove_pcap{pcap};
  {
    ChildProcess capture({XDPGW_BINARY, "capture", "--socket", daemon.control_socket().string(), "--what", "drops",
                          "-w", pcap.string(), "-c", "1"},
                         log);
    std::optional<ExitStatus> again;
    for (int attempt = 0; attempt < 20 && !(again = capture.poll()); ++attempt) {
      EXPECT_THROW(tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 23, pseudo_random_bytes(10, 1),
                                std::chrono::seconds(1)),
                   std::exception);
    }
    ASSERT_TRUE(again) << read_file(log);
    EXPECT_TRUE(again->clean()) << again->describe() << "\n" << read_file(log);
  }
  EXPECT_EQ(read_pcapng(pcap).packets.size(), 1u);
  daemon.expect_error_lines_with("Broken pipe");
}

// ACL hit metrics are labelled by rule name: a reload that moves a named
// rule down the file (another rule inserted above it) keeps its series and
// its count, and only xdpgw_acl_rule_info says where it is now.
TEST(PolicyE2e, AMovedRuleKeepsItsMetricSeriesAndCount) {
  RouterTopology topology;
  GatewayConfig config{.ports = {topology.gateway_port_a().name, topology.gateway_port_b().name},
                       .route_source = RouteSource::kFib};
  const std::string telnet = "[[acl]]\nname = \"telnet\"\naction = \"deny\"\nprotocol = \"tcp\"\ndst_ports = \"23\"\n";
  config.extra_toml = telnet;
  GatewayDaemon daemon(topology.gateway(), config);
  auto scrape = [&] {
    auto r = topology.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
    EXPECT_TRUE(r.ok()) << r.output;
    return r.output;
  };
  // The value of the one sample of `series` (name and labels as printed).
  auto value_of = [&](const std::string& text, const std::string& series) -> std::optional<uint64_t> {
    const auto at = text.find(series + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(text.substr(at + series.size() + 1));
  };
  auto deny_some = [&] {
    EXPECT_THROW(tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 23, pseudo_random_bytes(10, 1),
                              std::chrono::seconds(1)),
                 std::exception);
  };
  const std::string hits = "xdpgw_acl_hits_total{rule=\"telnet\"}";
  deny_some();
  const std::string before = scrape();
  const auto count = value_of(before, hits);
  ASSERT_TRUE(count) << before;
  EXPECT_GE(*count, 1u);
  EXPECT_EQ(*count, daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY));
  const auto old_line = before.find("xdpgw_acl_rule_info{rule=\"telnet\",line=\"");
  ASSERT_NE(old_line, std::string::npos) << before;

  // Moved: a new rule above it, and telnet's counter must not be taken
  // over by the new rule nor start again.
  config.extra_toml = "[[acl]]\naction = \"deny\"\nprotocol = \"udp\"\ndst_ports = \"9\"\n" + telnet;
  daemon.rewrite_config(config);
  auto reload = run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY, daemon.control_socket().string()));
  ASSERT_TRUE(reload.ok()) << reload.output << daemon.log();
  const std::string moved = scrape();
  EXPECT_EQ(value_of(moved, hits), count) << moved;
  EXPECT_EQ(value_of(moved, "xdpgw_acl_hits_total{rule=\"deny udp dport 9\"}"), std::optional<uint64_t>(0))
      << moved;
  EXPECT_NE(moved.substr(moved.find("xdpgw_acl_rule_info{rule=\"telnet\""), 60),
            before.substr(old_line, 60))
      << "the info metric has the new line\n"
      << moved;
  deny_some();
  const std::string after = scrape();
  EXPECT_GT(value_of(after, hits).value_or(0), *count) << after;
  EXPECT_EQ(value_of(after, hits), daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY));
  auto lint = topology.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;
}

// The operator's block-list workflow: a [[prefix_set]] read from a file, the
// file rewritten, `xdpgw reload`. A file that no longer parses is refused by
// the reload with its FILE:LINE:COL, and the rules running before stay.
TEST(PolicyE2e, BlockListFileIsReReadOnReloadAndABrokenOneIsRefused) {
  RouterTopology topology;
  TempDir lists;
  const auto list = lists.path() / "blocklist.txt";
  auto write_list = [&](std::string_view text) { std::ofstream(list, std::ios::trunc) << text; };
  write_list("# empty for now\n198.51.100.0/24 ; SBL1\n");
  GatewayConfig config{.ports = {topology.gateway_port_a().name, topology.gateway_port_b().name},
                       .route_source = RouteSource::kFib};
  config.extra_toml = fmt::format(
      "[[prefix_set]]\nname = \"blocklist\"\nfile = \"{}\"\n"
      "[[acl]]\naction = \"deny\"\nsrc = \"@blocklist\"\n",
      list.string());
  GatewayDaemon daemon(topology.gateway(), config);
  const std::string socket = daemon.control_socket().string();
  auto reload = [&] { return run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY, socket)); };
  auto transfer_works = [&](uint8_t seed) {
    const auto data = pseudo_random_bytes(50000, seed);
    try {
      return tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 5003, data,
                          std::chrono::seconds(2)) == data;
    } catch (const std::exception&) {
      return false;
    }
  };
  ASSERT_TRUE(transfer_works(1)) << daemon.log();
  EXPECT_EQ(daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY), 0u);

  write_list(fmt::format("198.51.100.0/24 ; SBL1\n{}   # host A, listed now\n", kHostA4));
  auto listed = reload();
  ASSERT_TRUE(listed.ok()) << listed.output << daemon.log();
  EXPECT_FALSE(transfer_works(2)) << "host A is on the block list";
  const uint64_t denied = daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY);
  EXPECT_GE(denied, 1u);
  auto stats = run_cmd(fmt::format("{} stats --socket {}", XDPGW_BINARY, socket));
  EXPECT_NE(stats.output.find("deny src @blocklist"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("prefix set @blocklist: 2 IPv4 and 0 IPv6 prefixes"), std::string::npos)
      << stats.output;
  auto scrape = topology.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.output;
  EXPECT_NE(scrape.output.find("xdpgw_acl_prefix_set_prefixes{set=\"blocklist\",family=\"ipv4\"} 2\n"),
            std::string::npos)
      << scrape.output;
  auto lint = topology.gateway().exec(
      "curl -sS --fail http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;

  write_list("198.51.100.0/24\n198.18.1.300\n");
  daemon.expect_error_lines_with("reload refused: " + list.string() + ":2:1:");
  auto broken = reload();
  EXPECT_EQ(broken.exit_status, 2) << broken.output;
  EXPECT_NE(broken.output.find(list.string() + ":2:1: \"198.18.1.300\""), std::string::npos)
      << broken.output;
  EXPECT_FALSE(transfer_works(3)) << "a refused reload keeps the running block list";
  EXPECT_GT(daemon.verdicts().total(XDPGW_R_DROP_ACL_DENY), denied);

  write_list("");
  auto emptied = reload();
  ASSERT_TRUE(emptied.ok()) << emptied.output;
  EXPECT_TRUE(transfer_works(4)) << daemon.log();
}

// `xdpgw capture --what drops`: the frames XDP drops, as it dropped them,
// in a pcapng tcpdump reads, and the capture says why each was dropped: per
// packet (an interface named after the ingress port, the comment
// "drop_reason=NAME", inbound) and in the CLI's summary. tcpdump's flags:
// -c stops after 3 packets, -s 60 keeps 60 bytes of each (a SYN with its options has 74).
TEST(PolicyE2e, DroppedPacketsAreCapturedWithTheirReasonAndPort) {
  RouterTopology topology;
  GatewayDaemon daemon(topology.gateway(), policy_config(topology));
  struct RemoveFiles {
    std::filesystem::path pcap, log;
    ~RemoveFiles() {
      std::filesystem::remove(pcap);
      std::filesystem::remove(log);
    }
  } files{std::filesystem::temp_directory_path() / (unique_name("drops") + ".pcapng"),
          std::filesystem::temp_directory_path() / (unique_name("drops") + ".log")};
  std::optional<ExitStatus> ended;
  {
    ChildProcess capture({XDPGW_BINARY, "capture", "--socket", daemon.control_socket().string(), "--what", "drops",
                          "-w", files.pcap.string(), "-c", "3", "-s", "60"},
                         files.log);
    // SYNs to the denied port until the capture has three (it may start
    // after the first ones: a loop, not a timing assumption).
    for (int attempt = 0; attempt < 20 && !(ended = capture.poll()); ++attempt) {
      EXPECT_THROW(tcp_transfer(topology.host_a(), topology.host_b(), kHostB4, 23, pseudo_random_bytes(10, 1),
                                std::chrono::seconds(1)),
                   std::exception);
    }
    if (!ended) ended = capture.terminate(SIGINT);
  }
  const std::string capture_output = read_file(files.log);
  EXPECT_TRUE(ended->clean()) << ended->describe() << "\n" << capture_output;
  EXPECT_NE(capture_output.find("3 packets written"), std::string::npos) << capture_output;
  EXPECT_NE(capture_output.find("drop_acl_deny 3"), std::string::npos) << capture_output;

  const CmdResult td = run_cmd("tcpdump -nn -r " + shell_quote(files.pcap.string()));
  ASSERT_TRUE(td.ok()) << td.output;
  std::size_t syns = 0;
  for (std::size_t pos = 0; (pos = td.output.find(fmt::format("> {}.23: Flags [S]", kHostB4), pos)) != std::string::npos;
       ++pos)
    ++syns;
  EXPECT_EQ(syns, 3u) << td.output;

  const Pcapng cap = read_pcapng(files.pcap);
  ASSERT_EQ(cap.packets.size(), 3u);
  for (const PcapngPacket& p : cap.packets) {
    EXPECT_EQ(cap.interface_name(p), topology.gateway_port_a().name);
    EXPECT_EQ(p.comments, std::vector<std::string>{"drop_reason=drop_acl_deny"});
    EXPECT_EQ(p.flags, std::optional<uint32_t>(1)) << "inbound";
    EXPECT_TRUE(p.queue.has_value()) << "the rx queue XDP saw";
    EXPECT_EQ(p.data.size(), 60u) << "-s 60";
    EXPECT_GT(p.orig_len, 60u) << "the frame's own length stays";
  }
}

// Two sender threads pinned to CPU 0 and CPU 1, both flooding from the same
// source, so the gateway's XDP (which runs on the sender's CPU on a veth)
// spends from one bucket on two CPUs at once; steering over both CPUs
// (CPUMAP) is on, as in production. The bucket never lets more through than
// it allows, and each packet is charged exactly once although steered
// packets run a second program on the other CPU.
TEST(PolicyE2e, TwoCpusFloodingOneSourceNeverPassMoreThanTheBucketAllows) {
  ASSERT_GE(std::thread::hardware_concurrency(), 2u) << "the concurrency test needs two CPUs";
  RouterTopology topology({.ipv6 = false, .static_neighbours = true});
  topology.host_a().exec_ok(
      fmt::format("ip addr add {}/24 dev {}", kFlooder4, topology.host_a_end().name));
  GatewayDaemon daemon(topology.gateway(), policy_config(topology, {0, 1}));

  const UdpSocket sink(topology.host_b(), kHostB4, 7001);
  const SocketAddress to = SocketAddress::parse(kHostB4, 7001);
  const VerdictSnapshot before = daemon.verdicts();
  UniqueFd handler_stats = open_pinned(daemon, "handler_stats");
  auto udp_handled = [&] {
    uint64_t n = 0;
    for (const auto& c : read_percpu<xdpgw_counter>(handler_stats.get(), XDPGW_SLOT_UDP))
      n += c.packets;
    return n;
  };
  const uint64_t udp_before = udp_handled();

  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<uint64_t> sent{0};
  auto sender = [&](unsigned cpu, uint16_t port) {
    const CpuPin pin(cpu);
    const UdpSocket socket(topology.host_a(), kFlooder4, port);
    sent += flood(socket, to, 50000);
  };
  std::thread a(sender, 0, 7100), b(sender, 1, 7101);
  a.join();
  b.join();
  std::this_thread::sleep_for(100ms);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const auto per_cpu = flooder_stats(daemon);
  const Totals t = total(per_cpu);
  ASSERT_GE(per_cpu.size(), 2u);
  EXPECT_GT(per_cpu[0].passed + per_cpu[0].dropped, 0u) << "CPU 0 never hit the bucket";
  EXPECT_GT(per_cpu[1].passed + per_cpu[1].dropped, 0u) << "CPU 1 never hit the bucket";
  EXPECT_GE(t.passed, kBurst);
  EXPECT_LE(double(t.passed), kBurst + kRate * elapsed + 1)
      << fmt::format("burst {} + {} pkt/s x {:.3f} s + 1 ({} sent)", kBurst, kRate, elapsed,
                     sent.load());
  // Exactly once: every UDP packet the handler saw was charged once, and
  // only the passed ones were steered (once) and forwarded.
  EXPECT_EQ(t.passed + t.dropped, udp_handled() - udp_before);
  const VerdictSnapshot d = daemon.verdicts() - before;
  EXPECT_EQ(d.total(XDPGW_R_DROP_RATE_LIMITED), t.dropped);
  EXPECT_EQ(d.total(XDPGW_R_STEER_CPU), t.passed);
  EXPECT_EQ(d.total(XDPGW_R_FWD_REDIRECT), t.passed);
}

}  // namespace
}  // namespace xdpgw::test::e2e
