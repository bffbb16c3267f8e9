#include "harness/raw_socket.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "common/error.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test {

RawSocket::RawSocket(const Netns& ns, const std::string& ifname) {
  const InterfaceInfo info = query_interface(ns, ifname);
  ifindex_ = info.ifindex;
  mac_ = info.mac;
  {
    // The socket belongs to the namespace it is created in; sends and
    // receives afterwards need no guard.
    NetnsGuard inside = ns.enter();
    fd_ = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  }
  if (!fd_) throw_errno(errno, fmt::format("AF_PACKET socket in netns {}", ns.name()));
  sockaddr_ll where{};
  where.sll_family = AF_PACKET;
  where.sll_protocol = htons(ETH_P_ALL);
  where.sll_ifindex = ifindex_;
  check_errno(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&where), sizeof(where)),
              fmt::format("bind AF_PACKET to {} in netns {}", ifname, ns.name()));
}

void RawSocket::send(std::span<const uint8_t> frame) const {
  const ssize_t sent = ::send(fd_.get(), frame.data(), frame.size(), 0);
  if (sent < 0) throw_errno(errno, fmt::format("send {}-byte frame on AF_PACKET", frame.size()));
  if (static_cast<std::size_t>(sent) != frame.size()) {
    throw std::system_error(EMSGSIZE, std::generic_category(),
                            fmt::format("AF_PACKET sent {} of {} bytes", sent, frame.size()));
  }
}

std::optional<std::vector<uint8_t>> RawSocket::receive(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Jumbo-sized: a frame larger than the buffer would be cut silently.
  std::vector<uint8_t> buffer(65536);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd ready{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (polled < 0 && errno != EINTR) throw_errno(errno, "poll AF_PACKET socket");
    if (polled <= 0) continue;
    sockaddr_ll from{};
    socklen_t from_size = sizeof(from);
    const ssize_t n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_size);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno(errno, "recvfrom AF_PACKET socket");
    }
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }
}

}  // namespace xdpgw::test
