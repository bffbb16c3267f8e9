// [announce]: the BIRD include file xdpgw writes its VIP routes into, and
// how BIRD is told to read it.
#include <algorithm>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {
namespace {

// A BIRD symbol: a letter or '_', then letters, digits and '_'. Checked only
// here: gateway/announce writes the validated Announce::protocol as it is.
bool is_valid_bird_symbol(std::string_view name) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  return !name.empty() && name.size() <= kMaxBirdProtocolLength && letter(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

}  // namespace

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

}  // namespace xdpgw::config::detail
