// The helpers the section checks share (declared in validate_detail.hpp).
#include <algorithm>
#include <cctype>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {

std::optional<int64_t> check_range(const Located<int64_t>& value, std::string_view key,
                                   int64_t lo, int64_t hi, ErrorList& errors) {
  if (value.value < lo || value.value > hi) {
    errors.add(value.pos, "{} {} is out of range ({}..{})", key, value.value, lo, hi);
    return std::nullopt;
  }
  return value.value;
}

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

std::optional<std::string_view> interface_name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxPortNameLength) return "is longer than 15 characters (IFNAMSIZ - 1)";
  const bool has_forbidden_char = std::any_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c));
  });
  if (name == "." || name == ".." || has_forbidden_char) return "is not a valid interface name";
  return std::nullopt;
}

std::set<std::string, std::less<>> declared_port_names(const std::vector<RawPort>& raw_ports) {
  std::set<std::string, std::less<>> names;
  for (const RawPort& port : raw_ports) {
    if (port.name) names.insert(port.name->value);
  }
  return names;
}

}  // namespace xdpgw::config::detail
