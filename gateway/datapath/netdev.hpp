// Facts about network interfaces in the current network namespace, read
// through ioctl/getifaddrs (both namespace-scoped by the calling thread).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xdpgw::netdev {

struct Interface {
  std::string name;
  uint32_t ifindex = 0;
  uint32_t mtu = 0;
  std::array<uint8_t, 6> mac{};
  bool up = false;
};

// nullopt when the interface does not exist.
std::optional<uint32_t> ifindex(std::string_view name);
// Throws std::system_error naming the interface when it cannot be read.
Interface describe(std::string_view name);

struct LocalAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes
};
// Every address configured on any interface of the namespace.
std::vector<LocalAddress> local_addresses();
// The first IPv4 address the kernel lists on interface `name` (its
// primary), or nullopt when it has none.
std::optional<std::array<uint8_t, 4>> primary_ipv4(std::string_view name);

// Enters the network namespace /run/netns/NAME for the calling thread, for
// the rest of its life (the daemon calls it first thing in main, before any
// other thread exists). bpffs stays the host mount: pins are shared.
void enter_netns(std::string_view name);

std::string format_mac(const std::array<uint8_t, 6>& mac);

}  // namespace xdpgw::netdev
