#include "routing/rtnl_events.hpp"

#include <libmnl/libmnl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <vector>

#include "common/error.hpp"

namespace xdpgw::routing {
namespace {

// A burst of a full table (BIRD starting, a link with many routes going)
// must fit, or the kernel drops messages and the subscriber resyncs.
constexpr int kEventBufferBytes = 32 << 20;
constexpr size_t kRecvBuffer = 64 << 10;

rtnl::MnlSocket subscribe(const std::string& what, std::initializer_list<int> groups) {
  rtnl::MnlSocket sock(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!sock) throw_errno(errno, fmt::format("{}: open rtnetlink event socket", what));
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    throw_errno(errno, fmt::format("{}: bind rtnetlink event socket", what));
  for (int group : groups)
    if (mnl_socket_setsockopt(sock.get(), NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
      throw_errno(errno, fmt::format("{}: join rtnetlink group {}", what, group));
  const int fd = mnl_socket_get_fd(sock.get());
  int size = kEventBufferBytes;
  // FORCE needs CAP_NET_ADMIN; without it the limit is rmem_max.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  return sock;
}

}  // namespace

RtnlEvents::RtnlEvents(boost::asio::io_context& io, std::string what,
                       std::initializer_list<int> groups, Handlers handlers)
    : what_(std::move(what)),
      handlers_(std::move(handlers)),
      sock_(subscribe(what_, groups)),
      readable_(io, ::dup(mnl_socket_get_fd(sock_.get()))) {
  wait_readable();
}

RtnlEvents::~RtnlEvents() {
  boost::system::error_code ignored;
  readable_.cancel(ignored);
}

void RtnlEvents::wait_readable() {
  readable_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec) return;  // cancelled: destroyed
                         try {
                           read_all();
                         } catch (const std::exception& e) {
                           if (handlers_.failed) handlers_.failed(e.what());
                         }
                         wait_readable();
                       });
}

void RtnlEvents::read_all() {
  std::vector<char> buf(kRecvBuffer);
  const auto started = std::chrono::steady_clock::now();
  bool any = false;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        if (handlers_.overrun) handlers_.overrun();
        continue;
      }
      throw_errno(errno, fmt::format("{}: receive rtnetlink events", what_));
    }
    any = true;
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
    int len = static_cast<int>(n);
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) handlers_.message(nlh);
  }
  if (any && handlers_.batch_done) handlers_.batch_done(started);
}

}  // namespace xdpgw::routing
