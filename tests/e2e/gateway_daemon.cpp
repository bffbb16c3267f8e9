#include "e2e/gateway_daemon.hpp"

#include <bpf/bpf.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "datapath/datapath.hpp"
#include "harness/names.hpp"

#ifndef XDPGW_BINARY
#error "XDPGW_BINARY (path of the xdpgw executable) must be defined by the build"
#endif

namespace xdpgw::test::e2e {
namespace {

constexpr std::string_view kPinRoot = "/sys/fs/bpf/xdpgw";
// Generous: loading and verifying the datapath takes a fraction of a second,
// but parallel test processes on two vCPUs slow everything down.
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kNexthopTimeout = std::chrono::seconds(15);
constexpr auto kStopGrace = std::chrono::seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(20);

// A TOML basic string.
std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string to_toml(const GatewayConfig& config, std::string_view instance,
                    const std::filesystem::path& control_socket) {
  std::string toml = fmt::format("[gateway]\ninstance = {}\nattach_mode = \"native\"\n\n",
                                 toml_string(instance));
  for (const std::string& port : config.ports) {
    toml += fmt::format("[[port]]\nname = {}\n", toml_string(port));
    if (std::find(config.established_only_ports.begin(), config.established_only_ports.end(), port) !=
        config.established_only_ports.end())
      toml += "inbound = \"established-only\"\n";
    toml += "\n";
  }
  toml += fmt::format("[routing]\nsource = {}\n\n", toml_string(to_string(config.route_source)));
  for (const StaticRoute& route : config.routes) {
    toml += fmt::format("[[routing.route]]\nprefix = {}\nvia = {}\nport = {}\n\n",
                        toml_string(route.prefix), toml_string(route.via), toml_string(route.port));
  }
  toml += fmt::format("[steering]\ncpus = [{}]\n\n", fmt::join(config.steering_cpus, ", "));
  // Our own socket path, so no file is left in /run/xdpgw; the metrics
  // listener's default address is inside the gateway namespace, private.
  toml += fmt::format("[control]\nsocket = {}\n", toml_string(control_socket.string()));
  toml += config.extra_toml;
  return toml;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

UniqueFd open_pin(const std::filesystem::path& path) {
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw_errno(errno, "bpf_obj_get " + path.string());
  return UniqueFd(fd);
}

// The nexthops table packets use now: cfg_nexthops[active_gen[0]], an inner
// map of the daemon's config generations.
UniqueFd open_active_nexthops(const std::filesystem::path& pin_dir) {
  const UniqueFd active_gen = open_pin(pin_dir / "active_gen");
  const uint32_t zero = 0;
  uint32_t generation = 0;
  check_errno(bpf_map_lookup_elem(active_gen.get(), &zero, &generation), "read active_gen");
  const UniqueFd outer = open_pin(pin_dir / "cfg_nexthops");
  uint32_t inner_id = 0;
  check_errno(bpf_map_lookup_elem(outer.get(), &generation, &inner_id),
              fmt::format("read cfg_nexthops[{}]", generation));
  const int inner = bpf_map_get_fd_by_id(inner_id);
  if (inner < 0) throw_errno(errno, fmt::format("open nexthops map id {}", inner_id));
  return UniqueFd(inner);
}

std::filesystem::path lock_file(std::string_view instance) {
  return std::filesystem::path(kRunDir) / fmt::format("{}.lock", instance);
}

}  // namespace

void remove_leftover_files() {
  // Entries of `dir` named by the harness (plus `infix`) for a process that
  // is gone; EPERM from kill means it exists but is not ours to signal.
  const auto leftovers_in = [](const std::filesystem::path& dir, std::string_view infix) {
    std::error_code ec;
    std::vector<std::filesystem::path> leftovers;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      const std::optional<pid_t> owner = owner_pid(name);
      if (owner && name.find(infix) != std::string::npos && ::kill(*owner, 0) != 0 &&
          errno == ESRCH) {
        leftovers.push_back(entry.path());
      }
    }
    return leftovers;
  };
  std::vector<std::filesystem::path> leftovers = leftovers_in(kRunDir, "");
  std::ranges::copy(leftovers_in(std::filesystem::temp_directory_path(), "-e2e-"),
                    std::back_inserter(leftovers));
  for (const auto& path : leftovers) {
    std::error_code ec;
    if (std::filesystem::remove_all(path, ec) > 0) {
      std::cerr << "e2e: removed leftover " << path << '\n';
    }
  }
}

std::string_view to_string(RouteSource source) {
  switch (source) {
    case RouteSource::kStatic: return "static";
    case RouteSource::kKernel: return "kernel";
    case RouteSource::kFib: break;
  }
  return "fib";
}

void PrintTo(RouteSource source, std::ostream* os) { *os << to_string(source); }

TempDir::TempDir() {
  // Named like every harness object, so a leftover shows whose it was.
  std::string pattern =
      (std::filesystem::temp_directory_path() / (run_prefix() + "-e2e-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno(errno, "mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) std::cerr << "e2e: cannot remove " << path_ << ": " << ec.message() << '\n';
}

uint64_t VerdictSnapshot::total(xdpgw_reason reason) const {
  const auto& cpus = packets.at(reason);
  return std::accumulate(cpus.begin(), cpus.end(), uint64_t{0});
}

std::map<std::string, uint64_t> VerdictSnapshot::nonzero(
    std::initializer_list<abi::Outcome> ignored) const {
  std::map<std::string, uint64_t> out;
  for (unsigned reason = 0; reason < XDPGW_R_COUNT; ++reason) {
    if (std::ranges::find(ignored, abi::reason_outcome(reason)) != ignored.end()) continue;
    if (const uint64_t n = total(static_cast<xdpgw_reason>(reason)); n != 0) {
      out[std::string(abi::reason_name(reason))] = n;
    }
  }
  return out;
}

VerdictSnapshot operator-(const VerdictSnapshot& after, const VerdictSnapshot& before) {
  VerdictSnapshot delta;
  for (std::size_t reason = 0; reason < delta.packets.size(); ++reason) {
    const auto& a = after.packets[reason];
    const auto& b = before.packets[reason];
    if (a.size() != b.size()) throw std::logic_error("snapshots of different CPU counts");
    auto& d = delta.packets[reason];
    d.resize(a.size());
    for (std::size_t cpu = 0; cpu < a.size(); ++cpu) d[cpu] = a[cpu] - b[cpu];
  }
  return delta;
}

GatewayDaemon::GatewayDaemon(const Netns& gateway, const GatewayConfig& config)
    : instance_(unique_name("e2e")),
      process_([&] {
        const std::filesystem::path config_file = dir_.path() / "gateway.toml";
        std::ofstream(config_file) << to_toml(config, instance_, dir_.path() / "control.sock");
        return ChildProcess({XDPGW_BINARY, "run", "-c", config_file.string(), "--netns",
                             gateway.name()},
                            dir_.path() / "daemon.log");
      }()) {
  try {
    wait_until_running();
    verdict_stats_ = open_pin(pin_dir() / "verdict_stats");
  } catch (...) {
    // No destructor runs for a half-built object: stop the daemon and
    // remove what it attached and pinned here, or it would outlive the test.
    process_.terminate(SIGTERM, kStopGrace);
    remove_datapath_and_lock();
    throw;
  }
}

void GatewayDaemon::rewrite_config(const GatewayConfig& config) const {
  std::ofstream(dir_.path() / "gateway.toml", std::ios::trunc)
      << to_toml(config, instance_, dir_.path() / "control.sock");
}

void GatewayDaemon::restart(const Netns& gateway) {
  if (!process_.poll()) throw std::logic_error("restart() of a daemon that still runs");
  // The same config, instance and log file: the new run adopts the pins.
  const std::size_t log_before = log().size();
  process_ = ChildProcess({XDPGW_BINARY, "run", "-c", (dir_.path() / "gateway.toml").string(), "--netns",
                           gateway.name()},
                          dir_.path() / "daemon.log");
  // Its exit is the one the destructor checks.
  killed_ = false;
  wait_until_running(log_before);
}

void GatewayDaemon::wait_until_running(std::size_t log_from) {
  // The daemon logs "instance NAME: running" once every port is attached.
  const std::string ready_line = fmt::format("instance {}: running", instance_);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    if (log().find(ready_line, log_from) != std::string::npos) return;
    if (const auto ended = process_.poll()) {
      throw std::runtime_error(fmt::format("xdpgw run ended before running ({}); its log:\n{}",
                                           ended->describe(), log()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const ExitStatus status = process_.terminate(SIGTERM, kStopGrace);
      throw std::runtime_error(fmt::format(
          "xdpgw run did not log '{}' within {} s ({} after SIGTERM); its log:\n{}", ready_line,
          std::chrono::duration_cast<std::chrono::seconds>(kStartTimeout).count(),
          status.describe(), log()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void GatewayDaemon::remove_datapath_and_lock() noexcept {
  try {
    if (std::filesystem::exists(pin_dir())) {
      if (const CmdResult detached = detach(); !detached.ok()) {
        std::cerr << "e2e: xdpgw stop --detach failed: " << detached.output;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "e2e: xdpgw stop --detach failed: " << e.what() << '\n';
  }
  std::error_code ec;
  std::filesystem::remove(lock_file(instance_), ec);
}

GatewayDaemon::~GatewayDaemon() {
  // A daemon that cannot stop, or a datapath that cannot be removed, is a
  // real failure even when every packet assertion held.
  try {
    const ExitStatus status = stop();
    if (!killed_) {
      EXPECT_TRUE(status.clean()) << "xdpgw run (instance " << instance_
                                  << ") on SIGTERM: " << status.describe() << "; its log:\n"
                                  << log();
    }
    if (std::filesystem::exists(pin_dir())) {
      const CmdResult detached = detach();
      EXPECT_TRUE(detached.ok()) << "xdpgw stop --detach: " << detached.output;
      const auto lock = std::filesystem::path("/run/xdpgw") / (instance_ + ".lock");
      EXPECT_FALSE(std::filesystem::exists(lock)) << lock << " still exists after xdpgw stop --detach";
    }
    EXPECT_FALSE(std::filesystem::exists(pin_dir()))
        << pin_dir() << " still exists after xdpgw stop --detach";
    const std::string daemon_log = log();
    std::istringstream lines(daemon_log);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(" error ") == std::string::npos) continue;
      const bool expected = std::any_of(expected_errors_.begin(), expected_errors_.end(),
                                        [&](const std::string& e) { return line.find(e) != std::string::npos; });
      EXPECT_TRUE(expected) << "xdpgw logged an error; its log:\n" << daemon_log;
      if (!expected) break;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stopping xdpgw (instance " << instance_ << "): " << e.what();
  }
  // Whatever failed above: leave nothing behind. (The daemon does not
  // remove its lock file; it only empties it.)
  remove_datapath_and_lock();
}

std::filesystem::path GatewayDaemon::pin_dir() const {
  return std::filesystem::path(kPinRoot) / instance_;
}

std::string GatewayDaemon::log() const { return read_file(dir_.path() / "daemon.log"); }

VerdictSnapshot GatewayDaemon::verdicts() const {
  VerdictSnapshot snapshot;
  for (uint32_t reason = 0; reason < XDPGW_R_COUNT; ++reason) {
    const std::vector<xdpgw_counter> per_cpu = read_percpu_counter(verdict_stats_.get(), reason);
    auto& packets = snapshot.packets[reason];
    packets.reserve(per_cpu.size());
    for (const xdpgw_counter& c : per_cpu) packets.push_back(c.packets);
  }
  return snapshot;
}

void GatewayDaemon::wait_for_resolved_nexthops(uint32_t count) const {
  const auto deadline = std::chrono::steady_clock::now() + kNexthopTimeout;
  for (;;) {
    // Opened each round: an apply may switch generations meanwhile.
    const UniqueFd nexthops = open_active_nexthops(pin_dir());
    uint32_t resolved = 0;
    for (uint32_t id = 0; id < count; ++id) {
      xdpgw_nexthop nexthop{};
      check_errno(bpf_map_lookup_elem(nexthops.get(), &id, &nexthop),
                  fmt::format("read nexthops[{}]", id));
      if (nexthop.flags & XDPGW_NH_F_RESOLVED) ++resolved;
    }
    if (resolved == count) return;
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error(fmt::format("only {} of {} static nexthops resolved within {} s; "
                                           "xdpgw log:\n{}",
                                           resolved, count,
                                           std::chrono::duration_cast<std::chrono::seconds>(
                                               kNexthopTimeout)
                                               .count(),
                                           log()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

ExitStatus GatewayDaemon::stop() { return process_.terminate(SIGTERM, kStopGrace); }

ExitStatus GatewayDaemon::kill9() {
  killed_ = true;
  return process_.terminate(SIGKILL, kStopGrace);
}

CmdResult GatewayDaemon::detach() const {
  return run_cmd(fmt::format("{} stop --instance {} --detach", shell_quote(XDPGW_BINARY),
                             shell_quote(instance_)));
}

}  // namespace xdpgw::test::e2e
