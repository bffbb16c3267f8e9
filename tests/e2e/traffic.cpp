#include "e2e/traffic.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::test::e2e {
namespace {

timeval to_timeval(std::chrono::milliseconds timeout) {
  return timeval{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
                 .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  const timeval tv = to_timeval(timeout);
  check_errno(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), "SO_RCVTIMEO");
  check_errno(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), "SO_SNDTIMEO");
}

// A socket of the namespace `ns`.
UniqueFd socket_in(const Netns& ns, int family, int type) {
  NetnsGuard inside = ns.enter();
  UniqueFd fd(::socket(family, type | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno(errno, fmt::format("socket in netns {}", ns.name()));
  return fd;
}

SocketAddress wildcard(int family, uint16_t port) {
  return SocketAddress::parse(family == AF_INET ? "0.0.0.0" : "::", port);
}

void bind_to(int fd, const SocketAddress& address) {
  const int on = 1;
  check_errno(::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), "SO_REUSEADDR");
  check_errno(::bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.size),
              "bind " + address.to_string());
}

// Reads from the accepted connection until the sender closes it.
std::vector<uint8_t> receive_all(int listener, std::size_t expected_size) {
  UniqueFd connection(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!connection) throw_errno(errno, "accept (no connection arrived)");
  std::vector<uint8_t> received;
  received.reserve(expected_size);
  std::vector<uint8_t> chunk(1 << 16);
  for (;;) {
    const ssize_t n = ::recv(connection.get(), chunk.data(), chunk.size(), 0);
    if (n == 0) return received;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, fmt::format("recv after {} bytes", received.size()));
    }
    received.insert(received.end(), chunk.begin(), chunk.begin() + n);
  }
}

void send_all(int fd, std::span<const uint8_t> data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, fmt::format("send after {} of {} bytes", sent, data.size()));
    }
    sent += static_cast<std::size_t>(n);
  }
}

// The value of `field` in the two-line "Prefix: names...\nPrefix: values..."
// format of /proc/net/snmp.
uint64_t snmp_field(const std::string& text, std::string_view prefix, std::string_view field) {
  std::istringstream lines(text);
  std::string names, values;
  while (std::getline(lines, names)) {
    if (!names.starts_with(prefix) || !std::getline(lines, values)) continue;
    std::istringstream name_words(names), value_words(values);
    std::string name, value;
    while (name_words >> name && value_words >> value) {
      if (name == field) return std::stoull(value);
    }
  }
  throw std::runtime_error(fmt::format("no {} {} in /proc/net/snmp", prefix, field));
}

// The value of `field` in the "Name value" lines of /proc/net/snmp6.
uint64_t snmp6_field(const std::string& text, std::string_view field) {
  std::istringstream lines(text);
  std::string name;
  uint64_t value = 0;
  while (lines >> name >> value) {
    if (name == field) return value;
  }
  throw std::runtime_error(fmt::format("no {} in /proc/net/snmp6", field));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

SocketAddress SocketAddress::parse(std::string_view ip, uint16_t port) {
  SocketAddress address;
  const std::string text(ip);
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
      ::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    address.size = sizeof(sockaddr_in);
    return address;
  }
  address.storage = {};
  if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
      ::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    address.size = sizeof(sockaddr_in6);
    return address;
  }
  throw std::invalid_argument(fmt::format("not an IP address: '{}'", ip));
}

uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

std::string SocketAddress::to_string() const {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (family() == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text.data(),
                text.size());
    return fmt::format("{}:{}", text.data(), port());
  }
  ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text.data(),
              text.size());
  return fmt::format("[{}]:{}", text.data(), port());
}

std::vector<uint8_t> pseudo_random_bytes(std::size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::vector<uint8_t> bytes(size);
  std::size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    const uint32_t word = generator();
    std::memcpy(bytes.data() + i, &word, 4);
  }
  for (; i < size; ++i) bytes[i] = static_cast<uint8_t>(generator());
  return bytes;
}

std::optional<std::size_t> first_difference(std::span<const uint8_t> a,
                                            std::span<const uint8_t> b) {
  const auto [in_a, in_b] = std::ranges::mismatch(a, b);
  if (in_a == a.end() && in_b == b.end()) return std::nullopt;
  return static_cast<std::size_t>(in_a - a.begin());
}

std::vector<uint8_t> tcp_transfer(const Netns& from, const Netns& to, std::string_view to_ip,
                                  uint16_t port, std::span<const uint8_t> data,
                                  std::chrono::seconds timeout) {
  const SocketAddress destination = SocketAddress::parse(to_ip, port);
  UniqueFd listener = socket_in(to, destination.family(), SOCK_STREAM);
  bind_to(listener.get(), wildcard(destination.family(), port));
  check_errno(::listen(listener.get(), 1), "listen");
  // Bounds accept() and every recv() of the connection (inherited by it).
  set_timeouts(listener.get(), timeout);

  std::vector<uint8_t> received;
  std::exception_ptr receiver_error;
  std::thread receiver([&] {
    try {
      received = receive_all(listener.get(), data.size());
    } catch (...) {
      receiver_error = std::current_exception();
    }
  });

  UniqueFd client = socket_in(from, destination.family(), SOCK_STREAM);
  std::exception_ptr sender_error;
  try {
    set_timeouts(client.get(), timeout);  // SO_SNDTIMEO also bounds connect()
    if (::connect(client.get(), reinterpret_cast<const sockaddr*>(&destination.storage),
                  destination.size) != 0) {
      // EINPROGRESS is how a connect() that ran into SO_SNDTIMEO ends.
      throw_errno(errno, fmt::format("connect to {}{}", destination.to_string(),
                                     errno == EINPROGRESS ? " timed out" : ""));
    }
    send_all(client.get(), data);
    check_errno(::shutdown(client.get(), SHUT_WR), "shutdown(SHUT_WR)");
  } catch (...) {
    sender_error = std::current_exception();
    // Wake the receiver instead of letting it wait out its timeout: an
    // accept() on a shut-down listener returns EINVAL at once.
    ::shutdown(listener.get(), SHUT_RDWR);
    client.reset();
  }
  receiver.join();
  if (sender_error) std::rethrow_exception(sender_error);
  if (receiver_error) std::rethrow_exception(receiver_error);
  return received;
}

UdpSocket::UdpSocket(const Netns& ns, std::string_view ip, uint16_t port) {
  const SocketAddress address = SocketAddress::parse(ip, port);
  fd_ = socket_in(ns, address.family(), SOCK_DGRAM);
  bind_to(fd_.get(), address);
}

void UdpSocket::send_to(const SocketAddress& to, std::span<const uint8_t> payload) const {
  const ssize_t n = ::sendto(fd_.get(), payload.data(), payload.size(), 0,
                             reinterpret_cast<const sockaddr*>(&to.storage), to.size);
  if (n < 0) throw_errno(errno, fmt::format("sendto {}", to.to_string()));
  if (static_cast<std::size_t>(n) != payload.size()) {
    throw std::runtime_error(fmt::format("sendto {} sent {} of {} bytes", to.to_string(), n,
                                         payload.size()));
  }
}

std::optional<Datagram> UdpSocket::receive(std::chrono::milliseconds timeout) const {
  pollfd ready{.fd = fd_.get(), .events = POLLIN, .revents = 0};
  int polled;
  do {
    polled = ::poll(&ready, 1, static_cast<int>(timeout.count()));
  } while (polled < 0 && errno == EINTR);
  if (polled < 0) throw_errno(errno, "poll UDP socket");
  if (polled == 0) return std::nullopt;
  Datagram datagram;
  datagram.payload.resize(65536);
  socklen_t from_size = sizeof(datagram.from.storage);
  const ssize_t n = ::recvfrom(fd_.get(), datagram.payload.data(), datagram.payload.size(), 0,
                               reinterpret_cast<sockaddr*>(&datagram.from.storage), &from_size);
  if (n < 0) throw_errno(errno, "recvfrom UDP socket");
  datagram.from.size = from_size;
  datagram.payload.resize(static_cast<std::size_t>(n));
  return datagram;
}

KernelForwarded kernel_forwarded(const Netns& ns) {
  // /proc/thread-self/net, not /proc/net (= /proc/self/net): only this
  // thread is moved into the namespace, and /proc/self is the main thread.
  std::string snmp, snmp6;
  {
    NetnsGuard inside = ns.enter();
    snmp = read_text("/proc/thread-self/net/snmp");
    snmp6 = read_text("/proc/thread-self/net/snmp6");
  }
  return KernelForwarded{.ipv4 = snmp_field(snmp, "Ip:", "ForwDatagrams"),
                         .ipv6 = snmp6_field(snmp6, "Ip6OutForwDatagrams")};
}

KernelForwarded operator-(const KernelForwarded& after, const KernelForwarded& before) {
  return KernelForwarded{.ipv4 = after.ipv4 - before.ipv4, .ipv6 = after.ipv6 - before.ipv6};
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace xdpgw::test::e2e
