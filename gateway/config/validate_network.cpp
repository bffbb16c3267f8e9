// [gateway], [[port]], [routing] and [steering]: what the gateway is called,
// which interfaces it attaches to, and where it sends what it forwards.
#include <algorithm>
#include <map>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {
namespace {

bool is_valid_instance(std::string_view name) {
  return !name.empty() && name.size() <= kMaxInstanceLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// A file name under /run/netns, as `ip netns add` accepts.
bool is_valid_netns_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && !contains_nul(name);
}

std::optional<Route> check_route(const RawRoute& raw,
                                 const std::set<std::string, std::less<>>& declared_ports,
                                 const std::vector<Port>& ports,
                                 std::map<IpPrefix, SourcePos>& first_seen, ErrorList& errors) {
  constexpr std::string_view kTable = "[[routing.route]]";
  const auto* prefix_text = require(raw.prefix, "prefix", kTable, raw.pos, errors);
  const auto* via_text = require(raw.via, "via", kTable, raw.pos, errors);
  const auto* port_name = require(raw.port, "port", kTable, raw.pos, errors);
  bool ok = prefix_text != nullptr && via_text != nullptr && port_name != nullptr;

  std::optional<IpPrefix> prefix;
  if (prefix_text != nullptr) {
    // A route to 198.18.2.1/24 almost certainly meant the /24 network, but
    // installing something other than what was written is worse than
    // asking: check_prefix refuses host bits.
    prefix = check_prefix(*prefix_text, "prefix", errors);
    if (!prefix) {
      ok = false;
    } else if (auto [first, inserted] = first_seen.emplace(*prefix, prefix_text->pos);
               !inserted) {
      errors.add(prefix_text->pos, "duplicate route prefix {:?} (first at {})",
                 prefix->to_string(), line_col(first->second));
      ok = false;
    }
  }

  std::optional<IpAddr> via;
  if (via_text != nullptr) {
    std::string why;
    via = IpAddr::parse(via_text->value, &why);
    if (!via) {
      errors.add(via_text->pos, "via {}", why);
      ok = false;
    } else if (prefix_text != nullptr) {
      // A prefix refused for its host bits still has a family, and a via of
      // the other family is a second mistake to report in the same run.
      const auto written = IpPrefix::parse(prefix_text->value);
      if (written && via->family != written->addr.family) {
        errors.add(via_text->pos, "via {:?} is {} but prefix {:?} is {}", via_text->value,
                   to_string(via->family), prefix_text->value, to_string(written->addr.family));
        ok = false;
      }
    }
  }

  if (port_name != nullptr && !declared_ports.contains(port_name->value)) {
    errors.add(port_name->pos, "port {:?} is not declared in a [[port]]", port_name->value);
    ok = false;
  }

  if (!ok) return std::nullopt;
  const auto port = std::find_if(ports.begin(), ports.end(),
                                 [&](const Port& p) { return p.name == port_name->value; });
  // A declared port missing from `ports` failed its own check, and that
  // error already keeps this Config from being used.
  const uint32_t ifindex = port == ports.end() ? 0 : port->ifindex;
  return Route{.prefix = *prefix, .via = *via, .port = port_name->value, .ifindex = ifindex};
}

}  // namespace

GatewaySettings check_gateway(const std::optional<RawGateway>& raw, ErrorList& errors) {
  GatewaySettings gateway;
  if (!raw) {
    errors.add(SourcePos{}, "missing required table [gateway]");
    return gateway;
  }
  if (const auto* instance = require(raw->instance, "instance", "[gateway]", raw->pos, errors)) {
    if (is_valid_instance(instance->value)) {
      gateway.instance = instance->value;
    } else {
      errors.add(instance->pos, "instance {:?} must match [a-z0-9_-]{{1,{}}}", instance->value,
                 kMaxInstanceLength);
    }
  }
  gateway.attach_mode = check_choice(raw->attach_mode, "attach_mode", kAttachModes, errors)
                            .value_or(gateway.attach_mode);
  gateway.missed_tail_call =
      check_choice(raw->missed_tail_call, "missed_tail_call", kMissedTailCallActions, errors)
          .value_or(gateway.missed_tail_call);
  if (raw->netns) {
    if (is_valid_netns_name(raw->netns->value)) {
      gateway.netns = raw->netns->value;
    } else {
      errors.add(raw->netns->pos, "netns {:?} must be the name of a file in /run/netns",
                 raw->netns->value);
    }
  }
  if (const auto& interval = raw->resync_interval_ms)
    if (auto ms = check_range(*interval, "resync_interval_ms", kMinResyncIntervalMs,
                              kMaxResyncIntervalMs, errors))
      gateway.resync_interval_ms = static_cast<uint32_t>(*ms);
  return gateway;
}

std::vector<Port> check_ports(const std::vector<RawPort>& raw_ports, const Environment& env,
                              ErrorList& errors) {
  std::vector<Port> ports;
  if (raw_ports.empty()) {
    errors.add(SourcePos{}, "at least one [[port]] is required");
    return ports;
  }
  std::map<std::string, SourcePos, std::less<>> first_seen;
  for (const RawPort& raw : raw_ports) {
    const auto* name = require(raw.name, "name", "[[port]]", raw.pos, errors);
    if (name == nullptr) continue;
    if (auto problem = interface_name_problem(name->value)) {
      errors.add(name->pos, "port name {:?} {}", name->value, *problem);
      continue;
    }
    if (auto [first, inserted] = first_seen.emplace(name->value, name->pos); !inserted) {
      errors.add(name->pos, "duplicate port {:?} (first at {})", name->value,
                 line_col(first->second));
      continue;
    }
    const std::optional<uint32_t> ifindex = env.ifindex(name->value);
    if (!ifindex) {
      errors.add(name->pos, "port {:?} does not exist (no network interface by that name)",
                 name->value);
      continue;
    }
    const std::optional<bool> established_only = check_choice(raw.inbound, "inbound", kPortInbound, errors);
    ports.push_back({.name = name->value,
                     .ifindex = *ifindex,
                     .inbound_established_only = established_only.value_or(false)});
  }
  return ports;
}

Routing check_routing(const std::optional<RawRouting>& raw, const std::vector<RawPort>& raw_ports,
                      const std::vector<Port>& ports, ErrorList& errors) {
  Routing routing;
  if (!raw) return routing;
  const std::optional<RouteSource> source =
      check_choice(raw->source, "source", kRouteSources, errors);
  routing.source = source.value_or(routing.source);
  // With an unrecognised source we cannot tell whether routes belong here;
  // check them as if it said "static" rather than pile on a second error.
  const bool source_unrecognised = raw->source && !source;
  const bool routes_allowed = source_unrecognised || routing.source == RouteSource::kStatic;

  const auto declared_ports = declared_port_names(raw_ports);
  std::map<IpPrefix, SourcePos> first_seen;
  for (const RawRoute& raw_route : raw->routes) {
    if (!routes_allowed) {
      errors.add(raw_route.pos,
                 "[[routing.route]] is only allowed with routing.source = \"static\", not {:?}",
                 to_string(routing.source));
      continue;
    }
    if (auto route = check_route(raw_route, declared_ports, ports, first_seen, errors)) {
      routing.routes.push_back(std::move(*route));
    }
  }
  if (const auto& interval = raw->resync_interval_ms) {
    if (!source_unrecognised && routing.source != RouteSource::kKernel)
      errors.add(interval->pos,
                 "resync_interval_ms is only allowed with routing.source = \"kernel\", not {:?}",
                 to_string(routing.source));
    else if (auto ms = check_range(*interval, "resync_interval_ms", kMinResyncIntervalMs,
                                   kMaxResyncIntervalMs, errors))
      routing.resync_interval_ms = static_cast<uint32_t>(*ms);
  }
  return routing;
}

Steering check_steering(const std::optional<RawSteering>& raw, ErrorList& errors) {
  Steering steering;
  if (!raw) return steering;
  std::map<int64_t, SourcePos> first_seen;
  for (const Located<int64_t>& cpu : raw->cpus) {
    if (!check_range(cpu, "cpu", 0, kMaxCpuId, errors)) continue;
    if (auto [first, inserted] = first_seen.emplace(cpu.value, cpu.pos); !inserted) {
      errors.add(cpu.pos, "duplicate cpu {} (first at {})", cpu.value, line_col(first->second));
    } else {
      steering.cpus.push_back(static_cast<uint32_t>(cpu.value));
    }
  }
  if (const auto& queue_size = raw->queue_size) {
    if (auto size = check_range(*queue_size, "queue_size", 1, kMaxQueueSize, errors))
      steering.queue_size = static_cast<uint32_t>(*size);
  }
  return steering;
}

}  // namespace xdpgw::config::detail
