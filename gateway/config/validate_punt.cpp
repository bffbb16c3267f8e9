// [punt]: which packets leave the datapath for the AF_XDP pipeline, and
// where the pipeline sends them.
#include <algorithm>
#include <tuple>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {

Punt check_punt(const std::optional<RawPunt>& raw, const std::vector<Port>& ports, std::string_view instance,
                ErrorList& errors) {
  Punt punt;
  punt.tap = std::string("xgwp-").append(instance.substr(0, kMaxPortNameLength - 5));
  if (!raw) return punt;
  if (raw->ports.empty()) {
    for (const Port& p : ports) punt.ports.push_back(p.name);
  }
  for (const Located<std::string>& name : raw->ports) {
    const bool known = std::any_of(ports.begin(), ports.end(), [&](const Port& p) { return p.name == name.value; });
    if (!known) {
      errors.add(name.pos, "punt port {:?} is not a [[port]]", name.value);
    } else if (std::find(punt.ports.begin(), punt.ports.end(), name.value) != punt.ports.end()) {
      errors.add(name.pos, "duplicate punt port {:?}", name.value);
    } else {
      punt.ports.push_back(name.value);
    }
  }
  if (const auto& tap = raw->tap) {
    if (auto problem = interface_name_problem(tap->value)) {
      errors.add(tap->pos, "tap {:?} {}", tap->value, *problem);
    } else {
      punt.tap = tap->value;
    }
  }
  if (const auto& frames = raw->frames) {
    if (auto n = check_range(*frames, "frames", 64, kMaxPuntFrames, errors))
      punt.frames = static_cast<uint32_t>(*n);
  }
  if (const auto& batch = raw->batch) {
    if (auto n = check_range(*batch, "batch", 1, kMaxPuntBatch, errors))
      punt.batch = static_cast<uint32_t>(*n);
  }
  punt.wait = check_choice(raw->wait, "wait", kPuntWaits, errors).value_or(PuntWait::kIoUring);
  punt.bind = check_choice(raw->bind, "bind", kPuntBinds, errors).value_or(PuntBind::kAuto);
  if (raw->rules.size() > kMaxPuntRules)
    errors.add(raw->rules[kMaxPuntRules].pos, "more than {} [[punt.rule]] tables", kMaxPuntRules);

  for (const RawPuntRule& r : raw->rules) {
    PuntRule rule;
    rule.protocol = check_choice(r.protocol, "protocol", kPuntProtocols, errors).value_or(PuntProtocol::kAny);
    if (r.src) rule.src = check_prefix(*r.src, "src", errors);
    if (r.dst) rule.dst = check_prefix(*r.dst, "dst", errors);
    if (rule.src && rule.dst && rule.src->addr.family != rule.dst->addr.family)
      errors.add(r.dst->pos, "dst {:?} is {} but src is {}", r.dst->value, to_string(rule.dst->addr.family),
                 to_string(rule.src->addr.family));
    for (auto [raw_range, range, key] : {std::tuple{&r.sport, &rule.sport, "sport"},
                                         std::tuple{&r.dport, &rule.dport, "dport"}}) {
      if (!*raw_range) continue;
      if (auto parsed = check_port_range(**raw_range, key, errors)) *range = *parsed;
    }
    const auto* action = require(r.action, "action", "[[punt.rule]]", r.pos, errors);
    if (action) rule.action = check_choice(r.action, "action", kPuntActions, errors).value_or(PuntAction::kPass);
    if (action && rule.action == PuntAction::kForward) {
      if (const auto* out = require(r.out_port, "out_port", "[[punt.rule]] with action \"forward\"", r.pos, errors)) {
        if (std::find(punt.ports.begin(), punt.ports.end(), out->value) == punt.ports.end()) {
          errors.add(out->pos, "out_port {:?} is not a punt port", out->value);
        } else {
          rule.out_port = out->value;
        }
      }
    } else if (r.out_port) {
      errors.add(r.out_port->pos, "out_port is only for action \"forward\"");
    }
    rule.mode = check_choice(r.mode, "mode", kPuntModes, errors).value_or(PuntMode::kFirstPacket);
    rule.fallback_drop = check_choice(r.fallback, "fallback", kPuntFallbacks, errors).value_or(false);
    punt.rules.push_back(rule);
  }
  return punt;
}

}  // namespace xdpgw::config::detail
