// Network namespaces for tests: one Netns per simulated host.
#pragma once

#include <string>
#include <string_view>
#include <thread>

#include "common/fd.hpp"
#include "harness/run.hpp"

namespace xdpgw::test {

// Moves the calling thread into a network namespace and moves it back to the
// namespace it came from when destroyed. Use it around calls that act on the
// thread's namespace: if_nametoindex, bpf_xdp_attach, socket(),
// BPF_PROG_TEST_RUN with an ingress_ifindex. Sockets keep the namespace they
// were created in after the guard is gone. Guards nest. Destroy a guard on
// the thread that made it (setns only moves the calling thread).
class NetnsGuard {
 public:
  // netns_path: a namespace file, e.g. /run/netns/NAME.
  explicit NetnsGuard(const std::string& netns_path);
  NetnsGuard(NetnsGuard&& other) noexcept = default;
  // Assigning would have to restore one namespace and adopt another's
  // restore point at once; nothing needs it.
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  ~NetnsGuard();

 private:
  UniqueFd original_;  // the namespace to return to; empty once moved from
  std::thread::id owner_thread_;
};

// `ip netns add` on construction (with lo up), `ip netns del` on destruction.
class Netns {
 public:
  // The namespace is named unique_name(tag).
  explicit Netns(std::string_view tag = "ns");
  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  const std::string& name() const noexcept { return name_; }
  // /run/netns/NAME, the file setns() opens.
  std::string path() const;

  // Runs `sh -c cmd` inside the namespace (via `ip netns exec`, which also
  // gives the command a /sys of this namespace).
  CmdResult exec(std::string_view cmd) const;
  // Like exec, but throws std::runtime_error with the output on failure.
  std::string exec_ok(std::string_view cmd) const;

  // Moves the calling thread into this namespace until the guard is destroyed.
  [[nodiscard]] NetnsGuard enter() const;

  // Writes a sysctl of this namespace: sysctl("net.ipv4.ip_forward", "1").
  // Keys use dots or slashes (slashes when a component holds a dot).
  void sysctl(std::string_view key, std::string_view value) const;

 private:
  void destroy() noexcept;

  std::string name_;  // empty once moved from
};

// Path of a named namespace: /run/netns/NAME.
std::string netns_path(std::string_view name);

}  // namespace xdpgw::test
