#include "harness/addr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace xdpgw::test {

MacAddr mac(std::string_view text) {
  MacAddr addr{};
  // Exactly six two-digit hex groups separated by ':' (17 characters).
  if (text.size() != 17) throw std::invalid_argument(fmt::format("bad MAC address '{}'", text));
  for (std::size_t i = 0; i < addr.size(); ++i) {
    const char* first = text.data() + i * 3;
    if (i > 0 && first[-1] != ':') {
      throw std::invalid_argument(fmt::format("bad MAC address '{}'", text));
    }
    auto [end, ec] = std::from_chars(first, first + 2, addr[i], 16);
    if (ec != std::errc{} || end != first + 2) {
      throw std::invalid_argument(fmt::format("bad MAC address '{}'", text));
    }
  }
  return addr;
}

Ipv4Addr ipv4(std::string_view text) {
  Ipv4Addr addr{};
  if (::inet_pton(AF_INET, std::string(text).c_str(), addr.data()) != 1) {
    throw std::invalid_argument(fmt::format("bad IPv4 address '{}'", text));
  }
  return addr;
}

Ipv6Addr ipv6(std::string_view text) {
  Ipv6Addr addr{};
  if (::inet_pton(AF_INET6, std::string(text).c_str(), addr.data()) != 1) {
    throw std::invalid_argument(fmt::format("bad IPv6 address '{}'", text));
  }
  return addr;
}

std::string to_string(const MacAddr& addr) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", addr[0], addr[1], addr[2],
                     addr[3], addr[4], addr[5]);
}

}  // namespace xdpgw::test
