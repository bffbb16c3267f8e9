// Address types and parsers shared by the frame builder and the topology
// helpers. Parsers throw std::invalid_argument on malformed text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace xdpgw::test {

using MacAddr = std::array<uint8_t, 6>;
using Ipv4Addr = std::array<uint8_t, 4>;   // network byte order
using Ipv6Addr = std::array<uint8_t, 16>;  // network byte order

MacAddr mac(std::string_view text);    // "02:00:00:00:00:01"
Ipv4Addr ipv4(std::string_view text);  // "198.18.0.1"
Ipv6Addr ipv6(std::string_view text);  // "2001:2::1"

std::string to_string(const MacAddr& addr);  // "02:00:00:00:00:01"

}  // namespace xdpgw::test
