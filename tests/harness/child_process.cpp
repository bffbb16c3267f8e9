#include "harness/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace xdpgw::test {
namespace {

ExitStatus decode(int wait_status) {
  ExitStatus status;
  if (WIFEXITED(wait_status)) status.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) status.signal = WTERMSIG(wait_status);
  return status;
}

// Only async-signal-safe calls between fork and exec: the test process may
// have other threads (a receiver thread, libbpf's), whose locks the child
// inherits in whatever state they were.
[[noreturn]] void exec_child(pid_t parent, int stdin_fd, int output_fd, char* const argv[]) {
  // If the test process dies without stopping us, stop too.
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(126);
  if (::dup2(stdin_fd, STDIN_FILENO) < 0 || ::dup2(output_fd, STDOUT_FILENO) < 0 ||
      ::dup2(output_fd, STDERR_FILENO) < 0) {
    ::_exit(126);
  }
  ::execv(argv[0], argv);
  // strerrordesc_np, unlike strerror, reads no locale: safe after fork.
  const char* reason = ::strerrordesc_np(errno);
  if (reason == nullptr) reason = "unknown error";
  static constexpr char kPrefix[] = "ChildProcess: exec failed: ";
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, kPrefix, sizeof(kPrefix) - 1);
  ignored = ::write(STDERR_FILENO, argv[0], std::strlen(argv[0]));
  ignored = ::write(STDERR_FILENO, ": ", 2);
  ignored = ::write(STDERR_FILENO, reason, std::strlen(reason));
  ignored = ::write(STDERR_FILENO, "\n", 1);
  ::_exit(127);
}

}  // namespace

std::string ExitStatus::describe() const {
  std::string text = exit_code
                         ? fmt::format("exit code {}", *exit_code)
                         : fmt::format("killed by signal {} ({})", signal, ::strsignal(signal));
  if (killed_after_timeout) text += " after ignoring the stop signal";
  return text;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::filesystem::path& output) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  // Everything the child needs is prepared before fork.
  std::vector<std::string> args = argv;
  std::vector<char*> arg_pointers;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  arg_pointers.push_back(nullptr);
  UniqueFd stdin_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!stdin_fd) throw_errno(errno, "open /dev/null");
  UniqueFd output_fd(::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!output_fd) throw_errno(errno, "open " + output.string());

  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) throw_errno(errno, "fork for " + argv.front());
  // dup2 in the child clears O_CLOEXEC on the copies; every other fd of
  // ours is O_CLOEXEC and does not reach the program.
  if (child == 0) exec_child(parent, stdin_fd.get(), output_fd.get(), arg_pointers.data());
  pid_ = child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), ended_(std::exchange(other.ended_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !ended_) terminate();
    pid_ = std::exchange(other.pid_, -1);
    ended_ = std::exchange(other.ended_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || ended_) return;
  try {
    const ExitStatus status = terminate();
    if (status.killed_after_timeout) {
      std::cerr << "xdpgw test harness: child " << pid_ << " " << status.describe() << '\n';
    }
  } catch (const std::exception& e) {
    std::cerr << "xdpgw test harness: cannot stop child " << pid_ << ": " << e.what() << '\n';
  }
}

std::optional<ExitStatus> ChildProcess::poll() {
  if (ended_ || pid_ <= 0) return ended_;
  int wait_status = 0;
  const pid_t reaped = ::waitpid(pid_, &wait_status, WNOHANG);
  if (reaped < 0 && errno != EINTR) throw_errno(errno, fmt::format("waitpid {}", pid_));
  if (reaped == pid_) ended_ = decode(wait_status);
  return ended_;
}

ExitStatus ChildProcess::terminate(int stop_signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) throw std::logic_error("ChildProcess::terminate on a moved-from object");
  if (poll()) return *ended_;
  ::kill(pid_, stop_signal);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll()) return *ended_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int wait_status = 0;
  while (::waitpid(pid_, &wait_status, 0) < 0) {
    if (errno != EINTR) throw_errno(errno, fmt::format("waitpid {} after SIGKILL", pid_));
  }
  ended_ = decode(wait_status);
  ended_->killed_after_timeout = true;
  return *ended_;
}

}  // namespace xdpgw::test
