// The real `xdpgw run` daemon under test, started as a child process in the
// gateway namespace, and its counters read from the maps it pins.
//
// Lifetime, as xdpgw defines it: on SIGTERM the daemon exits but leaves its
// maps and XDP links pinned, so XDP keeps forwarding with the last config;
// `xdpgw stop --instance INSTANCE --detach` removes them. A test's GatewayDaemon
// does both on destruction.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "datapath/abi.hpp"
#include "harness/child_process.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {

// Where the daemon keeps its instance lock (/run/xdpgw/<instance>.lock).
inline constexpr std::string_view kRunDir = "/run/xdpgw";
// Removes what a crashed test process could not: lock files in kRunDir of
// harness-named instances and the /tmp/xgt<pid>-e2e-* dirs (config, log) of
// test processes that are gone. The harness's own cleanup covers netns and
// pins.
void remove_leftover_files();

enum class RouteSource { kFib, kStatic, kKernel };
std::string_view to_string(RouteSource source);
// gtest prints parameters with it ("fib", not "4-byte object <00-00 00-00>").
void PrintTo(RouteSource source, std::ostream* os);

struct StaticRoute {
  std::string prefix;  // "198.18.2.0/24"
  std::string via;     // "198.18.2.2"
  std::string port;    // gateway interface the nexthop is reached through
};

// What the test decides about the gateway; the daemon adds the instance name
// and a control socket of its own.
struct GatewayConfig {
  std::vector<std::string> ports;
  RouteSource route_source = RouteSource::kFib;
  std::vector<StaticRoute> routes;      // used with RouteSource::kStatic
  std::vector<unsigned> steering_cpus;  // empty: steering off
  std::string extra_toml;               // appended verbatim ([punt], [[acl]], ...)
  std::vector<std::string> established_only_ports;  // inbound = "established-only"
};

// A directory under /tmp named after the test process, removed with its
// contents on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// Packet counts of every verdict reason on every CPU at one moment, or the
// difference between two such moments.
struct VerdictSnapshot {
  // packets[reason][cpu]
  std::array<std::vector<uint64_t>, XDPGW_R_COUNT> packets;

  uint64_t total(xdpgw_reason reason) const;
  const std::vector<uint64_t>& per_cpu(xdpgw_reason reason) const {
    return packets.at(reason);
  }
  // Reasons (by name) with a non-zero total whose outcome is not in
  // `ignored`, e.g. everything but the pass_* reasons.
  std::map<std::string, uint64_t> nonzero(std::initializer_list<abi::Outcome> ignored = {}) const;
};

// after - before, per reason and CPU.
VerdictSnapshot operator-(const VerdictSnapshot& after, const VerdictSnapshot& before);

class GatewayDaemon {
 public:
  // Writes the config (instance "xgt<pid>-e2e<n>", so the harness removes
  // pins a crashed run left behind), starts `xdpgw run -c FILE --netns NS`
  // and waits until it logs that it is running. Throws with the daemon's
  // log when it exits early or does not get there in time.
  GatewayDaemon(const Netns& gateway, const GatewayConfig& config);
  GatewayDaemon(const GatewayDaemon&) = delete;
  GatewayDaemon& operator=(const GatewayDaemon&) = delete;
  // stop() and detach(); the test fails if either was not clean (exit code
  // 0 on SIGTERM, `stop --detach` succeeded and removed the pins, no error
  // logged). Also removes the instance's lock file in /run/xdpgw.
  ~GatewayDaemon();

  const std::string& instance() const noexcept { return instance_; }
  // The daemon's control socket (for `xdpgw CMD --socket SOCKET`).
  std::filesystem::path control_socket() const { return dir_.path() / "control.sock"; }
  // /sys/fs/bpf/xdpgw/<instance>, where the daemon pins its maps.
  std::filesystem::path pin_dir() const;
  // Everything the daemon wrote to stdout and stderr so far.
  std::string log() const;

  // Counters from the pinned verdict_stats map (its fd is kept open, so
  // reading also works after the daemon stopped).
  VerdictSnapshot verdicts() const;

  // Waits (bounded) until the first `count` static nexthops of the active
  // config generation are resolved: until then the datapath passes their
  // packets to the kernel (pass_no_neigh), and the daemon only polls the
  // neighbour table once a second. Throws with the log when they do not
  // resolve.
  void wait_for_resolved_nexthops(uint32_t count) const;

  // SIGTERM, then a bounded wait (SIGKILL after it). Idempotent. XDP stays
  // attached and the maps pinned.
  ExitStatus stop();

  // SIGKILL, as a crash would: nothing of the daemon's shutdown runs. The
  // destructor then expects that exit instead of a clean one.
  ExitStatus kill9();

  // After kill9() or stop(): `xdpgw run` again with the same config and
  // instance, which adopts the pinned maps and links; waits until it runs.
  void restart(const Netns& gateway);
  // `xdpgw stop --instance INSTANCE --detach`: detaches XDP from the ports and
  // removes the pins. Returns the command's result.
  CmdResult detach() const;

  // Rewrites the config file the daemon was started with, for a following
  // `xdpgw reload` (or SIGHUP).
  void rewrite_config(const GatewayConfig& config) const;

  // Error lines containing `text` are what the test provoked (a refused
  // reload): the destructor does not count them as failures.
  void expect_error_lines_with(std::string text) { expected_errors_.push_back(std::move(text)); }

 private:
  // From log offset `log_from` on (a restart appends to the same log).
  void wait_until_running(std::size_t log_from = 0);
  // Best effort, for failure paths: `stop --detach` if pins remain, and the
  // lock file.
  void remove_datapath_and_lock() noexcept;

  TempDir dir_;
  std::vector<std::string> expected_errors_;
  std::string instance_;
  ChildProcess process_;
  UniqueFd verdict_stats_;
  bool killed_ = false;
};

}  // namespace xdpgw::test::e2e
