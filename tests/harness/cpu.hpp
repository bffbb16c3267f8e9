// Pinning a test thread to one CPU: per-CPU maps (counters, the event cap,
// LRU_PERCPU windows) then see that one CPU's view, and a hammering thread
// stays where it was put.
#pragma once

#include <sched.h>

#include <optional>

namespace xdpgw::test {

// Pins the calling thread to `cpu` (default: the one it runs on now) for the
// object's life and restores the thread's earlier CPU set after. Throws
// std::system_error when the kernel refuses. Destroy it on the thread that
// made it.
class CpuPin {
 public:
  explicit CpuPin(std::optional<unsigned> cpu = std::nullopt);
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;
  ~CpuPin();

  unsigned cpu() const noexcept { return cpu_; }

 private:
  cpu_set_t previous_;
  unsigned cpu_ = 0;
};

}  // namespace xdpgw::test
