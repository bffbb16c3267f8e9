#include "runner/gateway_daemon.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/error.hpp"
#include "datapath/abi.hpp"
#include "harness/prog_run.hpp"
#include "harness/run.hpp"

namespace xdpgw::bench {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(10);
// Where `xdpgw run` pins an instance and keeps its lock (README "Using it").
const std::filesystem::path kPinRoot = "/sys/fs/bpf/xdpgw";
const std::filesystem::path kRunDir = "/run/xdpgw";

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::filesystem::path write_config(const std::filesystem::path& dir, const std::string& instance,
                                   const std::string& toml) {
  const std::filesystem::path path = dir / (instance + ".toml");
  std::ofstream(path) << toml;
  return path;
}

}  // namespace

XdpgwDaemon::XdpgwDaemon(const std::filesystem::path& xdpgw_binary, const std::string& netns,
                         const std::string& instance, const std::string& config_toml,
                         const std::filesystem::path& work_dir)
    : binary_(xdpgw_binary),
      instance_(instance),
      log_(work_dir / (instance + ".log")),
      process_({binary_.string(), "run", "-c", write_config(work_dir, instance, config_toml).string(),
                "--netns", netns, "--fresh"},
               log_) {
  try {
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    const std::string running = fmt::format("instance {}: running", instance_);
    while (read_text(log_).find(running) == std::string::npos) {
      if (auto status = process_.poll()) {
        throw std::runtime_error(fmt::format("xdpgw run ({}) ended ({}):\n{}", instance_,
                                             status->describe(), read_text(log_)));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error(
            fmt::format("xdpgw run ({}) not running after 30 s:\n{}", instance_, read_text(log_)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::filesystem::path pin = kPinRoot / instance_ / "verdict_stats";
    const int fd = bpf_obj_get(pin.c_str());
    if (fd < 0) throw_errno(errno, "bpf_obj_get " + pin.string());
    verdict_stats_ = UniqueFd(fd);
  } catch (...) {
    stop_and_detach();  // no destructor runs for a half-built object
    throw;
  }
}

XdpgwDaemon::~XdpgwDaemon() { stop_and_detach(); }

void XdpgwDaemon::stop_and_detach() noexcept {
  try {
    const test::ExitStatus status = process_.terminate(SIGTERM, kStopGrace);
    // SIGINT from a Ctrl-C reaches the daemon too (same process group); a
    // daemon that ended by itself before is fine either way.
    if (!status.clean() && status.signal == 0 && status.exit_code != 0) {
      std::cerr << fmt::format("xdpgw-bench: daemon {} ended with {}; log {}\n", instance_,
                               status.describe(), log_.string());
    }
    const test::CmdResult detach = test::run_cmd(fmt::format(
        "{} stop -i {} --detach 2>&1", test::shell_quote(binary_.string()), test::shell_quote(instance_)));
    if (!detach.ok()) {
      std::cerr << fmt::format("xdpgw-bench: xdpgw stop -i {} --detach failed: {}", instance_,
                               detach.output);
    }
    std::error_code ec;
    std::filesystem::remove(kRunDir / (instance_ + ".lock"), ec);
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-bench: stopping daemon " << instance_ << ": " << e.what() << '\n';
  }
}

std::map<std::string, uint64_t> XdpgwDaemon::verdicts() const {
  std::map<std::string, uint64_t> out;
  for (unsigned reason = 0; reason < XDPGW_R_COUNT; ++reason) {
    const xdpgw_counter total = test::sum_percpu<xdpgw_counter>(
        verdict_stats_.get(), reason, [](xdpgw_counter sum, const xdpgw_counter& cpu) {
          sum.packets += cpu.packets;
          sum.bytes += cpu.bytes;
          return sum;
        });
    if (total.packets != 0) out[std::string(abi::reason_name(reason))] = total.packets;
  }
  return out;
}

std::string XdpgwDaemon::stats_text() const {
  return test::run_cmd(fmt::format("{} stats -i {} 2>&1", test::shell_quote(binary_.string()),
                                   test::shell_quote(instance_)))
      .output;
}

}  // namespace xdpgw::bench
