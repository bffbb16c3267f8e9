#include "daemon/instance.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <system_error>

#include "common/error.hpp"

namespace xdpgw::daemon {

std::filesystem::path pin_dir(const std::string& instance) {
  return std::filesystem::path(kPinRoot) / instance;
}

std::filesystem::path lock_path(const std::string& instance) {
  return std::filesystem::path(kRunDir) / (instance + ".lock");
}

InstanceLock::InstanceLock(const std::string& instance) : path_(lock_path(instance)) {
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  if (ec) throw std::system_error(ec, fmt::format("create {}", path_.parent_path().string()));
  fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd_) throw_errno(errno, fmt::format("open lock {}", path_.string()));
  if (flock(fd_.get(), LOCK_EX | LOCK_NB) < 0) {
    auto pid = running_pid(instance);
    throw std::runtime_error(fmt::format(
        "instance {} is already running{} (lock {})", instance,
        pid ? fmt::format(" as pid {}", *pid) : std::string(), path_.string()));
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd_.get(), 0) < 0 || pwrite(fd_.get(), pid.data(), pid.size(), 0) < 0)
    throw_errno(errno, fmt::format("write pid to {}", path_.string()));
}

InstanceLock::~InstanceLock() {
  if (!fd_) return;
  // Empty the pid before releasing, so a reader never sees a stale pid
  // without the lock.
  if (ftruncate(fd_.get(), 0) < 0)
    spdlog::warn("truncate {}: {}", path_.string(), std::error_code(errno, std::generic_category()).message());
}

std::optional<pid_t> running_pid(const std::string& instance) {
  auto path = lock_path(instance);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  // Not running if the lock can be taken.
  if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;
  std::ifstream in(path);
  pid_t pid = 0;
  if (in >> pid && pid > 0) return pid;
  return std::nullopt;
}

}  // namespace xdpgw::daemon
