#include "control/control_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <system_error>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "control/unix_address.hpp"

namespace xdpgw::control {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// Answers are status dumps, not bulk data; anything this large means the
// other end is not an xdpgw daemon.
constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;

struct Exchange {
  const std::string& path;
  const std::string& cmd;
  std::chrono::milliseconds timeout;
  Clock::time_point deadline;

  [[noreturn]] void timed_out() const {
    throw CallTimeout(fmt::format(
        "no answer to \"{}\" from the xdpgw daemon on {} within {} ms", cmd, path,
        timeout.count()));
  }

  [[noreturn]] void closed_early() const {
    throw std::runtime_error(fmt::format(
        "the xdpgw daemon on {} closed the connection without answering \"{}\" (did it "
        "stop?)",
        path, cmd));
  }

  // Waits until `fd` is ready for `events`, or throws CallTimeout.
  void wait(int fd, short events) const {
    for (;;) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) timed_out();
      pollfd p{.fd = fd, .events = events};
      int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
      if (n > 0) return;  // ready, or POLLERR/POLLHUP, which the next call reports
      if (n < 0 && errno != EINTR) throw_errno(errno, fmt::format("poll {}", path));
    }
  }
};

UniqueFd connect_to(const Exchange& x) {
  const sockaddr_un addr = detail::unix_address(x.path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno(errno, "socket(AF_UNIX)");
  // A Unix-socket connect cannot be completed asynchronously (non-blocking it
  // just fails with EAGAIN while the daemon's backlog is full), so it is a
  // blocking connect bounded by SO_SNDTIMEO, which Linux applies to it.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(x.timeout).count();
  timeval tv{.tv_sec = static_cast<time_t>(us / 1000000),
             .tv_usec = static_cast<suseconds_t>(us % 1000000)};
  check_errno(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)),
              "setsockopt SO_SNDTIMEO");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    switch (errno) {
      case ENOENT:
      case ECONNREFUSED:
        throw DaemonNotRunning(
            fmt::format("no xdpgw daemon listening on {} (is it running?)", x.path));
      case EAGAIN:
      case EINPROGRESS:
      case ETIMEDOUT:
        x.timed_out();
      case EACCES:
      case EPERM:
        throw_errno(errno, fmt::format("connect {} (the control socket is root-only)", x.path));
      default:
        throw_errno(errno, fmt::format("connect {}", x.path));
    }
  }
  // From here on every wait goes through poll() against the deadline.
  int flags = check_errno(::fcntl(fd.get(), F_GETFL), "fcntl F_GETFL");
  check_errno(::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK), "fcntl F_SETFL O_NONBLOCK");
  return fd;
}

// `pass_fd` >= 0 goes with the first bytes sent (SCM_RIGHTS), so the
// daemon receives it with this request.
void send_all(const Exchange& x, int fd, std::string_view data, int pass_fd) {
  while (!data.empty()) {
    iovec iov{.iov_base = const_cast<char*>(data.data()), .iov_len = data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    // MSG_NOSIGNAL: a daemon that went away must be an exception, not SIGPIPE.
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      pass_fd = -1;
    } else if (errno == EAGAIN) {
      x.wait(fd, POLLOUT);
    } else if (errno == EPIPE || errno == ECONNRESET) {
      x.closed_early();
    } else if (errno != EINTR) {
      throw_errno(errno, fmt::format("send to {}", x.path));
    }
  }
}

std::string receive_line(const Exchange& x, int fd) {
  std::string in;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      auto old = in.size();
      in.append(buf, static_cast<std::size_t>(n));
      if (auto nl = in.find('\n', old); nl != std::string::npos) {
        in.resize(nl);
        return in;
      }
      if (in.size() > kMaxResponseBytes)
        throw std::runtime_error(fmt::format(
            "answer from {} exceeds {} bytes without a newline; is it an xdpgw daemon?",
            x.path, kMaxResponseBytes));
    } else if (n == 0 || errno == ECONNRESET) {
      x.closed_early();
    } else if (errno == EAGAIN) {
      x.wait(fd, POLLIN);
    } else if (errno != EINTR) {
      throw_errno(errno, fmt::format("recv from {}", x.path));
    }
  }
}

}  // namespace

json call(const std::string& socket_path, const std::string& cmd, const json& args,
          std::chrono::milliseconds timeout, int pass_fd) {
  // SO_SNDTIMEO of zero would mean "wait forever".
  timeout = std::max(timeout, std::chrono::milliseconds(1));
  const Exchange x{.path = socket_path,
                   .cmd = cmd,
                   .timeout = timeout,
                   .deadline = Clock::now() + timeout};

  UniqueFd fd = connect_to(x);
  json request = {{"cmd", cmd}, {"args", args.is_null() ? json::object() : args}};
  send_all(x, fd.get(), request.dump(-1, ' ', false, json::error_handler_t::replace) + '\n', pass_fd);
  std::string line = receive_line(x, fd.get());

  json response;
  try {
    response = json::parse(line);
  } catch (const json::parse_error&) {
    throw std::runtime_error(fmt::format(
        "answer from {} to \"{}\" is not JSON; is it an xdpgw daemon?", socket_path, cmd));
  }
  auto ok = response.is_object() ? response.find("ok") : response.end();
  if (ok == response.end() || !ok->is_boolean())
    throw std::runtime_error(fmt::format(
        "answer from {} to \"{}\" has no boolean \"ok\"; is it an xdpgw daemon?",
        socket_path, cmd));
  if (!ok->get<bool>()) {
    auto error = response.find("error");
    throw CommandFailed(error != response.end() && error->is_string()
                            ? error->get<std::string>()
                            : fmt::format("\"{}\" failed (the daemon gave no reason)", cmd));
  }
  auto result = response.find("result");
  return result == response.end() ? json() : std::move(*result);
}

}  // namespace xdpgw::control
