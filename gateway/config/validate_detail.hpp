// Internal to the config module (included by the validate*.cpp files only):
// what the section checks share, and the checks validate() calls. Each
// section's rules live in one file:
//
//   validate_network.cpp   [gateway], [[port]], [routing], [steering]
//   validate_control.cpp   [control]
//   validate_policy.cpp    [policy], [[prefix_set]], [[acl]], [ratelimit]
//   validate_lb.cpp        [lb], [[vip]] with its backends and health check
//   validate_punt.cpp      [punt]
//   validate_announce.cpp  [announce] (BIRD)
//   validate_flow_export.cpp [flow_export] (IPFIX / NetFlow v9)
//   validate_snat.cpp      [[snat]], [nat]
//
// A check reports every problem it sees into the ErrorList and carries on;
// a value that fails is left at its default (see validate.cpp).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_names.hpp"
#include "config/error_list.hpp"
#include "config/raw_config.hpp"

namespace xdpgw::config::detail {

// ---- positions and presence ---------------------------------------------------

// "LINE:COL", to point from one error at an earlier definition.
inline std::string line_col(SourcePos pos) { return fmt::format("{}:{}", pos.line, pos.column); }

// The value of a required key, or nullptr after reporting it missing from
// `table` (written at `table_pos`).
template <typename T>
const Located<T>* require(const std::optional<Located<T>>& value, std::string_view key,
                          std::string_view table, SourcePos table_pos, ErrorList& errors) {
  if (!value) {
    errors.add(table_pos, "{} is missing required key {:?}", table, key);
    return nullptr;
  }
  return &*value;
}

// ---- values -----------------------------------------------------------------------

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

// An integer key within [lo, hi]; nullopt (reported) otherwise.
std::optional<int64_t> check_range(const Located<int64_t>& value, std::string_view key,
                                   int64_t lo, int64_t hi, ErrorList& errors);

// A prefix as written, without host bits; nullopt (reported) otherwise.
std::optional<IpPrefix> check_prefix(const Located<std::string>& text, std::string_view key,
                                     ErrorList& errors);

// A port "N" or an inclusive range "FIRST-LAST", 0..65535; nullopt (reported) otherwise.
std::optional<PortRange> check_port_range(const Located<std::string>& text, std::string_view key,
                                          ErrorList& errors);

// A unix socket path; nullopt (reported) when it cannot be one.
std::optional<std::string> check_socket_path(const Located<std::string>& path, std::string_view key,
                                             ErrorList& errors);

inline bool contains_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

// The kernel's dev_valid_name(): what it would refuse to create, no
// interface can be called, so say why instead of "does not exist".
std::optional<std::string_view> interface_name_problem(std::string_view name);

// Every name written in a [[port]], valid or not, so that a reference to a
// port that has its own error is not reported a second time.
std::set<std::string, std::less<>> declared_port_names(const std::vector<RawPort>& raw_ports);

// ---- one check per section, in the order validate() calls them ---------------------

GatewaySettings check_gateway(const std::optional<RawGateway>& raw, ErrorList& errors);
std::vector<Port> check_ports(const std::vector<RawPort>& raw_ports, const Environment& env,
                              ErrorList& errors);
Routing check_routing(const std::optional<RawRouting>& raw, const std::vector<RawPort>& raw_ports,
                      const std::vector<Port>& ports, ErrorList& errors);
Steering check_steering(const std::optional<RawSteering>& raw, ErrorList& errors);
// `instance` is empty when it was missing or invalid (already reported).
Control check_control(const std::optional<RawControl>& raw, std::string_view instance,
                      ErrorList& errors);
Policy check_policy(const RawConfig& raw, const std::vector<Port>& ports, ErrorList& errors);
LoadBalancer check_lb(const std::optional<RawLb>& raw, const std::vector<RawVip>& raw_vips,
                      ErrorList& errors);
Punt check_punt(const std::optional<RawPunt>& raw, const std::vector<Port>& ports,
                std::string_view instance, ErrorList& errors);
Announce check_announce(const std::optional<RawAnnounce>& raw, std::string_view instance,
                        ErrorList& errors);
FlowExport check_flow_export(const std::optional<RawFlowExport>& raw, ErrorList& errors);
Nat check_nat(const RawConfig& raw, const std::vector<Port>& ports, const Policy& policy,
              ErrorList& errors);

}  // namespace xdpgw::config::detail
