#include "gen/system.hpp"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "harness/netns.hpp"

namespace xdpgw::bench {
namespace {

// Written by the signal handler, so it cannot be owned by an object.
volatile std::sig_atomic_t g_stop_signal = 0;

void record_stop_signal(int signal) { g_stop_signal = signal; }

}  // namespace

std::string netns_path_of(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos) return name_or_path;
  return test::netns_path(name_or_path);
}

InterfaceInfo query_interface(const std::string& netns_path, const std::string& ifname) {
  test::NetnsGuard inside(netns_path);
  InterfaceInfo info;
  info.ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (info.ifindex == 0) throw_errno(errno, fmt::format("if_nametoindex {} in {}", ifname, netns_path));
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno(errno, "socket for SIOCGIFHWADDR");
  ifreq request{};
  std::strncpy(request.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFHWADDR, &request) < 0) {
    throw_errno(errno, fmt::format("SIOCGIFHWADDR {} in {}", ifname, netns_path));
  }
  std::copy_n(reinterpret_cast<const uint8_t*>(request.ifr_hwaddr.sa_data), info.mac.size(),
              info.mac.begin());
  return info;
}

void pin_current_thread(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) < 0) {
    throw_errno(errno, fmt::format("sched_setaffinity to CPU {}", cpu));
  }
}

ScopedCpuPin::ScopedCpuPin(unsigned cpu) {
  if (::sched_getaffinity(0, sizeof(previous_), &previous_) < 0) {
    throw_errno(errno, "sched_getaffinity");
  }
  pin_current_thread(cpu);
}

ScopedCpuPin::~ScopedCpuPin() {
  // Cannot fail for a set this thread had before.
  ::sched_setaffinity(0, sizeof(previous_), &previous_);
}

ScopedRealtime::ScopedRealtime() {
  previous_policy_ = ::sched_getscheduler(0);
  if (previous_policy_ < 0 || ::sched_getparam(0, &previous_param_) < 0) {
    throw_errno(errno, "sched_getscheduler");
  }
  const sched_param fifo{.sched_priority = 1};
  if (::sched_setscheduler(0, SCHED_FIFO, &fifo) < 0) throw_errno(errno, "sched_setscheduler SCHED_FIFO");
}

ScopedRealtime::~ScopedRealtime() {
  ::sched_setscheduler(0, previous_policy_, &previous_param_);
}

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: the generator's syscall must return EINTR
  for (int signal : {SIGINT, SIGTERM}) {
    if (::sigaction(signal, &action, nullptr) < 0) throw_errno(errno, "sigaction");
  }
}

bool stop_requested() noexcept { return g_stop_signal != 0; }

}  // namespace xdpgw::bench
