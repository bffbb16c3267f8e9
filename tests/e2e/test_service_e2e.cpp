// xdpgw under systemd, without systemd: the test plays the service manager.
// It binds the datagram socket systemd would pass as $NOTIFY_SOCKET and
// reads what the daemon says (READY=1 once every port is attached,
// RELOADING=1 then READY=1 around each reload, STOPPING=1 on SIGTERM), and
// it points $JOURNAL_STREAM at the daemon's stderr, as systemd does when
// StandardError=journal, so the daemon writes journald's form: a syslog
// priority prefix on every line and no timestamp of its own.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "e2e/daemon_process.hpp"
#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "harness/child_process.hpp"
#include "harness/names.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {
namespace {

// The service manager's end of $NOTIFY_SOCKET: a unix datagram socket bound
// to a path of its own, removed on destruction.
class NotifySocket {
 public:
  NotifySocket()
      : path_(std::filesystem::temp_directory_path() / (unique_name("notify") + ".sock")),
        fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
    sockaddr_un addr{.sun_family = AF_UNIX, .sun_path = {}};
    path_.string().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::system_error(errno, std::generic_category(), "bind " + path_.string());
  }
  ~NotifySocket() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // The next message; empty when none came within 30 s (a deadline for a
  // daemon that hangs, not a performance bound).
  std::string next() const {
    pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 30'000) != 1) return {};
    char buf[4096];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
  }

  // Whether a message is waiting right now.
  bool pending() const {
    pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, 0) == 1;
  }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
};

std::string config_for(const RouterTopology& topo, const Daemon& daemon) {
  return fmt::format(R"([gateway]
instance = "{}"

[[port]]
name = "{}"

[[port]]
name = "{}"

[control]
socket = "{}"
metrics = "off"
)",
                     daemon.instance(), topo.gateway_port_a().name, topo.gateway_port_b().name,
                     daemon.socket().string());
}

bool xdp_attached(const RouterTopology& topo, const VethEnd& port) {
  auto r = topo.gateway().exec("ip -d link show dev " + port.name);
  return r.ok() && r.output.find(" xdp") != std::string::npos;
}

TEST(ServiceE2e, NotifiesReadyReloadingStoppingAndLogsJournalPriorities) {
  RouterTopology topo;
  TempDir scratch;  // the config (and output), removed also when the test fails
  Daemon daemon(topo.gateway(), scratch.path() / "gw.toml");
  daemon.write_config(config_for(topo, daemon));

  NotifySocket notify;
  ScopedEnv notify_env("NOTIFY_SOCKET", notify.path().string());
  // The first start writes daemon1.log; it exists before the daemon does,
  // so its device and inode can be named, as systemd names the journal
  // stream it connects stderr to.
  const auto log = daemon.log_path().parent_path() / "daemon1.log";
  std::ofstream(log).close();
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  ScopedEnv journal_env("JOURNAL_STREAM", fmt::format("{}:{}", st.st_dev, st.st_ino));

  ASSERT_NO_FATAL_FAILURE(daemon.start());
  ASSERT_EQ(daemon.log_path(), log);
  std::string msg = notify.next();
  EXPECT_NE(msg.find("READY=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("STATUS=instance {}: 2 ports attached", daemon.instance())),
            std::string::npos)
      << msg;
  EXPECT_TRUE(xdp_attached(topo, topo.gateway_port_a()));
  EXPECT_TRUE(xdp_attached(topo, topo.gateway_port_b()));
  // metrics = "off": no listener on the default port.
  EXPECT_FALSE(topo.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics").ok());
  EXPECT_NE(daemon.log().find("metrics: off"), std::string::npos) << daemon.log();

  // `xdpgw reload` (control socket).
  auto r = daemon.cli("reload");
  EXPECT_TRUE(r.ok()) << r.output;
  msg = notify.next();
  EXPECT_NE(msg.find("RELOADING=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MONOTONIC_USEC="), std::string::npos) << msg;
  msg = notify.next();
  EXPECT_NE(msg.find("READY=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("STATUS=config unchanged"), std::string::npos) << msg;

  // A reload that changes only [control] log_level: applied, no new
  // generation, and debug lines appear from then on.
  const uint32_t generation = daemon.generation();
  daemon.write_config(config_for(topo, daemon) + "log_level = \"debug\"\n");
  r = daemon.cli("reload");
  EXPECT_TRUE(r.ok()) << r.output;
  EXPECT_NE(notify.next().find("RELOADING=1"), std::string::npos);
  msg = notify.next();
  EXPECT_NE(msg.find("STATUS=log level debug"), std::string::npos) << msg;
  EXPECT_EQ(daemon.generation(), generation);
  EXPECT_NE(daemon.log().find("<6>log level debug ([control] log_level)"), std::string::npos)
      << daemon.log();

  // SIGHUP (systemctl reload) of a config that does not validate: refused,
  // and READY again with the running config.
  daemon.write_config(config_for(topo, daemon) + "\n[[port]]\nname = \"nosuch0\"\n");
  std::ifstream lock(fmt::format("/run/xdpgw/{}.lock", daemon.instance()));
  pid_t pid = 0;
  ASSERT_TRUE(lock >> pid) << "no pid in the instance lock";
  ASSERT_TRUE(run_cmd(fmt::format("kill -HUP {}", pid)).ok());
  msg = notify.next();
  EXPECT_NE(msg.find("RELOADING=1"), std::string::npos) << msg;
  msg = notify.next();
  EXPECT_NE(msg.find("READY=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("STATUS=reload refused, running config kept"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nosuch0"), std::string::npos) << msg;

  daemon.stop();
  msg = notify.next();
  EXPECT_NE(msg.find("STOPPING=1"), std::string::npos) << msg;
  EXPECT_FALSE(notify.pending()) << "more after STOPPING=1";

  // Journal form: every line starts with a priority, none with a date.
  const std::string text = daemon.log();
  std::istringstream lines(text);
  std::string line;
  const std::regex prefixed("^<[0-7]>.*");
  while (std::getline(lines, line)) {
    EXPECT_TRUE(std::regex_match(line, prefixed)) << "line without a priority: " << line;
    EXPECT_FALSE(std::regex_search(line, std::regex("^(<[0-7]>)?20[0-9][0-9]-")))
        << "line with its own timestamp: " << line;
  }
  EXPECT_NE(text.find(fmt::format("<6>instance {}: running", daemon.instance())), std::string::npos)
      << text;
  EXPECT_NE(text.find("<3>reload refused:"), std::string::npos) << text;
}

// `xdpgw stats --interval`: rates per reason and per port, one JSON object
// per line with -j, until Ctrl-C, which ends it cleanly.
TEST(ServiceE2e, StatsIntervalPrintsRatesUntilInterrupted) {
  RouterTopology topo;
  TempDir scratch;  // the config (and output), removed also when the test fails
  Daemon daemon(topo.gateway(), scratch.path() / "gw.toml");
  daemon.write_config(config_for(topo, daemon));
  ASSERT_NO_FATAL_FAILURE(daemon.start());

  const auto out = scratch.path() / "rates.jsonl";
  ChildProcess stats({XDPGW_BINARY, "stats", "--socket", daemon.socket().string(), "--interval", "0.2",
                      "-j"},
                     out);
  // Traffic through the gateway until a sample shows it (bounded).
  nlohmann::json with_traffic;
  for (int round = 0; round < 50 && with_traffic.is_null(); ++round) {
    topo.host_a().exec(fmt::format("ping -c 5 -i 0.05 -W 1 {}", kHostB4));
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      // The last line may be half written.
      auto sample = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!sample.is_discarded() && !sample["reasons"].empty()) with_traffic = sample;
    }
  }
  ExitStatus st = stats.terminate(SIGINT, std::chrono::seconds(10));
  EXPECT_TRUE(st.clean()) << st.describe();
  ASSERT_FALSE(with_traffic.is_null()) << "no sample with a counting reason";
  EXPECT_GT(with_traffic["seconds"].get<double>(), 0);
  for (const auto& [reason, r] : with_traffic["reasons"].items()) {
    EXPECT_GT(r["pps"].get<double>(), 0) << reason;
    EXPECT_GT(r["bps"].get<double>(), 0) << reason;
  }
  EXPECT_TRUE(with_traffic["ports"].contains(topo.gateway_port_a().name)) << with_traffic.dump();
  EXPECT_TRUE(with_traffic["ports"].contains(topo.gateway_port_b().name)) << with_traffic.dump();
}

}  // namespace
}  // namespace xdpgw::test::e2e
