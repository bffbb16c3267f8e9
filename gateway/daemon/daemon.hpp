// The long-lived service: loads (or adopts) the datapath, applies the
// config, attaches to every port, keeps static nexthops resolved, and exits
// on SIGINT/SIGTERM leaving XDP forwarding with the last config.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "common/fd.hpp"
#include "config/config.hpp"

namespace xdpgw::daemon {

inline constexpr const char* kPinRoot = "/sys/fs/bpf/xdpgw";
inline constexpr const char* kRunDir = "/run/xdpgw";

std::filesystem::path pin_dir(const std::string& instance);
std::filesystem::path lock_path(const std::string& instance);

// Exclusive per-instance lock (flock on /run/xdpgw/<instance>.lock, holding
// the daemon's pid): one daemon per instance, and `stop` finds it there.
class InstanceLock {
 public:
  // Throws std::runtime_error naming the running pid when already held.
  explicit InstanceLock(const std::string& instance);
  InstanceLock(InstanceLock&&) noexcept = default;
  InstanceLock& operator=(InstanceLock&&) noexcept = default;
  ~InstanceLock();

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
};

// pid of the daemon holding the instance lock, if one runs.
std::optional<pid_t> running_pid(const std::string& instance);

struct RunOptions {
  // Remove everything an earlier run of this instance left (links, maps,
  // counters, connection state) instead of adopting it.
  bool fresh = false;
};

// Runs until a stop signal; returns the process exit code.
int run(const config::Config& cfg, const RunOptions& opts);

struct StopOptions {
  bool detach = false;  // also detach XDP and remove every pin
};
// Stops the instance's daemon (SIGTERM, waits for it to release the lock)
// and, with detach, removes the datapath. Returns the exit code.
int stop(const std::string& instance, const StopOptions& opts);

}  // namespace xdpgw::daemon
