// The real `xdpgw` binary as a user drives it: `xdpgw run -c FILE --netns NS`
// as a child process, and the CLI for everything else. Removes its datapath
// (`stop --detach`), lock and files when destroyed, also after a failure.
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/child_process.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {

// An environment variable for the daemons a test starts (inherited by
// every child process until it goes out of scope).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

class Daemon {
 public:
  Daemon(const Netns& gw, std::filesystem::path config)
      : gw_(gw),
        instance_(unique_name("lc")),
        dir_(std::filesystem::temp_directory_path() / unique_name("lcdir")),
        config_(std::move(config)) {
    std::filesystem::create_directories(dir_);
  }
  ~Daemon() {
    if (process_) process_->terminate();
    auto r = run_cmd(fmt::format("{} stop --instance {} --detach", XDPGW_BINARY, instance_));
    if (!r.ok()) ADD_FAILURE() << "stop --detach failed: " << r.output;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove(fmt::format("/run/xdpgw/{}.lock", instance_), ec);
  }

  const std::string& instance() const { return instance_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::filesystem::path socket() const { return dir_ / "ctl.sock"; }
  std::filesystem::path log_path() const { return dir_ / fmt::format("daemon{}.log", starts_); }

  void write_config(const std::string& text) const {
    std::ofstream(config_) << text;
  }

  // Starts `xdpgw run` and waits (bounded) until it reports running.
  void start() {
    ++starts_;
    process_.emplace(std::vector<std::string>{XDPGW_BINARY, "run", "-c", config_.string(),
                                              "--netns", gw_.name()},
                     log_path());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (log().find(": running") == std::string::npos) {
      if (auto ended = process_->poll())
        FAIL() << "daemon exited (" << ended->describe() << "):\n" << log();
      if (std::chrono::steady_clock::now() > deadline) FAIL() << "daemon not running:\n" << log();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // SIGTERM, as `xdpgw stop` sends; expects a clean exit. XDP stays.
  void stop() {
    if (!process_) return;
    ExitStatus st = process_->terminate(SIGTERM, std::chrono::seconds(30));
    process_.reset();
    EXPECT_TRUE(st.clean()) << st.describe() << "\n" << log();
  }

  // `xdpgw stop --instance INSTANCE --detach`: the datapath goes too.
  void stop_and_detach() {
    stop();
    auto r = run_cmd(fmt::format("{} stop --instance {} --detach", XDPGW_BINARY, instance_));
    EXPECT_TRUE(r.ok()) << r.output;
  }

  void kill9() {
    process_->terminate(SIGKILL, std::chrono::seconds(5));
    process_.reset();
  }

  std::string log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  CmdResult cli(const std::string& args) const {
    return run_cmd(fmt::format("{} {} --socket {}", XDPGW_BINARY, args, socket().string()));
  }

  uint32_t generation() const {
    auto r = cli("status --json");
    EXPECT_TRUE(r.ok()) << r.output;
    auto pos = r.output.find("\"generation\":");
    return pos == std::string::npos ? 99u : uint32_t(std::stoul(r.output.substr(pos + 13)));
  }

  uint64_t fwd_redirect() const { return reason_packets("fwd_redirect"); }

  // Packets per drop_* reason (`xdpgw stats`), only the reasons that counted.
  std::map<std::string, uint64_t> drops() const {
    auto r = run_cmd(fmt::format("{} stats --instance {} --json", XDPGW_BINARY, instance_));
    std::map<std::string, uint64_t> out;
    for (const auto& [reason, c] : nlohmann::json::parse(r.output)["reasons"].items())
      if (reason.starts_with("drop_") && c["packets"].get<uint64_t>() > 0)
        out[reason] = c["packets"].get<uint64_t>();
    return out;
  }

  // Packets counted under a verdict reason (`xdpgw stats`), 0 when none.
  uint64_t reason_packets(const std::string& reason) const {
    auto r = run_cmd(fmt::format("{} stats --instance {} --json", XDPGW_BINARY, instance_));
    auto pos = r.output.find("\"" + reason + "\"");
    if (pos == std::string::npos) return 0;
    pos = r.output.find("\"packets\":", pos);
    return std::stoull(r.output.substr(pos + 10));
  }

 private:
  const Netns& gw_;
  std::string instance_;
  std::filesystem::path dir_;
  std::filesystem::path config_;
  int starts_ = 0;
  std::optional<ChildProcess> process_;
};

}  // namespace xdpgw::test::e2e
