// The long-lived service: loads (or adopts) the datapath, applies the
// config, attaches to every port, keeps static nexthops resolved, and exits
// on SIGINT/SIGTERM leaving XDP forwarding with the last config.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "daemon/instance.hpp"
#include "config/config.hpp"

namespace xdpgw::daemon {

struct RunOptions {
  // Remove everything an earlier run of this instance left (links, maps,
  // counters, connection state) instead of adopting it.
  bool fresh = false;
  // --log-level was given: it wins over [control] log_level, at start and
  // on every reload.
  bool log_level_from_command_line = false;
};

// Interface names resolved in the calling thread's network namespace.
class SystemEnvironment final : public config::Environment {
 public:
  std::optional<uint32_t> ifindex(std::string_view name) const override;
};

// parse + validate against the running system; every error on failure.
config::Result<config::Config> load_config(const std::string& path);

struct ReloadResult {
  bool ok = false;
  std::string message;  // what changed, or every reason it was refused
};

// Runs until a stop signal; returns the process exit code. `config_path` is
// re-read on SIGHUP (reload).
int run(const std::string& config_path, const config::Config& cfg, const RunOptions& opts);

struct StopOptions {
  bool detach = false;  // also detach XDP and remove every pin
};
// Stops the instance's daemon (SIGTERM, waits for it to release the lock)
// and, with detach, removes the datapath. Returns the exit code.
int stop(const std::string& instance, const StopOptions& opts);

}  // namespace xdpgw::daemon
