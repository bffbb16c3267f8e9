#include "control/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "control/unix_address.hpp"

namespace xdpgw::control {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
using json = nlohmann::json;

namespace {

class Session;

}  // namespace

namespace detail {

// Everything a connection needs from its server. Shared (not owned by the
// ControlServer alone) because completion handlers still queued in the
// io_context when the server is destroyed hold on to it; they then see
// `closed` and stop.
struct ControlState {
  explicit ControlState(asio::io_context& io) : acceptor(io), accept_retry(io) {}

  std::filesystem::path path;
  stream::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::map<std::string, FdCommandHandler, std::less<>> handlers;
  // Weak: a connection lives as long as its pending I/O; these are only
  // needed to close the live ones when the server goes away.
  std::vector<std::weak_ptr<Session>> sessions;
  // Identity of the socket file we bound, so the destructor never removes a
  // file that someone else put at the same path since.
  dev_t dev = 0;
  ino_t ino = 0;
  bool closed = false;
};

}  // namespace detail

namespace {

using detail::ControlState;

json ok_response(json result) {
  return {{"ok", true}, {"result", std::move(result)}};
}

json error_response(std::string message) {
  return {{"ok", false}, {"error", std::move(message)}};
}

// One line of output. A handler may put arbitrary bytes into a string; invalid
// UTF-8 is replaced rather than letting dump() throw on the io thread.
std::string to_line(const json& response) {
  std::string line = response.dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';
  return line;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the
// client only needs what follows.
std::string_view without_json_prefix(std::string_view what) {
  if (what.starts_with("[json.exception.")) {
    if (auto end = what.find("] "); end != std::string_view::npos)
      what.remove_prefix(end + 2);
  }
  return what;
}

std::string known_commands(const ControlState& st) {
  std::string out;
  for (const auto& [name, handler] : st.handlers) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? std::string("(none)") : out;
}

json dispatch(ControlState& st, std::string_view line, std::vector<UniqueFd>& fds) {
  json request;
  try {
    request = json::parse(line);
  } catch (const json::parse_error& e) {
    return error_response(fmt::format(
        "malformed request (expected one JSON object per line): {}",
        without_json_prefix(e.what())));
  }
  if (!request.is_object())
    return error_response(fmt::format(
        "malformed request: expected a JSON object, got {}", request.type_name()));
  auto cmd = request.find("cmd");
  if (cmd == request.end() || !cmd->is_string())
    return error_response("malformed request: \"cmd\" must be a string");
  const auto& name = cmd->get_ref<const std::string&>();

  json args = json::object();
  if (auto a = request.find("args"); a != request.end() && !a->is_null()) {
    if (!a->is_object())
      return error_response(fmt::format(
          "malformed request: \"args\" must be an object, got {}", a->type_name()));
    args = std::move(*a);
  }

  auto handler = st.handlers.find(name);
  if (handler == st.handlers.end())
    return error_response(fmt::format("unknown command \"{}\"; known commands: {}",
                                      name, known_commands(st)));
  try {
    return ok_response(handler->second(args, fds));
  } catch (const std::exception& e) {
    spdlog::debug("control: command {} failed: {}", name, e.what());
    return error_response(e.what());
  } catch (...) {
    return error_response(
        fmt::format("command \"{}\" failed with a non-standard exception", name));
  }
}

// One client connection: read a line, answer it, repeat. Reading the next
// request only after the answer is written keeps responses in request order
// and bounds what one client can make us buffer; a client that stops reading
// only stalls its own connection.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(stream::socket socket, std::shared_ptr<ControlState> state)
      : socket_(std::move(socket)), state_(std::move(state)) {}

  void start() { read_next(); }

  void close() noexcept {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  // Requests are read with recvmsg() rather than asio's reads, which would
  // drop the descriptors a request may carry: wait until readable, take what
  // is there (bytes and descriptors), answer the first complete line.
  void read_next() {
    for (;;) {
      const std::size_t nl = in_.find('\n');
      // A line of exactly kMaxRequestLine bytes is accepted, one byte more is not.
      if ((nl == std::string::npos && in_.size() > kMaxRequestLine) ||
          (nl != std::string::npos && nl > kMaxRequestLine)) {
        spdlog::warn("control: request line over {} bytes; closing the connection",
                     kMaxRequestLine);
        write(to_line(error_response(fmt::format(
                  "request line exceeds {} bytes; closing the connection",
                  kMaxRequestLine))),
              /*close_after=*/true);
        return;
      }
      if (nl == std::string::npos) break;
      if (answer(nl + 1)) return;  // read_next() again once the answer is written
    }
    socket_.async_wait(stream::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->on_readable(ec);
                       });
  }

  void on_readable(const boost::system::error_code& ec) {
    // Cancellation or a closed socket: the client or the server is gone.
    if (state_->closed || ec) return;
    char buf[16 * 1024];
    iovec iov{.iov_base = buf, .iov_len = sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxRequestFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds_.emplace_back(fd);
      }
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      read_next();
      return;
    }
    // EOF or reset: the client is gone, nothing to answer.
    if (n <= 0) return;
    in_.append(buf, static_cast<std::size_t>(n));
    read_next();
  }

  // Answers the line of `n` bytes (newline included) at the start of in_;
  // false for a blank line, which gets no answer.
  bool answer(std::size_t n) {
    std::string_view line(in_.data(), n - 1);
    if (line.ends_with('\r')) line.remove_suffix(1);  // tolerate CRLF clients
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      in_.erase(0, n);
      return false;
    }
    // The descriptors received so far came with this request.
    std::vector<UniqueFd> fds = std::move(fds_);
    fds_.clear();
    std::string out = to_line(dispatch(*state_, line, fds));
    in_.erase(0, n);
    write(std::move(out), /*close_after=*/false);
    return true;
  }

  void write(std::string data, bool close_after) {
    out_ = std::move(data);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this(), close_after](
                          const boost::system::error_code& ec, std::size_t) {
                        if (ec || self->state_->closed) return;
                        if (close_after) {
                          // Shut down sending first so the client reads the
                          // error and then EOF.
                          boost::system::error_code ignored;
                          self->socket_.shutdown(stream::socket::shutdown_send, ignored);
                          self->close();
                          return;
                        }
                        self->read_next();
                      });
  }

  stream::socket socket_;
  std::shared_ptr<ControlState> state_;
  std::string in_;
  std::string out_;
  std::vector<UniqueFd> fds_;  // received with the request being read
};

void accept_next(const std::shared_ptr<ControlState>& st) {
  st->acceptor.async_accept([st](const boost::system::error_code& ec, stream::socket socket) {
    if (st->closed || ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS leave the pending connection queued, so an
      // immediate retry would spin; back off and try again.
      spdlog::warn("control: accept on {}: {}; retrying", st->path.string(), ec.message());
      st->accept_retry.expires_after(std::chrono::milliseconds(100));
      st->accept_retry.async_wait([st](const boost::system::error_code& wait_ec) {
        if (!wait_ec && !st->closed) accept_next(st);
      });
      return;
    }
    auto session = std::make_shared<Session>(std::move(socket), st);
    std::erase_if(st->sessions, [](const auto& w) { return w.expired(); });
    st->sessions.push_back(session);
    session->start();
    accept_next(st);
  });
}

// mkdir -p with mode 0755 for what is missing: the socket itself is 0600, the
// directory only needs to be traversable. Directories that already exist are
// left as they are.
void make_dirs(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw std::system_error(ENOTDIR, std::generic_category(),
                              fmt::format("control socket directory {}", dir.string()));
    return;
  }
  if (errno != ENOENT) throw_errno(errno, fmt::format("stat {}", dir.string()));
  if (dir.has_relative_path() && dir.parent_path() != dir) make_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST) return;  // created concurrently; not ours to chmod
    throw_errno(errno, fmt::format("mkdir {}", dir.string()));
  }
  // mkdir's mode is filtered through the umask.
  check_errno(::chmod(dir.c_str(), 0755), fmt::format("chmod 0755 {}", dir.string()));
}

// Makes `path` free for bind(): absent, or a socket file nobody listens on
// (left by a daemon that crashed), which is removed.
void claim_path(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw_errno(errno, fmt::format("stat {}", path.string()));
  }
  if (!S_ISSOCK(st.st_mode))
    throw std::system_error(
        EEXIST, std::generic_category(),
        fmt::format("control socket path {} exists and is not a socket; refusing "
                    "to replace it",
                    path.string()));

  // Non-blocking: with a full backlog a live daemon's socket answers EAGAIN
  // instead of blocking us.
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) throw_errno(errno, "socket(AF_UNIX) to probe the control socket");
  const sockaddr_un addr = detail::unix_address(path);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
      errno == EAGAIN)
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            fmt::format("another daemon is listening on {}", path.string()));
  if (errno != ECONNREFUSED)
    throw_errno(errno, fmt::format("connect {} (checking for a running daemon)",
                                   path.string()));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw_errno(errno, fmt::format("unlink stale control socket {}", path.string()));
  spdlog::info("control: removed stale socket {}", path.string());
}

// Removes the socket file unless dismissed: a bind whose chmod or listen
// failed must not leave a file behind.
class SocketFileGuard {
 public:
  explicit SocketFileGuard(const std::filesystem::path& path) : path_(&path) {}
  SocketFileGuard(const SocketFileGuard&) = delete;
  SocketFileGuard& operator=(const SocketFileGuard&) = delete;
  ~SocketFileGuard() {
    if (path_) ::unlink(path_->c_str());
  }
  void dismiss() noexcept { path_ = nullptr; }

 private:
  const std::filesystem::path* path_;
};

}  // namespace

ControlServer::ControlServer(asio::io_context& io, std::filesystem::path socket_path)
    : state_(std::make_shared<ControlState>(io)) {
  auto& st = *state_;
  st.path = std::move(socket_path);
  const auto& path = st.path;
  const sockaddr_un addr = detail::unix_address(path);

  make_dirs(path.parent_path());
  claim_path(path);

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno(errno, "socket(AF_UNIX) for the control socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EADDRINUSE)  // another daemon bound it since claim_path
      throw std::system_error(EADDRINUSE, std::generic_category(),
                              fmt::format("another daemon is listening on {}", path.string()));
    throw_errno(errno, fmt::format("bind {}", path.string()));
  }
  SocketFileGuard guard(path);
  // Before listen(): until then connect() is refused whatever the mode, so
  // the socket is never reachable with the umask's looser permissions.
  check_errno(::chmod(path.c_str(), 0600), fmt::format("chmod 0600 {}", path.string()));
  struct stat sb {};
  check_errno(::stat(path.c_str(), &sb), fmt::format("stat {}", path.string()));
  st.dev = sb.st_dev;
  st.ino = sb.st_ino;
  check_errno(::listen(fd.get(), SOMAXCONN), fmt::format("listen {}", path.string()));

  boost::system::error_code ec;
  st.acceptor.assign(stream(), fd.get(), ec);
  if (ec) throw_errno(ec.value(), fmt::format("register {} with the io_context", path.string()));
  fd.release();  // the acceptor owns it now
  guard.dismiss();
  accept_next(state_);
}

ControlServer::~ControlServer() { shutdown(); }

ControlServer::ControlServer(ControlServer&& other) noexcept = default;

ControlServer& ControlServer::operator=(ControlServer&& other) noexcept {
  if (this != &other) {
    shutdown();
    state_ = std::move(other.state_);
  }
  return *this;
}

void ControlServer::on(std::string cmd, CommandHandler handler) {
  if (!handler)
    throw std::invalid_argument(fmt::format("control: command \"{}\": empty handler", cmd));
  on_with_fds(std::move(cmd), [handler = std::move(handler)](const json& args, std::vector<UniqueFd>&) {
    return handler(args);
  });
}

void ControlServer::on_with_fds(std::string cmd, FdCommandHandler handler) {
  if (cmd.empty()) throw std::invalid_argument("control: command name must not be empty");
  if (!handler)
    throw std::invalid_argument(fmt::format("control: command \"{}\": empty handler", cmd));
  if (state_->handlers.contains(cmd))
    throw std::invalid_argument(fmt::format("control: command \"{}\" registered twice", cmd));
  state_->handlers.emplace(std::move(cmd), std::move(handler));
}

std::vector<std::string> ControlServer::commands() const {
  std::vector<std::string> names;
  names.reserve(state_->handlers.size());
  for (const auto& [name, handler] : state_->handlers) names.push_back(name);
  return names;
}

const std::filesystem::path& ControlServer::socket_path() const { return state_->path; }

void ControlServer::shutdown() noexcept {
  if (!state_) return;  // moved from
  auto& st = *state_;
  st.closed = true;
  boost::system::error_code ignored;
  st.acceptor.close(ignored);
  try {
    st.accept_retry.cancel();  // throws only if the timer's service failed
    for (const auto& weak : st.sessions)
      if (auto session = weak.lock()) session->close();
  } catch (const std::exception& e) {
    spdlog::warn("control: closing {}: {}", st.path.string(), e.what());
  }
  st.sessions.clear();
  struct stat sb {};
  if (::lstat(st.path.c_str(), &sb) == 0 && sb.st_dev == st.dev && sb.st_ino == st.ino)
    ::unlink(st.path.c_str());
  state_.reset();
}

}  // namespace xdpgw::control
