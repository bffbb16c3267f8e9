#include "harness/run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fd.hpp"

extern char** environ;

namespace xdpgw::test {
namespace {

// posix_spawn_file_actions_t needs an explicit destroy on every path.
class SpawnFileActions {
 public:
  SpawnFileActions() {
    if (int rc = ::posix_spawn_file_actions_init(&actions_); rc != 0)
      throw_errno(rc, "posix_spawn_file_actions_init");
  }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
  ~SpawnFileActions() { ::posix_spawn_file_actions_destroy(&actions_); }

  posix_spawn_file_actions_t* get() noexcept { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

CmdResult run_cmd(std::string_view shell_cmd) {
  std::array<int, 2> pipe_fds{};
  // O_CLOEXEC: commands spawned concurrently by other threads must not inherit
  // our pipe, or our read would wait for them to exit.
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) throw_errno(errno, "pipe2 for run_cmd");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  SpawnFileActions actions;
  ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // dup2 clears O_CLOEXEC on the duplicates, so the child keeps them.
  ::posix_spawn_file_actions_adddup2(actions.get(), write_end.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), write_end.get(), STDERR_FILENO);

  std::string command(shell_cmd);
  std::string shell = "/bin/sh";
  std::string dash_c = "-c";
  std::array<char*, 4> argv = {shell.data(), dash_c.data(), command.data(), nullptr};

  pid_t child = -1;
  if (int rc = ::posix_spawn(&child, shell.c_str(), actions.get(), nullptr, argv.data(), environ);
      rc != 0) {
    throw_errno(rc, fmt::format("posix_spawn /bin/sh -c '{}'", shell_cmd));
  }
  write_end.reset();  // only the child writes now; EOF arrives when it exits

  CmdResult result;
  std::array<char, 4096> chunk{};
  for (;;) {
    ssize_t n = ::read(read_end.get(), chunk.data(), chunk.size());
    if (n > 0) {
      result.output.append(chunk.data(), static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }

  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw_errno(errno, fmt::format("waitpid for '{}'", shell_cmd));
  }
  result.exit_status = decode_wait_status(status);
  return result;
}

std::string run_ok(std::string_view shell_cmd) {
  CmdResult result = run_cmd(shell_cmd);
  if (!result.ok()) {
    throw std::runtime_error(fmt::format("command failed (exit status {}): {}\n{}",
                                         result.exit_status, shell_cmd, result.output));
  }
  return std::move(result.output);
}

std::string shell_quote(std::string_view arg) {
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted += "'\\''";  // close the quote, emit an escaped quote, reopen
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace xdpgw::test
