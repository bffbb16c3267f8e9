// Small pieces of the host the benchmark tools need: interfaces in a named
// namespace, CPU pinning, signals that interrupt a run.
#pragma once

#include <sched.h>

#include <string>

#include "harness/addr.hpp"

namespace xdpgw::bench {

// /run/netns/NAME for a namespace name; a path (containing '/') unchanged.
std::string netns_path_of(const std::string& name_or_path);

struct InterfaceInfo {
  int ifindex = 0;
  test::MacAddr mac{};
};
// ifindex and MAC of `ifname` inside the namespace at `netns_path`.
// Throws std::system_error.
InterfaceInfo query_interface(const std::string& netns_path, const std::string& ifname);

// Pins the calling thread to one CPU. Throws std::system_error.
void pin_current_thread(unsigned cpu);

// Pins the calling thread to one CPU until destroyed, then restores its
// previous CPU set (processes started meanwhile inherit the pin, so start
// daemons outside one).
class ScopedCpuPin {
 public:
  explicit ScopedCpuPin(unsigned cpu);
  ScopedCpuPin(const ScopedCpuPin&) = delete;
  ScopedCpuPin& operator=(const ScopedCpuPin&) = delete;
  ~ScopedCpuPin();

 private:
  cpu_set_t previous_;
};

// Runs the calling thread as SCHED_FIFO (priority 1, the lowest real-time
// one) until destroyed, then restores its policy. Ordinary processes then
// cannot preempt the generator mid-run (they move to another CPU), so a busy
// machine disturbs the figures much less; the kernel's real-time throttling
// (sched_rt_runtime_us, 95% by default) still leaves them 5% of the CPU.
class ScopedRealtime {
 public:
  ScopedRealtime();
  ScopedRealtime(const ScopedRealtime&) = delete;
  ScopedRealtime& operator=(const ScopedRealtime&) = delete;
  ~ScopedRealtime();

 private:
  int previous_policy_ = 0;
  sched_param previous_param_{};
};

// Installs handlers for SIGINT and SIGTERM that only record the signal,
// without SA_RESTART, so a running generator returns EINTR and the program
// can unwind through its destructors (detach XDP, stop daemons, delete what
// it created) instead of dying with things attached.
void install_stop_signal_handlers();
// True once SIGINT or SIGTERM arrived after install_stop_signal_handlers().
bool stop_requested() noexcept;

}  // namespace xdpgw::bench
