// A long-running program started by a test (a daemon under test, a traffic
// generator), stopped and reaped on destruction.
//
//   ChildProcess daemon({"/path/to/xdpgw", "run", "-c", "gw.toml"}, log_path);
//   ...
//   ExitStatus status = daemon.terminate();  // SIGTERM, bounded wait, SIGKILL
//   EXPECT_TRUE(status.clean()) << status.describe();
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xdpgw::test {

struct ExitStatus {
  std::optional<int> exit_code;  // set when the process exited by itself
  int signal = 0;                // the signal that ended it, 0 if it exited
  bool killed_after_timeout = false;  // ignored the stop signal; SIGKILLed

  bool clean() const noexcept { return exit_code == 0 && !killed_after_timeout; }
  // "exit code 0", "killed by signal 9 (Killed) after ignoring the stop signal", ...
  std::string describe() const;
};

class ChildProcess {
 public:
  // Starts argv[0] (a path, not searched in PATH) with argv, stdin from
  // /dev/null and stdout + stderr appended to `output` (created if missing).
  // Inherits the calling thread's network namespace. The child is sent
  // SIGTERM should the test process die first, so a crashed test does not
  // leave it running (PR_SET_PDEATHSIG: strictly, when the thread that
  // constructed this object ends, so construct it on a thread that outlives
  // it, e.g. the test's). Throws std::system_error when it cannot be
  // started; a failing exec shows up as exit code 127 with the reason in
  // `output`.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& output);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // terminate() unless it has already ended and been reaped.
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }

  // Reaps the child if it has ended; its status then, nullopt while it runs.
  std::optional<ExitStatus> poll();

  // Sends `stop_signal`, waits up to `grace` for the child to end, then
  // SIGKILLs it and waits for that. Returns how it ended; calling it again
  // (or after poll() saw the end) returns the same status.
  ExitStatus terminate(int stop_signal = SIGTERM,
                       std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  pid_t pid_ = -1;                  // -1 once moved from
  std::optional<ExitStatus> ended_;  // set once reaped
};

}  // namespace xdpgw::test
