#include "e2e/lb_hosts.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <gtest/gtest.h>

#include "e2e/traffic.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {

BackendServer::BackendServer(const Netns& ns, std::string name, const std::vector<uint16_t>& ports)
    : name_(std::move(name)) {
  auto in = ns.enter();
  for (uint16_t port : ports) {
    listen_on(AF_INET, port);
    listen_on(AF_INET6, port);
  }
  thread_ = std::thread([this] { serve(); });
}

BackendServer::~BackendServer() { stop(); }

void BackendServer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  listeners_.clear();
}

void BackendServer::listen_on(int family, uint16_t port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw std::system_error(errno, std::generic_category(), "socket");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  SocketAddress addr = SocketAddress::parse(family == AF_INET ? "0.0.0.0" : "::", port);
  if (family == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.size) < 0 ||
      listen(fd.get(), 1024) < 0)
    throw std::system_error(errno, std::generic_category(), "listen " + addr.to_string());
  listeners_.push_back(std::move(fd));
}

void BackendServer::serve() {
  std::vector<UniqueFd> conns;  // closed when serve() returns
  while (!stop_) {
    std::vector<pollfd> fds;
    for (const auto& l : listeners_) fds.push_back({l.get(), POLLIN, 0});
    for (const auto& c : conns) fds.push_back({c.get(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), 50) <= 0) continue;
    // Connections first: fds holds them at the positions they had when
    // polled; ones accepted below join the next round.
    std::vector<UniqueFd> alive;
    for (size_t i = 0; i < conns.size(); ++i) {
      const pollfd& p = fds[listeners_.size() + i];
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        std::array<char, 512> buf{};
        ssize_t n = read(conns[i].get(), buf.data(), buf.size());
        if (n == 0 || (n < 0 && errno != EAGAIN)) continue;  // closed: drop it
        if (n > 0) {
          std::string reply = name_ + ":" + std::string(buf.data(), size_t(n));
          (void)!write(conns[i].get(), reply.data(), reply.size());
        }
      }
      alive.push_back(std::move(conns[i]));
    }
    for (size_t i = 0; i < listeners_.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      for (;;) {
        UniqueFd c(accept4(listeners_[i].get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!c) break;
        const std::string hello = name_ + "\n";
        (void)!write(c.get(), hello.data(), hello.size());
        alive.push_back(std::move(c));
      }
    }
    conns = std::move(alive);
  }
}

DecapAttachment::DecapAttachment(const Netns& ns, std::string ifname)
    : ns_(ns.name()), ifname_(std::move(ifname)) {
  run_ok(fmt::format("{} decap attach {} --netns {}", XDPGW_BINARY, ifname_, ns_));
}

DecapAttachment::~DecapAttachment() {
  auto r = run_cmd(fmt::format("{} decap detach {} --netns {}", XDPGW_BINARY, ifname_, ns_));
  if (!r.ok()) ADD_FAILURE() << "decap detach: " << r.output;
}

uint64_t DecapAttachment::decapsulated() const {
  auto out = run_ok(fmt::format("{} decap stats -j {} --netns {}", XDPGW_BINARY, ifname_, ns_));
  return nlohmann::json::parse(out).at("decapsulated").at("packets").get<uint64_t>();
}

Connection::Connection(const Netns& client, const std::string& vip, uint16_t port) {
  {
    auto in = client.enter();
    SocketAddress to = SocketAddress::parse(vip, port);
    fd_ = UniqueFd(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) throw std::system_error(errno, std::generic_category(), "socket");
    timeval tv{5, 0};
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd_.get(), reinterpret_cast<const sockaddr*>(&to.storage), to.size) < 0)
      throw std::system_error(errno, std::generic_category(), "connect " + to.to_string());
  }
  backend_ = read_line();
}

std::string Connection::echo(const std::string& line) {
  std::string msg = line + "\n";
  if (write(fd_.get(), msg.data(), msg.size()) != ssize_t(msg.size()))
    throw std::system_error(errno, std::generic_category(), "write");
  return read_line();
}

std::string Connection::read_line() {
  std::string out;
  char c = 0;
  while (read(fd_.get(), &c, 1) == 1) {
    if (c == '\n') return out;
    out += c;
  }
  throw std::system_error(errno ? errno : ECONNRESET, std::generic_category(),
                          "read from backend (got \"" + out + "\")");
}

}  // namespace xdpgw::test::e2e
