// The daemon's control socket: newline-delimited JSON over a Unix stream
// socket, served asynchronously on the daemon's io_context.
//
//   request   {"cmd": "status", "args": {...}}\n        ("args" optional)
//   response  {"ok": true, "result": ...}\n
//             {"ok": false, "error": "message"}\n
//
// A connection may carry any number of requests; each gets exactly one
// response, in order. Blank lines are ignored. A line that is not a JSON
// request object gets an error response and the connection stays usable; a
// line longer than kMaxRequestLine gets an error response and the connection
// is closed (the rest of the stream cannot be resynchronised cheaply, and a
// client sending that much is broken or hostile).
//
// A request may carry file descriptors (SCM_RIGHTS on its bytes; at most
// kMaxRequestFds): they go to a handler registered with on_with_fds(), and
// are closed after any other.
#pragma once

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.hpp"

namespace xdpgw::control {

// Longest request line accepted, newline excluded.
inline constexpr std::size_t kMaxRequestLine = 64 * 1024;
// File descriptors one read of a request takes; more are closed by the kernel.
inline constexpr std::size_t kMaxRequestFds = 4;

// Receives the request's "args" (an object; {} when the request had none)
// and returns the response's "result". Throwing any std::exception answers
// {"ok": false, "error": e.what()}. Runs on the io_context's thread, so it
// must not block: the whole daemon waits for it.
using CommandHandler = std::function<nlohmann::json(const nlohmann::json& args)>;
// The same, also given the descriptors that came with the request (empty
// when none did); what it leaves in `fds` is closed afterwards.
using FdCommandHandler = std::function<nlohmann::json(const nlohmann::json& args, std::vector<UniqueFd>& fds)>;

namespace detail {
struct ControlState;
}

// Owns the listening socket and its file. Move-only.
//
// Threading: handlers, accepts and reads all run on the io_context's thread.
// Construct, call on() and destroy either on that thread or while the
// io_context is not running (e.g. before io.run(), or after it returned).
class ControlServer {
 public:
  // Creates the parent directory (mode 0755) if missing, removes a stale
  // socket file at `socket_path` (one nobody listens on), binds, restricts
  // the socket file to mode 0600 before listening, and starts accepting.
  // Throws std::system_error naming the call and path on failure, including
  // EADDRINUSE "another daemon is listening on PATH" when a live daemon owns
  // the path, and EEXIST when the path is something other than a socket
  // (never removed: it is not ours).
  ControlServer(boost::asio::io_context& io, std::filesystem::path socket_path);

  // Stops accepting, closes every connection and removes the socket file if
  // it is still the one this server bound.
  ~ControlServer();

  ControlServer(ControlServer&&) noexcept;
  ControlServer& operator=(ControlServer&&) noexcept;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Registers the handler for `cmd`. Throws std::invalid_argument for an
  // empty name or a name already registered (two owners of one command is a
  // wiring bug).
  void on(std::string cmd, CommandHandler handler);
  void on_with_fds(std::string cmd, FdCommandHandler handler);

  // Registered command names, sorted.
  std::vector<std::string> commands() const;

  const std::filesystem::path& socket_path() const;

 private:
  void shutdown() noexcept;

  std::shared_ptr<detail::ControlState> state_;
};

}  // namespace xdpgw::control
