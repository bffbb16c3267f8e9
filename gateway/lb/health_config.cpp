#include "lb/health_config.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace xdpgw::lb {

std::string health_target_id(const std::string& vip, const std::string& backend_id) {
  return vip + "/" + backend_id;
}

std::pair<std::string, std::string> split_health_target_id(const std::string& id) {
  const auto slash = id.find('/');
  if (slash == std::string::npos)
    throw std::invalid_argument(fmt::format("health target id {:?} is not <vip>/<backend>", id));
  return {id.substr(0, slash), id.substr(slash + 1)};
}

HealthPlan health_targets(const config::LoadBalancer& lb, InitialState initial) {
  HealthPlan plan;
  for (const auto& vip : lb.vips) {
    if (!vip.health_check) continue;
    const config::HealthCheck& hc = *vip.health_check;
    for (const auto& be : vip.backends) {
      const uint16_t port = hc.port != 0 ? hc.port : be.port != 0 ? be.port : vip.port;
      if (port == 0) {
        plan.unchecked.push_back(fmt::format(
            "VIP {} backend {}: no port to check (set [vip.health_check] port)", vip.name, be.id()));
        continue;
      }
      plan.targets.push_back(HealthTarget{
          .id = health_target_id(vip.name, be.id()),
          .endpoint = {boost::asio::ip::make_address(be.addr.to_string()), port},
          .check = {.kind = hc.kind == config::HealthCheckKind::kHttp ? ProbeKind::kHttp : ProbeKind::kTcp,
                    .interval = std::chrono::milliseconds(hc.interval_ms),
                    .timeout = std::chrono::milliseconds(hc.timeout_ms),
                    .rise = hc.rise,
                    .fall = hc.fall,
                    .http_path = hc.path,
                    .status_min = hc.status_min,
                    .status_max = hc.status_max},
          .initial = initial});
    }
  }
  return plan;
}

}  // namespace xdpgw::lb
