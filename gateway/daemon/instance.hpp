// Where an instance lives on the machine: its pins under /sys/fs/bpf/xdpgw
// and its lock (holding the daemon's pid) under /run/xdpgw. One daemon per
// instance; `stop` and the CLI find it through the lock.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "common/fd.hpp"

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

}  // namespace xdpgw::daemon
