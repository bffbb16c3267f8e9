#include "harness/bird.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness/names.hpp"

namespace xdpgw::test {
namespace {

// Debian's bird2 package; CMake passes the path it found.
#ifndef XDPGW_BIRD
#define XDPGW_BIRD "/usr/sbin/bird"
#endif
#ifndef XDPGW_BIRDC
#define XDPGW_BIRDC "/usr/sbin/birdc"
#endif

}  // namespace

BirdDaemon::BirdDaemon(const Netns& ns, std::string_view config,
                       std::optional<std::filesystem::path> socket)
    : dir_(std::filesystem::temp_directory_path() / unique_name("bird")),
      socket_(socket ? std::move(*socket) : dir_ / "bird.ctl") {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "bird.conf") << config;
  {
    auto in = ns.enter();
    process_.emplace(std::vector<std::string>{XDPGW_BIRD, "-f", "-c", (dir_ / "bird.conf").string(),
                                              "-s", socket_.string(), "-P",
                                              (dir_ / "bird.pid").string()},
                     dir_ / "bird.log");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    if (auto ended = process_->poll())
      throw std::runtime_error(fmt::format("bird exited ({}):\n{}", ended->describe(), log()));
    if (run_cmd(fmt::format("{} -s {} show status", XDPGW_BIRDC, shell_quote(socket_.string()))).ok())
      return;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("bird does not answer on " + socket_.string() + ":\n" + log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

BirdDaemon::~BirdDaemon() {
  if (process_) process_->terminate();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string BirdDaemon::birdc(std::string_view command) const {
  return run_ok(fmt::format("{} -s {} {}", XDPGW_BIRDC, shell_quote(socket_.string()), command));
}

void BirdDaemon::wait_established(std::string_view protocol, std::chrono::seconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = birdc(fmt::format("show protocols {}", protocol));
    if (last.find("Established") != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error(fmt::format("BGP session {} not established within {} s:\n{}\n{}",
                                       protocol, timeout.count(), last, log()));
}

std::string BirdDaemon::log() const {
  std::ifstream in(dir_ / "bird.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace xdpgw::test
