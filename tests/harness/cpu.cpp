#include "harness/cpu.hpp"

#include <pthread.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace xdpgw::test {

CpuPin::CpuPin(std::optional<unsigned> cpu) {
  if (int err = pthread_getaffinity_np(pthread_self(), sizeof(previous_), &previous_))
    throw std::system_error(err, std::generic_category(), "read the thread's CPU set");
  const int now = sched_getcpu();
  if (!cpu && now < 0) throw std::system_error(errno, std::generic_category(), "sched_getcpu");
  cpu_ = cpu.value_or(static_cast<unsigned>(now));
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu_, &one);
  if (int err = pthread_setaffinity_np(pthread_self(), sizeof(one), &one))
    throw std::system_error(err, std::generic_category(), "pin the thread to CPU " + std::to_string(cpu_));
}

CpuPin::~CpuPin() { pthread_setaffinity_np(pthread_self(), sizeof(previous_), &previous_); }

}  // namespace xdpgw::test
