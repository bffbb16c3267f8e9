// [control]: the daemon's control socket, metrics endpoint and log level.
#include <algorithm>

#include <fmt/ranges.h>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {

Control check_control(const std::optional<RawControl>& raw, std::string_view instance,
                      ErrorList& errors) {
  Control control;
  if (!instance.empty()) control.socket = fmt::format("{}/{}.sock", kDefaultSocketDir, instance);
  control.metrics = *Endpoint::parse(kDefaultMetrics);
  if (!raw) return control;

  if (const auto& socket = raw->socket)
    if (auto path = check_socket_path(*socket, "socket", errors)) control.socket = *path;
  if (const auto& metrics = raw->metrics; metrics && metrics->value == "off") {
    control.metrics.reset();
  } else if (metrics) {
    std::string why;
    if (auto endpoint = Endpoint::parse(metrics->value, &why)) {
      control.metrics = *endpoint;
    } else {
      errors.add(metrics->pos, "metrics {:?}: {} (or \"off\")", metrics->value, why);
    }
  }
  if (const auto& level = raw->log_level) {
    if (std::ranges::find(kLogLevels, level->value) != std::end(kLogLevels))
      control.log_level = level->value;
    else
      errors.add(level->pos, "log_level {:?}: not one of {}", level->value,
                 fmt::join(kLogLevels, ", "));
  }
  return control;
}

}  // namespace xdpgw::config::detail
