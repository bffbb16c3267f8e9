// Running shell commands (iproute2, ping, sysctl) from tests.
//
// Commands run through /bin/sh in the calling thread's network namespace, so
// a command started under a NetnsGuard runs inside that namespace.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace xdpgw::test {

struct CmdResult {
  // Exit code of the shell; 128 + signal number when it was killed by a signal.
  int exit_status = -1;
  // stdout and stderr, interleaved in the order the command wrote them.
  std::string output;

  bool ok() const noexcept { return exit_status == 0; }
};

// Runs `sh -c shell_cmd` with stdin from /dev/null and waits for it. Throws
// std::system_error only when the command cannot be started; a failing command
// is reported through exit_status. Do not start background processes that
// keep stdout open: run_cmd reads until every writer has closed it.
CmdResult run_cmd(std::string_view shell_cmd);

// Like run_cmd, but throws std::runtime_error naming the command, its exit
// status and its output when the exit status is not 0. Returns the output.
std::string run_ok(std::string_view shell_cmd);

// Quotes one argument for /bin/sh ('...' with embedded quotes escaped).
std::string shell_quote(std::string_view arg);

// The whole content of a file ("" when it cannot be read: for messages).
std::string read_file(const std::filesystem::path& path);

}  // namespace xdpgw::test
