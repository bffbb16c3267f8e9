// IP addresses, prefixes and ADDR:PORT endpoints as the config spells them.
// Text is parsed with inet_pton (libc, no kernel involved), so what counts as
// an address (e.g. no leading zeros in IPv4) is exactly what inet_pton says.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xdpgw::config {

enum class IpFamily : uint8_t { kV4, kV6 };

// "IPv4" / "IPv6", for messages.
std::string_view to_string(IpFamily family);

struct IpAddr {
  IpFamily family = IpFamily::kV4;
  // Network byte order. IPv4 uses bytes[0..3] and leaves the rest zero, so
  // the defaulted comparison compares addresses, not leftovers.
  std::array<uint8_t, 16> bytes{};

  // An IPv4 or IPv6 address. On failure, if `why` is given, it is set to a
  // message such as "\"10.0.0.300\" is not an IPv4 address" (text containing
  // ':' is taken to have meant IPv6).
  static std::optional<IpAddr> parse(std::string_view text, std::string* why = nullptr);

  std::size_t size() const { return family == IpFamily::kV4 ? 4 : 16; }
  uint8_t max_prefix_length() const { return family == IpFamily::kV4 ? 32 : 128; }
  std::string to_string() const;  // inet_ntop form

  auto operator<=>(const IpAddr&) const = default;
};

struct IpPrefix {
  IpAddr addr;
  uint8_t length = 0;

  // "ADDR/LEN" with LEN in range for the family. Host bits are accepted and
  // kept as written, so the caller can say which network was meant; check
  // has_host_bits(). On failure `why` (if given) says what is wrong.
  static std::optional<IpPrefix> parse(std::string_view text, std::string* why = nullptr);

  bool has_host_bits() const { return network() != *this; }
  IpPrefix network() const;  // the same prefix with the host bits cleared
  std::string to_string() const;

  auto operator<=>(const IpPrefix&) const = default;
};

// For unordered containers of prefixes (ACL prefix sets hold up to
// kMaxAclPrefixes; an ordered set's comparisons cost more than one hash).
struct IpPrefixHash {
  std::size_t operator()(const IpPrefix& p) const noexcept {
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t{p.length} << 8 | uint8_t(p.addr.family));
    for (uint8_t byte : p.addr.bytes) h = (h ^ byte) * 0x100000001b3ull;  // FNV-1a
    return static_cast<std::size_t>(h);
  }
};

// A TCP listen address: "ADDR:PORT" for IPv4, "[ADDR]:PORT" for IPv6.
struct Endpoint {
  IpAddr addr;
  uint16_t port = 0;  // host order, 1..65535

  static std::optional<Endpoint> parse(std::string_view text, std::string* why = nullptr);
  std::string to_string() const;

  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace xdpgw::config
