// The long-lived service: loads the datapath, applies the config, attaches
// to every port, keeps static nexthops resolved, and stops cleanly on
// SIGINT/SIGTERM.
#pragma once

#include <filesystem>
#include <string>

#include "config/config.hpp"

namespace xdpgw::daemon {

inline constexpr const char* kPinRoot = "/sys/fs/bpf/xdpgw";

std::filesystem::path pin_dir(const std::string& instance);

struct RunOptions {
  // Remove pins a crashed earlier run of this instance left behind.
  bool fresh = false;
};

// Runs until a stop signal; returns the process exit code.
int run(const config::Config& cfg, const RunOptions& opts);

}  // namespace xdpgw::daemon
