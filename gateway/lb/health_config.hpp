// From the validated config to the health checker's targets: one target per
// backend of every VIP that has a [vip.health_check], with the id
// "<vip name>/<backend id>" (VIP names never hold '/'), so the daemon can
// route a callback to LbRuntime::set_healthy(vip, backend, ...).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "lb/health.hpp"

namespace xdpgw::lb {

struct HealthPlan {
  std::vector<HealthTarget> targets;
  // Backends of checked VIPs that cannot be checked, with the reason; they
  // stay as LbRuntime has them (healthy unless told otherwise).
  std::vector<std::string> unchecked;
};

// `initial` applies to targets the checker creates (see health.hpp; kUp is
// what a daemon start wants). The port checked is the health check's port,
// else the backend's, else the VIP's; a VIP on every port with a backend on
// the client's port and no check port has nothing to connect to.
HealthPlan health_targets(const config::LoadBalancer& lb, InitialState initial = InitialState::kUp);

std::string health_target_id(const std::string& vip, const std::string& backend_id);
// (vip name, backend id) of a target id made by health_target_id.
std::pair<std::string, std::string> split_health_target_id(const std::string& id);

}  // namespace xdpgw::lb
