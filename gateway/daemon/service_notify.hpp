// Tells systemd (Type=notify) where the daemon is in its life: READY=1 once
// every port is attached, RELOADING=1 ... READY=1 around a reload,
// STOPPING=1 when a stop signal arrives, WATCHDOG=1 while the event loop
// turns (when the unit sets WatchdogSec=). Outside systemd (no
// NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace xdpgw::daemon {

class ServiceNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID once.
  ServiceNotifier();

  void ready(std::string_view status) const;
  void reloading(std::string_view status) const;
  void stopping(std::string_view status) const;
  void watchdog() const;

  // How often watchdog() must be called (half the unit's WatchdogSec), or
  // nullopt when no watchdog is asked for.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_interval_; }

 private:
  // A failed send is logged (the first time) and otherwise ignored:
  // systemd not hearing a state change is not a reason to stop forwarding.
  void send(std::string_view state) const;

  std::optional<std::chrono::microseconds> watchdog_interval_;
  mutable bool warned_ = false;
};

}  // namespace xdpgw::daemon
