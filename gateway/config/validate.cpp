// Stage 2: RawConfig -> Config. One check function per section; each reports
// every problem it sees and carries on, so one run shows the user everything
// to fix. A value that fails a check is left at its default: the Config is
// thrown away whenever there is an error, so the default only has to keep
// later checks from reporting the same mistake twice.
//
// The checks themselves live one section per file (validate_detail.hpp
// lists them); this file only runs them in order.
#include "config/validate_detail.hpp"

namespace xdpgw::config {

Result<Config> validate(const RawConfig& raw, const Environment& env) {
  using namespace detail;
  ErrorList errors(raw.source_name);
  Config config;
  config.gateway = check_gateway(raw.gateway, errors);
  config.ports = check_ports(raw.ports, env, errors);
  config.routing = check_routing(raw.routing, raw.ports, config.ports, errors);
  config.steering = check_steering(raw.steering, errors);
  config.control = check_control(raw.control, config.gateway.instance, errors);
  config.policy = check_policy(raw, config.ports, errors);
  config.lb = check_lb(raw.lb, raw.vips, errors);
  // The CPU stage (a CPUMAP program) cannot tail-call the synproxy stage.
  if (config.steering.enabled())
    for (std::size_t i = 0; i < config.lb.vips.size() && i < raw.vips.size(); ++i)
      if (config.lb.vips[i].synproxy.mode != SynproxyMode::kOff && raw.vips[i].synproxy)
        errors.add(raw.vips[i].synproxy->pos,
                   "VIP {:?}: synproxy does not work with [steering] cpus yet (a CPUMAP program "
                   "cannot reach the synproxy stage); leave cpus empty or set mode = \"off\"",
                   config.lb.vips[i].name);
  config.punt = check_punt(raw.punt, config.ports, config.gateway.instance, errors);
  config.announce = check_announce(raw.announce, config.gateway.instance, errors);
  config.flow_export = check_flow_export(raw.flow_export, errors);
  config.nat = check_nat(raw, config.ports, config.policy, errors);
  if (!errors.empty()) return std::move(errors).take_in_source_order();
  return config;
}

}  // namespace xdpgw::config
