#include "config/ip.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace xdpgw::config {
namespace {

void explain(std::string* why, std::string message) {
  if (why != nullptr) *why = std::move(message);
}

// IPv4 text never contains ':' and IPv6 text always does, so this tells
// which family the writer meant even when the text is not valid.
bool looks_like_ipv6(std::string_view text) { return text.find(':') != std::string_view::npos; }

// Digits only (no sign, no space). Too many digits saturate instead of
// failing: the caller's range check then reports them as out of range, which
// is what they are.
std::optional<uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(),
                                   [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return std::numeric_limits<uint64_t>::max();
  return value;
}

}  // namespace

std::string_view to_string(IpFamily family) {
  return family == IpFamily::kV4 ? "IPv4" : "IPv6";
}

std::optional<IpAddr> IpAddr::parse(std::string_view text, std::string* why) {
  const bool ipv6 = looks_like_ipv6(text);
  // inet_pton reads a C string: an embedded NUL (TOML allows "\u0000") would
  // end it early and let whatever follows through.
  if (text.find('\0') == std::string_view::npos) {
    const std::string c_text(text);
    IpAddr addr;
    addr.family = ipv6 ? IpFamily::kV6 : IpFamily::kV4;
    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, c_text.c_str(), addr.bytes.data()) == 1) {
      return addr;
    }
  }
  explain(why, fmt::format("{:?} is not an {} address", text,
                           config::to_string(ipv6 ? IpFamily::kV6 : IpFamily::kV4)));
  return std::nullopt;
}

std::string IpAddr::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == IpFamily::kV4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, std::string* why) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    explain(why, "expected ADDR/LEN");
    return std::nullopt;
  }
  IpPrefix prefix;
  if (auto addr = IpAddr::parse(text.substr(0, slash), why)) {
    prefix.addr = *addr;
  } else {
    return std::nullopt;
  }
  const std::string_view length_text = text.substr(slash + 1);
  const std::optional<uint64_t> length = parse_decimal(length_text);
  if (!length) {
    explain(why, fmt::format("prefix length {:?} is not a number", length_text));
    return std::nullopt;
  }
  if (*length > prefix.addr.max_prefix_length()) {
    explain(why, fmt::format("prefix length {} is out of range for {} (0..{})", length_text,
                             config::to_string(prefix.addr.family),
                             prefix.addr.max_prefix_length()));
    return std::nullopt;
  }
  prefix.length = static_cast<uint8_t>(*length);
  return prefix;
}

IpPrefix IpPrefix::network() const {
  IpPrefix network = *this;
  for (std::size_t i = 0; i < network.addr.bytes.size(); ++i) {
    const int bits_kept = std::clamp(static_cast<int>(length) - static_cast<int>(i * 8), 0, 8);
    network.addr.bytes[i] &= static_cast<uint8_t>(0xff << (8 - bits_kept));
  }
  return network;
}

std::string IpPrefix::to_string() const {
  return fmt::format("{}/{}", addr.to_string(), length);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text, std::string* why) {
  constexpr std::string_view kExpectedForm = "expected ADDR:PORT or [IPv6]:PORT";
  std::string_view host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      explain(why, std::string(kExpectedForm));
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      explain(why, std::string(kExpectedForm));
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    // Without brackets the last ':' of "::1:9100" could as well be part of
    // the address; refuse to guess.
    if (looks_like_ipv6(host)) {
      explain(why, "an IPv6 address must be written in brackets, as [ADDR]:PORT");
      return std::nullopt;
    }
  }

  Endpoint endpoint;
  if (auto addr = IpAddr::parse(host, why)) {
    endpoint.addr = *addr;
  } else {
    return std::nullopt;
  }
  if (text.starts_with('[') && endpoint.addr.family != IpFamily::kV6) {
    explain(why, fmt::format("{:?} is not an IPv6 address; brackets are for IPv6 only", host));
    return std::nullopt;
  }
  const std::optional<uint64_t> port = parse_decimal(port_text);
  if (!port) {
    explain(why, fmt::format("port {:?} is not a number", port_text));
    return std::nullopt;
  }
  if (*port < 1 || *port > std::numeric_limits<uint16_t>::max()) {
    explain(why, fmt::format("port {} is out of range (1..65535)", port_text));
    return std::nullopt;
  }
  endpoint.port = static_cast<uint16_t>(*port);
  return endpoint;
}

std::string Endpoint::to_string() const {
  if (addr.family == IpFamily::kV6) return fmt::format("[{}]:{}", addr.to_string(), port);
  return fmt::format("{}:{}", addr.to_string(), port);
}

}  // namespace xdpgw::config
