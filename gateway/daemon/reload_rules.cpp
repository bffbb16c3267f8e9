#include "daemon/reload_rules.hpp"

#include <fmt/format.h>

namespace xdpgw::daemon {

namespace {

bool same_except_log_level(config::Control a, const config::Control& b) {
  a.log_level = b.log_level;
  return a == b;
}

}  // namespace

bool same_except_log_level(config::Config a, const config::Config& b) {
  a.control.log_level = b.control.log_level;
  return a == b;
}

// Why `next` cannot replace `running` without a restart, if it cannot.
std::optional<std::string> needs_restart(const config::Config& running,
                                         const config::Config& next, const std::string& path) {
  if (next.gateway.instance != running.gateway.instance)
    return fmt::format("{}: gateway.instance cannot change on reload ({} -> {}); restart", path,
                       running.gateway.instance, next.gateway.instance);
  if (next.gateway.netns != running.gateway.netns)
    return fmt::format("{}: gateway.netns cannot change on reload; restart", path);
  if (next.lb.conn_table_size != running.lb.conn_table_size)
    return fmt::format("{}: lb.conn_table_size cannot change on reload ({} -> {}); restart with "
                       "--fresh (it drops the connection table)",
                       path, running.lb.conn_table_size, next.lb.conn_table_size);
  if (next.lb.embryonic_table_size != running.lb.embryonic_table_size)
    return fmt::format("{}: lb.embryonic_table_size cannot change on reload ({} -> {}); restart "
                       "with --fresh", path, running.lb.embryonic_table_size,
                       next.lb.embryonic_table_size);
  if (!same_except_log_level(next.control, running.control))
    return fmt::format("{}: [control] (socket, metrics) cannot change on reload; restart", path);
  if (next.announce != running.announce)
    return fmt::format("{}: [announce] cannot change on reload; restart (the VIPs are withdrawn "
                       "on stop and announced again when ready)", path);
  return std::nullopt;
}

}  // namespace xdpgw::daemon
