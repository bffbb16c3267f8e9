// The kernel's neighbour table (ARP / NDP), read and nudged over rtnetlink.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace xdpgw::neigh {

struct Key {
  int family = 0;                  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes
  uint32_t ifindex = 0;
};

// The MAC of a usable neighbour entry (reachable, stale, delay, probe,
// permanent), or nullopt when there is none or it is incomplete/failed.
std::optional<std::array<uint8_t, 6>> lookup(const Key& key);

// Asks the kernel to resolve the neighbour (RTM_NEWNEIGH with NTF_USE, the
// same as a packet being sent to it) without waiting for the answer.
void request_resolution(const Key& key);

}  // namespace xdpgw::neigh
