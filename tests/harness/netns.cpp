#include "harness/netns.hpp"

#include <fcntl.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "common/error.hpp"
#include "harness/names.hpp"

namespace xdpgw::test {

std::string netns_path(std::string_view name) { return fmt::format("/run/netns/{}", name); }

NetnsGuard::NetnsGuard(const std::string& netns_path) : owner_thread_(std::this_thread::get_id()) {
  // thread-self, not self: /proc/self/ns/net is the main thread's namespace,
  // which is not ours when a guard is taken on another thread.
  UniqueFd original(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!original) throw_errno(errno, "open /proc/thread-self/ns/net");
  UniqueFd target(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) throw_errno(errno, "open netns " + netns_path);
  if (::setns(target.get(), CLONE_NEWNET) != 0) throw_errno(errno, "setns into " + netns_path);
  original_ = std::move(original);
}

NetnsGuard::~NetnsGuard() {
  if (!original_) return;
  // A thread left in the wrong namespace would make every later test act on
  // the wrong interfaces and report misleading results, so a failed restore
  // aborts (loudly) instead of being logged and ignored.
  if (std::this_thread::get_id() != owner_thread_) {
    std::cerr << "xdpgw test harness: NetnsGuard destroyed on another thread than the one "
                 "it moved; aborting\n";
    std::abort();
  }
  if (::setns(original_.get(), CLONE_NEWNET) != 0) {
    std::cerr << "xdpgw test harness: cannot restore the original netns: "
              << std::generic_category().message(errno) << "; aborting\n";
    std::abort();
  }
}

Netns::Netns(std::string_view tag) : name_(unique_name(tag)) {
  run_ok("ip netns add " + name_);
  try {
    // Tests bind and ping on 127.0.0.1 / ::1 inside the namespace.
    run_ok(fmt::format("ip -n {} link set lo up", name_));
  } catch (...) {
    destroy();
    throw;
  }
}

Netns::Netns(Netns&& other) noexcept : name_(std::exchange(other.name_, {})) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    destroy();
    name_ = std::exchange(other.name_, {});
  }
  return *this;
}

Netns::~Netns() { destroy(); }

void Netns::destroy() noexcept {
  if (name_.empty()) return;
  try {
    CmdResult deleted = run_cmd("ip netns del " + name_);
    if (!deleted.ok()) {
      std::cerr << "xdpgw test harness: ip netns del " << name_ << " failed: " << deleted.output;
    }
  } catch (const std::exception& e) {
    std::cerr << "xdpgw test harness: ip netns del " << name_ << " failed: " << e.what() << '\n';
  }
  name_.clear();
}

std::string Netns::path() const { return netns_path(name_); }

CmdResult Netns::exec(std::string_view cmd) const {
  // sh -c so pipes and redirections in cmd also run inside the namespace.
  return run_cmd(fmt::format("ip netns exec {} sh -c {}", name_, shell_quote(cmd)));
}

std::string Netns::exec_ok(std::string_view cmd) const {
  CmdResult result = exec(cmd);
  if (!result.ok()) {
    throw std::runtime_error(fmt::format("command failed in netns {} (exit status {}): {}\n{}",
                                         name_, result.exit_status, cmd, result.output));
  }
  return std::move(result.output);
}

NetnsGuard Netns::enter() const { return NetnsGuard(path()); }

void Netns::sysctl(std::string_view key, std::string_view value) const {
  std::string file = "/proc/sys/" + std::string(key);
  if (key.find('/') == std::string_view::npos) std::ranges::replace(file, '.', '/');
  // /proc/sys/net resolves to the namespace of the thread that opens the file,
  // so opening it under the guard writes this namespace's value.
  NetnsGuard inside = enter();
  std::ofstream out(file);
  out << value;
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("netns {}: cannot write {} = {}", name_, file, value));
}

}  // namespace xdpgw::test
