#include "daemon/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <system_error>

namespace xdpgw::daemon {
namespace {

// STATUS= is one line of free text; a newline would start another field.
std::string status_line(std::string_view status) {
  std::string line(status);
  for (char& c : line)
    if (c == '\n') c = ' ';
  return line;
}

uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000 + uint64_t(ts.tv_nsec) / 1'000;
}

}  // namespace

ServiceNotifier::ServiceNotifier() {
  uint64_t usec = 0;
  // > 0: the watchdog is on for this process (WATCHDOG_PID matches).
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0 && usec > 0)
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
}

void ServiceNotifier::ready(std::string_view status) const {
  send(fmt::format("READY=1\nSTATUS={}", status_line(status)));
}

void ServiceNotifier::reloading(std::string_view status) const {
  // MONOTONIC_USEC: systemd 253's Type=notify-reload requires it beside
  // RELOADING=1; older systemd ignores it.
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS={}", monotonic_usec(),
                   status_line(status)));
}

void ServiceNotifier::stopping(std::string_view status) const {
  send(fmt::format("STOPPING=1\nSTATUS={}", status_line(status)));
}

void ServiceNotifier::watchdog() const { send("WATCHDOG=1"); }

void ServiceNotifier::send(std::string_view state) const {
  const std::string message(state);
  // 0: no NOTIFY_SOCKET (not under systemd); > 0: sent.
  if (int r = sd_notify(/*unset_environment=*/0, message.c_str()); r < 0) {
    if (!warned_)
      spdlog::warn("sd_notify to $NOTIFY_SOCKET failed ({}): systemd does not hear this "
                   "daemon's state changes",
                   std::error_code(-r, std::generic_category()).message());
    warned_ = true;
  }
}

}  // namespace xdpgw::daemon
