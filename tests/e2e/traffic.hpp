// Real traffic between the hosts of a topology, through sockets created in
// the hosts' namespaces (a socket keeps the namespace it was created in, so
// one test thread can drive both ends), and the gateway kernel's own
// forwarding counters.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "harness/netns.hpp"

namespace xdpgw::test::e2e {

// An IPv4 or IPv6 address and port as the socket calls want it.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t size = 0;

  static SocketAddress parse(std::string_view ip, uint16_t port);
  int family() const noexcept { return storage.ss_family; }
  uint16_t port() const noexcept;
  std::string to_string() const;  // "198.18.2.2:5001", "[2001:2::1]:5001"
};

// `size` bytes that repeat nowhere within a transfer (seeded PRNG), so a
// misplaced, duplicated or dropped segment cannot go unnoticed.
std::vector<uint8_t> pseudo_random_bytes(std::size_t size, uint32_t seed);

// Index of the first byte where the two differ (including a length
// difference), nullopt when equal. For failure messages about megabytes.
std::optional<std::size_t> first_difference(std::span<const uint8_t> a,
                                            std::span<const uint8_t> b);

// Sends `data` over one TCP connection from namespace `from` to `to_ip`:
// `port` (a listener created in namespace `to` before connecting, so there is
// no start-up race) and returns the bytes the receiver read until EOF.
// Throws std::system_error on socket errors or after `timeout` of no progress.
std::vector<uint8_t> tcp_transfer(const Netns& from, const Netns& to, std::string_view to_ip,
                                  uint16_t port, std::span<const uint8_t> data,
                                  std::chrono::seconds timeout = std::chrono::seconds(10));

struct Datagram {
  std::vector<uint8_t> payload;
  SocketAddress from;
};

// A UDP socket in a namespace, bound to ip:port.
class UdpSocket {
 public:
  UdpSocket(const Netns& ns, std::string_view ip, uint16_t port);

  void send_to(const SocketAddress& to, std::span<const uint8_t> payload) const;
  // The next datagram within `timeout`, nullopt after it.
  std::optional<Datagram> receive(std::chrono::milliseconds timeout) const;

 private:
  UniqueFd fd_;
};

// The gateway kernel's forwarded-packet counters (/proc/net/snmp
// Ip ForwDatagrams and /proc/net/snmp6 Ip6OutForwDatagrams): what the kernel
// forwarded itself rather than XDP.
struct KernelForwarded {
  uint64_t ipv4 = 0;
  uint64_t ipv6 = 0;
  uint64_t total() const noexcept { return ipv4 + ipv6; }
};
KernelForwarded kernel_forwarded(const Netns& ns);
KernelForwarded operator-(const KernelForwarded& after, const KernelForwarded& before);

// Waits (bounded) until `ready` holds, asking every `poll`; false if it
// never did within `timeout`.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(5));

}  // namespace xdpgw::test::e2e
