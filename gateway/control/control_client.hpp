// Synchronous client for the control socket (see control_server.hpp for the
// protocol), used by the CLI: one connection per call.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace xdpgw::control {

// Every error call() reports is a std::runtime_error; these subclasses let
// the CLI tell the cases apart (e.g. for its exit code). Failing system
// calls other than the expected ones are std::system_error.

// Nothing listens on the socket path (no file, or a stale file).
struct DaemonNotRunning : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The daemon answered {"ok": false, "error": msg}; what() is msg, unchanged.
struct CommandFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// No complete answer within the timeout.
struct CallTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Sends {"cmd": cmd, "args": args} (null args are sent as {}) to the daemon
// listening on `socket_path`, waits at most `timeout` for the whole exchange
// (connect, send, answer) and returns the answer's "result" (null when
// absent). Throws DaemonNotRunning ("no xdpgw daemon listening on PATH (is it
// running?)"), CommandFailed, CallTimeout, std::runtime_error for an answer
// that is not a protocol response or a connection the daemon closed, and
// std::system_error for other failures (e.g. EACCES: the socket is 0600).
// `pass_fd` >= 0 is handed to the daemon with the request (SCM_RIGHTS; see
// ControlServer::on_with_fds): how `capture -w -` lets it write to our
// stdout.
nlohmann::json call(const std::string& socket_path, const std::string& cmd,
                    const nlohmann::json& args = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(10),
                    int pass_fd = -1);

}  // namespace xdpgw::control
