// What a reload may change without a restart: the rest is bound at start
// (the instance, its namespace, sockets, pinned table sizes) or handed to
// another process (BIRD). Gateway::reload checks these before it applies.
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace xdpgw::daemon {

// Why `next` cannot replace `running` without a restart, if it cannot.
std::optional<std::string> needs_restart(const config::Config& running,
                                         const config::Config& next, const std::string& path);

// Equal but for [control] log_level, the daemon's own knob: a change of
// only that applies no new generation.
bool same_except_log_level(config::Config a, const config::Config& b);

}  // namespace xdpgw::daemon
