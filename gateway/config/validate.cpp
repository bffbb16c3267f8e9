// Stage 2: RawConfig -> Config. One check function per section; each reports
// every problem it sees and carries on, so one run shows the user everything
// to fix. A value that fails a check is left at its default: the Config is
// thrown away whenever there is an error, so the default only has to keep
// later checks from reporting the same mistake twice.
#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "config/config.hpp"
#include "config/error_list.hpp"
#include "lb/maglev.hpp"

namespace xdpgw::config {
namespace {

// ---- enumerated values -------------------------------------------------------

// One table per enum gives both directions, file text -> value and back.
template <typename Enum>
struct Choice {
  std::string_view name;
  Enum value;
};

constexpr std::array<Choice<AttachMode>, 2> kAttachModes{{
    {"native", AttachMode::kNative},
    {"generic", AttachMode::kGeneric},
}};
constexpr std::array<Choice<MissedTailCall>, 2> kMissedTailCallActions{{
    {"drop", MissedTailCall::kDrop},
    {"pass", MissedTailCall::kPass},
}};
constexpr std::array<Choice<L4Protocol>, 2> kL4Protocols{{
    {"tcp", L4Protocol::kTcp},
    {"udp", L4Protocol::kUdp},
}};
constexpr std::array<Choice<LbMode>, 2> kLbModes{{
    {"nat", LbMode::kNat},
    {"dsr", LbMode::kDsr},
}};
constexpr std::array<Choice<HealthCheckKind>, 2> kHealthCheckKinds{{
    {"tcp", HealthCheckKind::kTcp},
    {"http", HealthCheckKind::kHttp},
}};
constexpr std::array<Choice<RouteSource>, 4> kRouteSources{{
    {"fib", RouteSource::kFib},
    {"static", RouteSource::kStatic},
    {"kernel", RouteSource::kKernel},
    {"none", RouteSource::kNone},
}};

constexpr std::array<Choice<PuntProtocol>, 3> kPuntProtocols{{
    {"any", PuntProtocol::kAny},
    {"tcp", PuntProtocol::kTcp},
    {"udp", PuntProtocol::kUdp},
}};
constexpr std::array<Choice<PuntAction>, 3> kPuntActions{{
    {"forward", PuntAction::kForward},
    {"pass", PuntAction::kPass},
    {"drop", PuntAction::kDrop},
}};
constexpr std::array<Choice<PuntMode>, 2> kPuntModes{{
    {"first-packet", PuntMode::kFirstPacket},
    {"every-packet", PuntMode::kEveryPacket},
}};
constexpr std::array<Choice<PuntWait>, 2> kPuntWaits{{
    {"io_uring", PuntWait::kIoUring},
    {"busy-poll", PuntWait::kBusyPoll},
}};
constexpr std::array<Choice<PuntBind>, 3> kPuntBinds{{
    {"auto", PuntBind::kAuto},
    {"copy", PuntBind::kCopy},
    {"zero-copy", PuntBind::kZeroCopy},
}};
constexpr std::array<Choice<bool>, 2> kPuntFallbacks{{
    {"pass", false},
    {"drop", true},
}};
constexpr std::array<Choice<AclAction>, 2> kAclActions{{
    {"allow", AclAction::kAllow},
    {"deny", AclAction::kDeny},
}};
constexpr std::array<Choice<AclProtocol>, 5> kAclProtocols{{
    {"any", AclProtocol::kAny},
    {"tcp", AclProtocol::kTcp},
    {"udp", AclProtocol::kUdp},
    {"icmp", AclProtocol::kIcmp},
    {"icmpv6", AclProtocol::kIcmpv6},
}};

template <typename Enum, std::size_t N>
std::string_view name_of(Enum value, const std::array<Choice<Enum>, N>& choices) {
  for (const Choice<Enum>& choice : choices) {
    if (choice.value == value) return choice.name;
  }
  return "?";
}

// "\"a\" or \"b\"", "\"a\", \"b\" or \"c\""
template <typename Enum, std::size_t N>
std::string list_names(const std::array<Choice<Enum>, N>& choices) {
  std::string text;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) text += i + 1 == N ? " or " : ", ";
    text += fmt::format("{:?}", choices[i].name);
  }
  return text;
}

// nullopt when absent or not one of `choices` (then reported).
template <typename Enum, std::size_t N>
std::optional<Enum> check_choice(const RawString& raw, std::string_view key,
                                 const std::array<Choice<Enum>, N>& choices, ErrorList& errors) {
  if (!raw) return std::nullopt;
  for (const Choice<Enum>& choice : choices) {
    if (raw->value == choice.name) return choice.value;
  }
  errors.add(raw->pos, "{} {:?} must be {}", key, raw->value, list_names(choices));
  return std::nullopt;
}

// ---- shared helpers ------------------------------------------------------------

// "LINE:COL", to point from one error at an earlier definition.
std::string line_col(SourcePos pos) { return fmt::format("{}:{}", pos.line, pos.column); }

template <typename T>
const Located<T>* require(const std::optional<Located<T>>& value, std::string_view key,
                          std::string_view table, SourcePos table_pos, ErrorList& errors) {
  if (!value) {
    errors.add(table_pos, "{} is missing required key {:?}", table, key);
    return nullptr;
  }
  return &*value;
}

bool contains_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

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

// The kernel's dev_valid_name(): what it would refuse to create, no
// interface can be called, so say why instead of "does not exist".
std::optional<std::string_view> interface_name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxPortNameLength) return "is longer than 15 characters (IFNAMSIZ - 1)";
  const bool has_forbidden_char = std::any_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c));
  });
  if (name == "." || name == ".." || has_forbidden_char) return "is not a valid interface name";
  return std::nullopt;
}

// ---- one check per section --------------------------------------------------------

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
    ports.push_back({.name = name->value, .ifindex = *ifindex});
  }
  return ports;
}

// Every name written in a [[port]], valid or not, so that a route naming a
// port that has its own error is not reported a second time.
std::set<std::string, std::less<>> declared_port_names(const std::vector<RawPort>& raw_ports) {
  std::set<std::string, std::less<>> names;
  for (const RawPort& port : raw_ports) {
    if (port.name) names.insert(port.name->value);
  }
  return names;
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
    std::string why;
    prefix = IpPrefix::parse(prefix_text->value, &why);
    if (!prefix) {
      errors.add(prefix_text->pos, "prefix {:?}: {}", prefix_text->value, why);
      ok = false;
    } else if (prefix->has_host_bits()) {
      // A route to 198.18.2.1/24 almost certainly meant the /24 network, but
      // installing something other than what was written is worse than
      // asking.
      errors.add(prefix_text->pos, "prefix {:?} has host bits set; did you mean {:?}?",
                 prefix_text->value, prefix->network().to_string());
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
    } else if (prefix && via->family != prefix->addr.family) {
      errors.add(via_text->pos, "via {:?} is {} but prefix {:?} is {}", via_text->value,
                 to_string(via->family), prefix_text->value, to_string(prefix->addr.family));
      ok = false;
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

std::optional<int64_t> check_range(const RawInteger& raw, std::string_view key, int64_t lo,
                                   int64_t hi, ErrorList& errors);

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
    else if (auto ms = check_range(interval, "resync_interval_ms", kMinResyncIntervalMs,
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
    if (cpu.value < 0 || cpu.value > kMaxCpuId) {
      errors.add(cpu.pos, "cpu {} is out of range (0..{})", cpu.value, kMaxCpuId);
    } else if (auto [first, inserted] = first_seen.emplace(cpu.value, cpu.pos); !inserted) {
      errors.add(cpu.pos, "duplicate cpu {} (first at {})", cpu.value, line_col(first->second));
    } else {
      steering.cpus.push_back(static_cast<uint32_t>(cpu.value));
    }
  }
  if (const auto& queue_size = raw->queue_size) {
    if (queue_size->value < 1 || queue_size->value > kMaxQueueSize) {
      errors.add(queue_size->pos, "queue_size {} is out of range (1..{})", queue_size->value,
                 kMaxQueueSize);
    } else {
      steering.queue_size = static_cast<uint32_t>(queue_size->value);
    }
  }
  return steering;
}

// A port "N" or an inclusive range "FIRST-LAST", 0..65535; nullopt (reported) otherwise.
std::optional<PortRange> check_port_range(const Located<std::string>& text, std::string_view key,
                                          ErrorList& errors) {
  auto number = [](std::string_view digits) -> std::optional<uint32_t> {
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    uint32_t value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    return value;
  };
  const std::string_view s = text.value;
  const std::size_t dash = s.find('-');
  const auto first = number(s.substr(0, dash));
  const auto last = dash == std::string_view::npos ? first : number(s.substr(dash + 1));
  if (!first || !last) {
    errors.add(text.pos, "{} {:?} must be a port (0..65535) or a range \"FIRST-LAST\"", key,
               text.value);
    return std::nullopt;
  }
  if (*first > *last) {
    errors.add(text.pos, "{} {:?}: first port is above the last", key, text.value);
    return std::nullopt;
  }
  return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last)};
}

std::optional<IpPrefix> check_punt_prefix(const RawString& raw, std::string_view key, ErrorList& errors) {
  if (!raw) return std::nullopt;
  std::string why;
  auto prefix = IpPrefix::parse(raw->value, &why);
  if (!prefix) {
    errors.add(raw->pos, "{} {:?}: {}", key, raw->value, why);
  } else if (prefix->has_host_bits()) {
    errors.add(raw->pos, "{} {:?} has host bits set; did you mean {:?}?", key, raw->value,
               prefix->network().to_string());
    prefix.reset();
  }
  return prefix;
}

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
    if (frames->value < 64 || frames->value > kMaxPuntFrames) {
      errors.add(frames->pos, "frames {} is out of range (64..{})", frames->value, kMaxPuntFrames);
    } else {
      punt.frames = static_cast<uint32_t>(frames->value);
    }
  }
  if (const auto& batch = raw->batch) {
    if (batch->value < 1 || batch->value > kMaxPuntBatch) {
      errors.add(batch->pos, "batch {} is out of range (1..{})", batch->value, kMaxPuntBatch);
    } else {
      punt.batch = static_cast<uint32_t>(batch->value);
    }
  }
  punt.wait = check_choice(raw->wait, "wait", kPuntWaits, errors).value_or(PuntWait::kIoUring);
  punt.bind = check_choice(raw->bind, "bind", kPuntBinds, errors).value_or(PuntBind::kAuto);
  if (raw->rules.size() > kMaxPuntRules)
    errors.add(raw->rules[kMaxPuntRules].pos, "more than {} [[punt.rule]] tables", kMaxPuntRules);

  for (const RawPuntRule& r : raw->rules) {
    PuntRule rule;
    rule.protocol = check_choice(r.protocol, "protocol", kPuntProtocols, errors).value_or(PuntProtocol::kAny);
    rule.src = check_punt_prefix(r.src, "src", errors);
    rule.dst = check_punt_prefix(r.dst, "dst", errors);
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

// A unix socket path; nullopt (reported) when it cannot be one.
std::optional<std::string> check_socket_path(const Located<std::string>& path, std::string_view key,
                                             ErrorList& errors) {
  if (!path.value.starts_with('/')) {
    // The daemon and the CLI run from different directories; a relative
    // path would name two different sockets.
    errors.add(path.pos, "{} {:?} must be an absolute path", key, path.value);
  } else if (contains_nul(path.value)) {
    errors.add(path.pos, "{} {:?} must not contain a NUL character", key, path.value);
  } else if (path.value.size() > kMaxSocketPathLength) {
    errors.add(path.pos, "{} {:?} is {} bytes long; a unix socket path holds at most {}", key,
               path.value, path.value.size(), kMaxSocketPathLength);
  } else {
    return path.value;
  }
  return std::nullopt;
}

// `instance` is empty when it was missing or invalid (already reported).
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


// ---- policy: [policy], [[acl]], [ratelimit] -------------------------------------

// A prefix as written, without host bits; nullopt (reported) otherwise.
std::optional<IpPrefix> check_prefix(const Located<std::string>& text, std::string_view key,
                                     ErrorList& errors) {
  std::string why;
  std::optional<IpPrefix> prefix = IpPrefix::parse(text.value, &why);
  if (!prefix) {
    errors.add(text.pos, "{} {:?}: {}", key, text.value, why);
    return std::nullopt;
  }
  if (prefix->has_host_bits()) {
    errors.add(text.pos, "{} {:?} has host bits set; did you mean {:?}?", key, text.value,
               prefix->network().to_string());
    return std::nullopt;
  }
  return prefix;
}

// Names of rate-limit classes and prefix sets.
bool is_valid_class_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxClassNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// The required `name` of a rate-limit class or prefix set: valid and not
// taken by an earlier one (`names` collects them). `text` is what was
// written (empty when absent), `ok` false after a reported error.
struct NameCheck {
  std::string text;
  bool ok = false;
};
NameCheck check_name_value(const Located<std::string>& name, std::string_view what,
                           std::map<std::string, SourcePos, std::less<>>& names, ErrorList& errors) {
  if (!is_valid_class_name(name.value)) {
    errors.add(name.pos, "{} name {:?} must match [a-z0-9_-]{{1,{}}}", what, name.value,
               kMaxClassNameLength);
    return {name.value, false};
  }
  if (auto [first, inserted] = names.emplace(name.value, name.pos); !inserted) {
    errors.add(name.pos, "duplicate {} {:?} (first at {})", what, name.value,
               line_col(first->second));
    return {name.value, false};
  }
  return {name.value, true};
}
NameCheck check_name(const RawString& raw, std::string_view what, std::string_view table,
                     SourcePos table_pos, std::map<std::string, SourcePos, std::less<>>& names,
                     ErrorList& errors) {
  const auto* name = require(raw, "name", table, table_pos, errors);
  if (name == nullptr) return {};
  return check_name_value(*name, what, names, errors);
}

// An entry of a [[prefix_set]]: "ADDR/LEN" without host bits, or a bare
// address (a host: /32, /128), as block lists often write them. On failure
// the message says what is wrong.
std::optional<IpPrefix> parse_set_entry(std::string_view text, std::string* why) {
  if (text.find('/') == std::string_view::npos) {
    auto addr = IpAddr::parse(text, why);
    if (!addr) return std::nullopt;
    return IpPrefix{.addr = *addr, .length = addr->max_prefix_length()};
  }
  auto prefix = IpPrefix::parse(text, why);
  if (prefix && prefix->has_host_bits()) {
    *why = fmt::format("has host bits set; did you mean {:?}?", prefix->network().to_string());
    return std::nullopt;
  }
  return prefix;
}

// Errors reported per set file before the rest are summed up in one line:
// a file of the wrong format would otherwise bury everything else.
constexpr std::size_t kMaxErrorsPerSetFile = 20;

std::vector<PrefixSet> check_prefix_sets(const std::vector<RawPrefixSet>& raw_sets,
                                         ErrorList& errors) {
  constexpr std::string_view kTable = "[[prefix_set]]";
  std::vector<PrefixSet> sets;
  std::map<std::string, SourcePos, std::less<>> names;
  for (std::size_t i = 0; i < raw_sets.size(); ++i) {
    const RawPrefixSet& raw = raw_sets[i];
    if (i == kMaxPrefixSets) {
      errors.add(raw.pos, "more than {} prefix sets", kMaxPrefixSets);
      break;
    }
    PrefixSet set;
    const NameCheck name = check_name(raw.name, "prefix set", kTable, raw.pos, names, errors);
    set.name = name.text;
    std::string why;
    for (const Located<std::string>& text : raw.prefixes) {
      if (auto prefix = parse_set_entry(text.value, &why)) {
        set.prefixes.push_back(*prefix);
      } else {
        errors.add(text.pos, "prefix {:?}: {}", text.value, why);
      }
    }
    std::size_t file_errors = 0;
    SourcePos first_unreported;
    for (const Located<std::string>& text : raw.file_entries) {
      if (auto prefix = parse_set_entry(text.value, &why)) {
        set.prefixes.push_back(*prefix);
      } else if (++file_errors <= kMaxErrorsPerSetFile) {
        errors.add_in(raw.file_path, text.pos, "{:?}: {}", text.value, why);
      } else if (file_errors == kMaxErrorsPerSetFile + 1) {
        first_unreported = text.pos;
      }
    }
    if (file_errors > kMaxErrorsPerSetFile)
      errors.add_in(raw.file_path, first_unreported,
                    "{} more lines from here on are not prefixes (the first {} are reported)",
                    file_errors - kMaxErrorsPerSetFile, kMaxErrorsPerSetFile);
    // Feeds overlap and repeat themselves: duplicates are merged, not errors.
    std::sort(set.prefixes.begin(), set.prefixes.end());
    set.prefixes.erase(std::unique(set.prefixes.begin(), set.prefixes.end()), set.prefixes.end());
    // A set with errors is still known by name, so rules that use it do not
    // pile "no such set" on top (the Config is discarded anyway).
    if (name.ok) sets.push_back(std::move(set));
  }
  return sets;
}

// Which families one side of an ACL rule can match: {v4, v6}.
std::pair<bool, bool> side_families(const std::optional<IpPrefix>& prefix, const PrefixSet* set) {
  if (prefix) return {prefix->addr.family == IpFamily::kV4, prefix->addr.family == IpFamily::kV6};
  if (set == nullptr) return {true, true};
  std::pair<bool, bool> families{false, false};
  for (const IpPrefix& p : set->prefixes) {
    (p.addr.family == IpFamily::kV4 ? families.first : families.second) = true;
    if (families.first && families.second) break;
  }
  return families;
}

// One side of an [[acl]] rule: a prefix, or "@name" of a [[prefix_set]].
// False (reported) on an error.
bool check_acl_side(const RawString& raw, std::string_view key, const Policy& policy,
                    std::optional<IpPrefix>& prefix, std::string& set_name, ErrorList& errors) {
  if (!raw) return true;
  if (raw->value.starts_with('@')) {
    const std::string_view name = std::string_view(raw->value).substr(1);
    if (policy.find_set(name) == nullptr) {
      errors.add(raw->pos, "{} {:?}: no [[prefix_set]] named {:?}", key, raw->value, name);
      return false;
    }
    set_name = name;
    return true;
  }
  prefix = check_prefix(*raw, key, errors);
  return prefix.has_value();
}

std::optional<AclRule> check_acl_rule(const RawAclRule& raw,
                                      const std::set<std::string, std::less<>>& declared_ports,
                                      const std::vector<Port>& ports, const Policy& policy,
                                      ErrorList& errors) {
  constexpr std::string_view kTable = "[[acl]]";
  AclRule rule;
  rule.line = raw.pos.line;
  bool ok = true;
  // check_choice is quiet about an absent key; require reports it.
  const bool has_action = require(raw.action, "action", kTable, raw.pos, errors) != nullptr;
  const auto action = check_choice(raw.action, "action", kAclActions, errors);
  if (has_action && action) rule.action = *action;
  ok = ok && action.has_value();
  ok = check_acl_side(raw.src, "src", policy, rule.src, rule.src_set, errors) && ok;
  ok = check_acl_side(raw.dst, "dst", policy, rule.dst, rule.dst_set, errors) && ok;
  if (rule.src && rule.dst && rule.src->addr.family != rule.dst->addr.family) {
    errors.add(raw.dst->pos, "dst {:?} is {} but src {:?} is {}", raw.dst->value,
               to_string(rule.dst->addr.family), raw.src->value, to_string(rule.src->addr.family));
    ok = false;
  } else if (ok) {
    const PrefixSet* src_set = policy.find_set(rule.src_set);
    const PrefixSet* dst_set = policy.find_set(rule.dst_set);
    const auto src = side_families(rule.src, rule.src_set.empty() ? nullptr : src_set);
    const auto dst = side_families(rule.dst, rule.dst_set.empty() ? nullptr : dst_set);
    rule.matches_v4 = src.first && dst.first;
    rule.matches_v6 = src.second && dst.second;
    // An empty set matches nothing (a feed may be empty today); two sides
    // that can never agree on a family are a mistake.
    const bool src_empty = !src.first && !src.second, dst_empty = !dst.first && !dst.second;
    if (!rule.matches_v4 && !rule.matches_v6 && !src_empty && !dst_empty) {
      errors.add(raw.dst->pos, "dst {:?} and src {:?} have no address family in common",
                 raw.dst->value, raw.src->value);
      ok = false;
    }
  }
  bool protocol_valid = true;
  if (raw.protocol) {
    if (auto value = check_choice(raw.protocol, "protocol", kAclProtocols, errors)) {
      rule.protocol = *value;
    } else {
      ok = protocol_valid = false;
    }
  }
  const bool has_ports = rule.protocol == AclProtocol::kTcp || rule.protocol == AclProtocol::kUdp;
  for (auto [text, range, key] : {std::tuple{&raw.src_ports, &rule.src_ports, "src_ports"},
                                  std::tuple{&raw.dst_ports, &rule.dst_ports, "dst_ports"}}) {
    if (!*text) continue;
    if (!has_ports) {
      // An invalid protocol was reported already; do not pile on.
      if (protocol_valid) errors.add((*text)->pos, "{} needs protocol = \"tcp\" or \"udp\"", key);
      ok = false;
      continue;
    }
    ok = (*range = check_port_range(**text, key, errors)).has_value() && ok;
  }
  if (raw.in_port) {
    if (!declared_ports.contains(raw.in_port->value)) {
      errors.add(raw.in_port->pos, "in_port {:?} is not declared in a [[port]]",
                 raw.in_port->value);
      ok = false;
    } else {
      rule.in_port = raw.in_port->value;
      const auto port = std::find_if(ports.begin(), ports.end(),
                                     [&](const Port& p) { return p.name == rule.in_port; });
      rule.in_ifindex = port == ports.end() ? 0 : port->ifindex;
    }
  }
  if (!ok) return std::nullopt;
  return rule;
}

// The datapath keeps one LPM trie per side and family holding every prefix
// the rules name there, plus /0 (shared.h): at most kMaxAclPrefixes each.
void check_acl_prefix_counts(const std::vector<AclRule>& rules,
                             const std::vector<const RawAclRule*>& raw, const Policy& policy,
                             ErrorList& errors) {
  for (auto [key, prefix_of, set_of, raw_of] :
       {std::tuple{"src", &AclRule::src, &AclRule::src_set, &RawAclRule::src},
        std::tuple{"dst", &AclRule::dst, &AclRule::dst_set, &RawAclRule::dst}}) {
    for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
      std::unordered_set<IpPrefix, IpPrefixHash> stored;
      stored.insert(IpPrefix{.addr = {.family = family, .bytes = {}}, .length = 0});
      std::set<std::string, std::less<>> sets_counted;
      for (std::size_t i = 0; i < rules.size(); ++i) {
        const AclRule& rule = rules[i];
        if (!rule.matches(family)) continue;
        if (const auto& prefix = rule.*prefix_of) stored.insert(*prefix);
        const std::string& name = rule.*set_of;
        if (!name.empty() && sets_counted.insert(name).second) {
          for (const IpPrefix& p : policy.find_set(name)->prefixes)
            if (p.addr.family == family) stored.insert(p);
        }
        if (stored.size() > kMaxAclPrefixes) {
          const auto& at = (*raw[i]).*raw_of;
          errors.add(at->pos, "{} {:?}: [[acl]] rules name more than {} distinct {} {} prefixes",
                     key, at->value, kMaxAclPrefixes - 1, to_string(family), key);
          return;
        }
      }
    }
  }
}

std::vector<AclRule> check_acl(const std::vector<RawAclRule>& raw_rules,
                               const std::vector<RawPort>& raw_ports,
                               const std::vector<Port>& ports, const Policy& policy,
                               ErrorList& errors) {
  std::vector<AclRule> rules;
  std::vector<const RawAclRule*> raw_of_rule;
  const auto declared_ports = declared_port_names(raw_ports);
  std::map<std::string, SourcePos, std::less<>> names;
  for (std::size_t i = 0; i < raw_rules.size(); ++i) {
    if (i == kMaxAclRules) {
      errors.add(raw_rules[i].pos, "more than {} [[acl]] rules", kMaxAclRules);
      break;
    }
    bool name_ok = true;
    if (const auto& name = raw_rules[i].name) {
      // "default" is the default action's row in the stats and metrics.
      if (name->value == "default") {
        errors.add(name->pos, "acl rule name \"default\" is reserved for [policy] acl_default");
        name_ok = false;
      } else {
        name_ok = check_name_value(*name, "acl rule", names, errors).ok;
      }
    }
    auto rule = check_acl_rule(raw_rules[i], declared_ports, ports, policy, errors);
    if (rule && name_ok) {
      if (raw_rules[i].name) {
        rule->name = raw_rules[i].name->value;
        rule->named = true;
      }
      rule->stats_slot = static_cast<uint32_t>(i);
      rules.push_back(std::move(*rule));
      raw_of_rule.push_back(&raw_rules[i]);
    }
  }
  // Unnamed rules are named after what they do: describe() always has a
  // space, which written names cannot, so the two never collide.
  std::map<std::string, int, std::less<>> described;
  for (AclRule& rule : rules) {
    if (rule.named) continue;
    std::string text = describe(rule);
    const int n = ++described[text];
    rule.name = n == 1 ? std::move(text) : fmt::format("{} #{}", text, n);
  }
  check_acl_prefix_counts(rules, raw_of_rule, policy, errors);
  return rules;
}

std::optional<uint64_t> check_range(const Located<int64_t>& value, std::string_view key,
                                    int64_t min, int64_t max, ErrorList& errors) {
  if (value.value < min || value.value > max) {
    errors.add(value.pos, "{} {} is out of range ({}..{})", key, value.value, min, max);
    return std::nullopt;
  }
  return static_cast<uint64_t>(value.value);
}

std::optional<uint64_t> check_bounded(const RawInteger& raw, std::string_view key,
                                      std::string_view table, SourcePos table_pos, int64_t max,
                                      ErrorList& errors) {
  const auto* value = require(raw, key, table, table_pos, errors);
  if (value == nullptr) return std::nullopt;
  return check_range(*value, key, 1, max, errors);
}

// bytes_per_second and burst_bytes: both or neither. False on an error.
bool check_byte_limit(const RawRateClass& rc, RateClass& cls, ErrorList& errors) {
  if (!rc.bytes_per_second && !rc.burst_bytes) return true;
  if (!rc.bytes_per_second || !rc.burst_bytes) {
    const auto& given = rc.bytes_per_second ? *rc.bytes_per_second : *rc.burst_bytes;
    errors.add(given.pos, "bytes_per_second and burst_bytes go together: set both or neither");
    return false;
  }
  auto rate = check_range(*rc.bytes_per_second, "bytes_per_second", kMinBytesPerSecond,
                          kMaxBytesPerSecond, errors);
  auto burst = check_range(*rc.burst_bytes, "burst_bytes", kMinBurstBytes, kMaxBurstBytes, errors);
  if (!rate || !burst) return false;
  cls.bytes_per_second = *rate;
  cls.burst_bytes = *burst;
  return true;
}

RateLimit check_ratelimit(const std::optional<RawRateLimit>& raw, ErrorList& errors) {
  constexpr std::string_view kTable = "[[ratelimit.class]]";
  RateLimit rl;
  if (!raw) return rl;
  std::map<std::string, SourcePos, std::less<>> names;
  std::map<IpPrefix, SourcePos> sources;
  std::size_t per_family[2] = {0, 0};
  for (std::size_t i = 0; i < raw->classes.size(); ++i) {
    const RawRateClass& rc = raw->classes[i];
    if (i == kMaxRateClasses) {
      errors.add(rc.pos, "more than {} rate-limit classes", kMaxRateClasses);
      break;
    }
    RateClass cls;
    const NameCheck name = check_name(rc.name, "class", kTable, rc.pos, names, errors);
    bool ok = name.ok;
    cls.name = name.text;
    auto pps = check_bounded(rc.packets_per_second, "packets_per_second", kTable, rc.pos,
                             kMaxPacketsPerSecond, errors);
    auto burst = check_bounded(rc.burst, "burst", kTable, rc.pos, kMaxBurst, errors);
    ok = check_byte_limit(rc, cls, errors) && ok && pps && burst;
    for (const Located<std::string>& text : rc.sources) {
      auto prefix = check_prefix(text, "source", errors);
      if (!prefix) {
        ok = false;
      } else if (auto [first, inserted] = sources.emplace(*prefix, text.pos); !inserted) {
        errors.add(text.pos, "source {:?} is already in a class (first at {})",
                   prefix->to_string(), line_col(first->second));
        ok = false;
      } else if (++per_family[prefix->addr.family == IpFamily::kV4 ? 0 : 1] >
                 kMaxRateSourcesPerFamily) {
        errors.add(text.pos, "more than {} {} rate-limit sources", kMaxRateSourcesPerFamily,
                   to_string(prefix->addr.family));
        ok = false;
      } else {
        cls.sources.push_back(*prefix);
      }
    }
    if (!ok) continue;
    cls.packets_per_second = *pps;
    cls.burst = *burst;
    rl.classes.push_back(std::move(cls));
  }
  if (const auto& def = raw->default_class) {
    const auto it = std::find_if(rl.classes.begin(), rl.classes.end(),
                                 [&](const RateClass& c) { return c.name == def->value; });
    if (it != rl.classes.end()) {
      rl.default_class = static_cast<uint32_t>(it - rl.classes.begin());
    } else if (!names.contains(def->value)) {
      errors.add(def->pos, "default_class {:?} is not a [[ratelimit.class]]", def->value);
    }
  }
  return rl;
}

Policy check_policy(const RawConfig& raw, const std::vector<Port>& ports, ErrorList& errors) {
  Policy policy;
  if (raw.policy)
    policy.acl_default = check_choice(raw.policy->acl_default, "acl_default", kAclActions, errors)
                             .value_or(policy.acl_default);
  policy.prefix_sets = check_prefix_sets(raw.prefix_sets, errors);
  policy.acl = check_acl(raw.acl, raw.ports, ports, policy, errors);
  policy.ratelimit = check_ratelimit(raw.ratelimit, errors);
  return policy;
}

// ---- load balancer ---------------------------------------------------------

// An integer key within [lo, hi], or nullopt (absent, or reported).
std::optional<int64_t> check_range(const RawInteger& raw, std::string_view key, int64_t lo,
                                   int64_t hi, ErrorList& errors) {
  if (!raw) return std::nullopt;
  if (raw->value < lo || raw->value > hi) {
    errors.add(raw->pos, "{} {} is out of range ({}..{})", key, raw->value, lo, hi);
    return std::nullopt;
  }
  return raw->value;
}

std::optional<IpAddr> check_address(const Located<std::string>& raw, std::string_view what,
                                    ErrorList& errors) {
  std::string why;
  auto addr = IpAddr::parse(raw.value, &why);
  if (!addr) errors.add(raw.pos, "{} {}", what, why);
  return addr;
}

bool is_valid_vip_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxVipNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
         });
}

std::optional<HealthCheck> check_health(const RawHealthCheck& raw, ErrorList& errors) {
  HealthCheck hc;
  bool ok = true;
  if (const auto* kind = require(raw.kind, "kind", "[vip.health_check]", raw.pos, errors)) {
    if (auto k = check_choice(raw.kind, "kind", kHealthCheckKinds, errors)) hc.kind = *k;
    else ok = false;
    (void)kind;
  } else {
    ok = false;
  }
  if (raw.port) {
    if (auto port = check_range(raw.port, "port", 1, 65535, errors)) hc.port = static_cast<uint16_t>(*port);
    else ok = false;
  }
  if (raw.path) {
    if (hc.kind != HealthCheckKind::kHttp) {
      errors.add(raw.path->pos, "path is only used by kind = \"http\"");
      ok = false;
    } else if (!raw.path->value.starts_with('/') || raw.path->value.size() > kMaxHealthPathLength ||
               std::any_of(raw.path->value.begin(), raw.path->value.end(),
                           [](char c) { return c <= ' ' || c == 0x7f; })) {
      errors.add(raw.path->pos,
                 "path {:?} must start with '/', hold no spaces or control characters and be at most {} bytes",
                 raw.path->value, kMaxHealthPathLength);
      ok = false;
    } else {
      hc.path = raw.path->value;
    }
  }
  if (raw.interval_ms) {
    if (auto v = check_range(raw.interval_ms, "interval_ms", kMinHealthIntervalMs, kMaxHealthIntervalMs, errors))
      hc.interval_ms = static_cast<uint32_t>(*v);
    else ok = false;
  }
  if (raw.timeout_ms) {
    if (auto v = check_range(raw.timeout_ms, "timeout_ms", 1, kMaxHealthIntervalMs, errors))
      hc.timeout_ms = static_cast<uint32_t>(*v);
    else ok = false;
  }
  if (ok && hc.timeout_ms >= hc.interval_ms) {
    // A probe still running when the next one is due would overlap it.
    errors.add(raw.timeout_ms ? raw.timeout_ms->pos : raw.pos,
               "timeout_ms {} must be shorter than interval_ms {}", hc.timeout_ms, hc.interval_ms);
    ok = false;
  }
  if (raw.rise) {
    if (auto v = check_range(raw.rise, "rise", 1, kMaxRiseFall, errors)) hc.rise = static_cast<uint32_t>(*v);
    else ok = false;
  }
  if (raw.fall) {
    if (auto v = check_range(raw.fall, "fall", 1, kMaxRiseFall, errors)) hc.fall = static_cast<uint32_t>(*v);
    else ok = false;
  }
  for (const auto* raw_status : {&raw.status_min, &raw.status_max}) {
    if (*raw_status && hc.kind != HealthCheckKind::kHttp) {
      errors.add((*raw_status)->pos, "status_min/status_max are only used by kind = \"http\"");
      ok = false;
    }
  }
  if (auto v = check_range(raw.status_min, "status_min", 100, 599, errors)) hc.status_min = static_cast<uint16_t>(*v);
  else if (raw.status_min) ok = false;
  if (auto v = check_range(raw.status_max, "status_max", 100, 599, errors)) hc.status_max = static_cast<uint16_t>(*v);
  else if (raw.status_max) ok = false;
  if (ok && hc.status_min > hc.status_max) {
    errors.add(raw.status_max ? raw.status_max->pos : raw.pos,
               "status_max {} is below status_min {}", hc.status_max, hc.status_min);
    ok = false;
  }
  if (!ok) return std::nullopt;
  return hc;
}

std::optional<Backend> check_backend(const RawBackend& raw, const Vip& vip, ErrorList& errors) {
  const auto* address = require(raw.address, "address", "[[vip.backend]]", raw.pos, errors);
  if (address == nullptr) return std::nullopt;
  auto addr = check_address(*address, "backend", errors);
  if (!addr) return std::nullopt;
  Backend be{.addr = *addr};
  bool ok = true;
  if (vip.mode == LbMode::kNat && addr->family != vip.addr.family) {
    errors.add(address->pos, "backend {:?} is {} but VIP {:?} is {}; mode \"nat\" cannot translate between families (\"dsr\" can)",
               address->value, to_string(addr->family), vip.name, to_string(vip.addr.family));
    ok = false;
  }
  if (raw.port) {
    if (auto port = check_range(raw.port, "port", 1, 65535, errors)) be.port = static_cast<uint16_t>(*port);
    else ok = false;
  } else {
    be.port = vip.port;
  }
  if (raw.weight) {
    if (auto w = check_range(raw.weight, "weight", 0, kMaxBackendWeight, errors)) be.weight = static_cast<uint32_t>(*w);
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return be;
}

std::optional<Vip> check_vip(const RawVip& raw, ErrorList& errors) {
  constexpr std::string_view kTable = "[[vip]]";
  Vip vip;
  bool ok = true;
  if (const auto* name = require(raw.name, "name", kTable, raw.pos, errors)) {
    if (is_valid_vip_name(name->value)) vip.name = name->value;
    else {
      errors.add(name->pos, "VIP name {:?} must match [A-Za-z0-9_.-]{{1,{}}}", name->value, kMaxVipNameLength);
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const auto* address = require(raw.address, "address", kTable, raw.pos, errors)) {
    if (auto addr = check_address(*address, "address", errors)) vip.addr = *addr;
    else ok = false;
  } else {
    ok = false;
  }
  if (require(raw.protocol, "protocol", kTable, raw.pos, errors)) {
    if (auto p = check_choice(raw.protocol, "protocol", kL4Protocols, errors)) vip.protocol = *p;
    else ok = false;
  } else {
    ok = false;
  }
  if (raw.port) {
    if (auto port = check_range(raw.port, "port", 0, 65535, errors)) vip.port = static_cast<uint16_t>(*port);
    else ok = false;
  }
  if (raw.mode) {
    if (auto m = check_choice(raw.mode, "mode", kLbModes, errors)) vip.mode = *m;
    else ok = false;
  }
  if (raw.table_size) {
    if (auto size = check_range(raw.table_size, "table_size", 2, kMaxMaglevTableSize, errors)) {
      if (!lb::is_prime(static_cast<uint64_t>(*size))) {
        errors.add(raw.table_size->pos, "table_size {} must be a prime (next one: {})", *size,
                   lb::next_prime(static_cast<uint32_t>(*size)));
        ok = false;
      } else {
        vip.table_size = static_cast<uint32_t>(*size);
      }
    } else {
      ok = false;
    }
  }
  if (raw.health_check) {
    vip.health_check = check_health(*raw.health_check, errors);
    if (!vip.health_check) ok = false;
  }
  if (raw.backends.empty()) {
    errors.add(raw.pos, "{} {:?} has no [[vip.backend]]", kTable, vip.name);
    ok = false;
  }
  std::map<std::string, SourcePos> first_seen;
  for (const RawBackend& raw_backend : raw.backends) {
    auto be = check_backend(raw_backend, vip, errors);
    if (!be) {
      ok = false;
      continue;
    }
    if (auto [first, inserted] = first_seen.emplace(be->id(), raw_backend.pos); !inserted) {
      errors.add(raw_backend.pos, "duplicate backend {} in VIP {:?} (first at {})", be->id(),
                 vip.name, line_col(first->second));
      ok = false;
      continue;
    }
    vip.backends.push_back(*be);
  }
  if (ok && vip.backends.size() > vip.table_size) {
    errors.add(raw.pos, "VIP {:?} has {} backends but table_size {}: Maglev needs more slots than backends",
               vip.name, vip.backends.size(), vip.table_size);
    ok = false;
  }
  if (!ok) return std::nullopt;
  return vip;
}

LoadBalancer check_lb(const std::optional<RawLb>& raw, const std::vector<RawVip>& raw_vips,
                      ErrorList& errors) {
  LoadBalancer lb;
  if (raw) {
    if (raw->tunnel_source_v4) {
      auto addr = check_address(*raw->tunnel_source_v4, "tunnel_source_v4", errors);
      if (addr && addr->family != IpFamily::kV4)
        errors.add(raw->tunnel_source_v4->pos, "tunnel_source_v4 {:?} is not an IPv4 address",
                   raw->tunnel_source_v4->value);
      else if (addr)
        lb.tunnel_source_v4 = addr;
    }
    if (raw->tunnel_source_v6) {
      auto addr = check_address(*raw->tunnel_source_v6, "tunnel_source_v6", errors);
      if (addr && addr->family != IpFamily::kV6)
        errors.add(raw->tunnel_source_v6->pos, "tunnel_source_v6 {:?} is not an IPv6 address",
                   raw->tunnel_source_v6->value);
      else if (addr)
        lb.tunnel_source_v6 = addr;
    }
    if (auto size = check_range(raw->conn_table_size, "conn_table_size", kMinConnTableSize,
                                kMaxConnTableSize, errors))
      lb.conn_table_size = static_cast<uint32_t>(*size);
  }
  if (raw_vips.size() > kMaxVips)
    errors.add(raw_vips[kMaxVips].pos, "more than {} [[vip]] tables", kMaxVips);

  std::map<std::string, SourcePos> names;
  std::map<std::tuple<IpAddr, L4Protocol, uint16_t>, SourcePos> listeners;
  std::set<std::string> backend_ids;
  for (const RawVip& raw_vip : raw_vips) {
    auto vip = check_vip(raw_vip, errors);
    if (!vip) continue;
    if (auto [first, inserted] = names.emplace(vip->name, raw_vip.pos); !inserted) {
      errors.add(raw_vip.name->pos, "duplicate VIP name {:?} (first at {})", vip->name,
                 line_col(first->second));
      continue;
    }
    if (auto [first, inserted] = listeners.emplace(std::tuple(vip->addr, vip->protocol, vip->port), raw_vip.pos);
        !inserted) {
      errors.add(raw_vip.pos, "VIP {:?}: {} {} port {} is already a VIP (at {})", vip->name,
                 vip->addr.to_string(), to_string(vip->protocol), vip->port, line_col(first->second));
      continue;
    }
    if (vip->mode == LbMode::kDsr) {
      for (const Backend& be : vip->backends) {
        const bool v4 = be.addr.family == IpFamily::kV4;
        if ((v4 && !lb.tunnel_source_v4) || (!v4 && !lb.tunnel_source_v6)) {
          errors.add(raw_vip.pos,
                     "VIP {:?} uses mode \"dsr\" with {} backend {} but [lb] has no tunnel_source_{}",
                     vip->name, to_string(be.addr.family), be.id(), v4 ? "v4" : "v6");
          break;
        }
      }
    }
    for (const Backend& be : vip->backends) backend_ids.insert(be.id());
    lb.vips.push_back(std::move(*vip));
  }
  if (backend_ids.size() > kMaxBackendsTotal)
    errors.add(raw_vips.empty() ? SourcePos{} : raw_vips.front().pos,
               "{} distinct backends; at most {} are supported", backend_ids.size(), kMaxBackendsTotal);
  return lb;
}

}  // namespace

std::string_view to_string(AclAction action) { return name_of(action, kAclActions); }
std::string_view to_string(AclProtocol protocol) { return name_of(protocol, kAclProtocols); }

std::string describe(const AclRule& r) {
  std::string text(to_string(r.action));
  const std::size_t bare = text.size();
  if (r.src) text += " src " + r.src->to_string();
  if (!r.src_set.empty()) text += " src @" + r.src_set;
  if (r.dst) text += " dst " + r.dst->to_string();
  if (!r.dst_set.empty()) text += " dst @" + r.dst_set;
  if (r.protocol != AclProtocol::kAny) text += " " + std::string(to_string(r.protocol));
  auto range = [](const PortRange& p) {
    return p.first == p.last ? fmt::format("{}", p.first) : fmt::format("{}-{}", p.first, p.last);
  };
  if (r.src_ports) text += " sport " + range(*r.src_ports);
  if (r.dst_ports) text += " dport " + range(*r.dst_ports);
  if (!r.in_port.empty()) text += " in " + r.in_port;
  if (text.size() == bare) text += " any";
  return text;
}

std::vector<uint32_t> keep_acl_stats_slots(const std::vector<AclRule>& running, std::vector<AclRule>& next) {
  std::map<std::string_view, uint32_t> running_slot;
  std::vector<bool> taken(kMaxAclRules, false);  // by the running config
  for (const AclRule& r : running) {
    running_slot.emplace(r.name, r.stats_slot);
    if (r.stats_slot < kMaxAclRules) taken[r.stats_slot] = true;
  }
  std::vector<bool> used(kMaxAclRules, false);  // by `next`
  std::vector<AclRule*> fresh;
  for (AclRule& r : next) {
    if (auto it = running_slot.find(r.name); it != running_slot.end()) {
      r.stats_slot = it->second;
      used[r.stats_slot] = true;
    } else {
      fresh.push_back(&r);
    }
  }
  // Slots the running config does not count into first, then any unused.
  std::vector<uint32_t> zero;
  for (bool avoid_running : {true, false}) {
    for (uint32_t slot = 0; slot < kMaxAclRules && !fresh.empty(); ++slot) {
      if (used[slot] || (avoid_running && taken[slot])) continue;
      used[slot] = true;
      fresh.front()->stats_slot = slot;
      zero.push_back(slot);
      fresh.erase(fresh.begin());
    }
  }
  return zero;
}
std::string Backend::id() const {
  const std::string a = addr.family == IpFamily::kV6 ? fmt::format("[{}]", addr.to_string())
                                                      : addr.to_string();
  return port == 0 ? a + ":*" : fmt::format("{}:{}", a, port);
}
std::string_view to_string(L4Protocol protocol) { return name_of(protocol, kL4Protocols); }
std::string_view to_string(LbMode mode) { return name_of(mode, kLbModes); }
std::string_view to_string(HealthCheckKind kind) { return name_of(kind, kHealthCheckKinds); }

std::string_view to_string(AttachMode mode) { return name_of(mode, kAttachModes); }
std::string_view to_string(MissedTailCall action) {
  return name_of(action, kMissedTailCallActions);
}
std::string_view to_string(RouteSource source) { return name_of(source, kRouteSources); }

// A BIRD symbol: a letter or '_', then letters, digits and '_'.
bool is_valid_bird_symbol(std::string_view name) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  return !name.empty() && name.size() <= kMaxBirdProtocolLength && letter(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

Announce check_announce(const std::optional<RawAnnounce>& raw, std::string_view instance,
                        ErrorList& errors) {
  Announce announce;
  if (!raw) return announce;
  announce.enabled = true;
  std::string symbol_instance(instance);
  std::replace(symbol_instance.begin(), symbol_instance.end(), '-', '_');
  announce.protocol = "xdpgw_" + symbol_instance;
  announce.include = fmt::format("{}/{}.conf", kDefaultBirdIncludeDir, instance);
  announce.bird_socket = kDefaultBirdSocket;
  if (const auto& include = raw->include) {
    if (!include->value.starts_with('/') || include->value.ends_with('/')) {
      errors.add(include->pos, "include {:?} must be an absolute file path (BIRD and xdpgw "
                 "resolve relative paths from different directories)", include->value);
    } else if (contains_nul(include->value) || include->value.find('"') != std::string::npos) {
      // It is written into bird.conf as a quoted string.
      errors.add(include->pos, "include {:?} must not contain NUL or '\"'", include->value);
    } else {
      announce.include = include->value;
    }
  }
  if (const auto& socket = raw->bird_socket)
    if (auto path = check_socket_path(*socket, "bird_socket", errors)) announce.bird_socket = *path;
  if (const auto& protocol = raw->protocol) {
    // "_v4"/"_v6" are appended.
    if (!is_valid_bird_symbol(protocol->value) || protocol->value.size() + 3 > kMaxBirdProtocolLength)
      errors.add(protocol->pos, "protocol {:?} must be a BIRD name: a letter or '_', then letters, "
                 "digits or '_', at most {} characters", protocol->value, kMaxBirdProtocolLength - 3);
    else
      announce.protocol = protocol->value;
  }
  if (const auto& grace = raw->withdraw_grace_ms)
    if (auto ms = check_range(*grace, "withdraw_grace_ms", 0, kMaxWithdrawGraceMs, errors))
      announce.withdraw_grace_ms = static_cast<uint32_t>(*ms);
  return announce;
}

Result<Config> validate(const RawConfig& raw, const Environment& env) {
  ErrorList errors(raw.source_name);
  Config config;
  config.gateway = check_gateway(raw.gateway, errors);
  config.ports = check_ports(raw.ports, env, errors);
  config.routing = check_routing(raw.routing, raw.ports, config.ports, errors);
  config.steering = check_steering(raw.steering, errors);
  config.control = check_control(raw.control, config.gateway.instance, errors);
  config.policy = check_policy(raw, config.ports, errors);
  config.lb = check_lb(raw.lb, raw.vips, errors);
  config.punt = check_punt(raw.punt, config.ports, config.gateway.instance, errors);
  config.announce = check_announce(raw.announce, config.gateway.instance, errors);
  if (!errors.empty()) return std::move(errors).take_in_source_order();
  return config;
}

}  // namespace xdpgw::config
