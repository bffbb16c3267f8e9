// Control socket server and client, Prometheus renderer and HTTP endpoint.
//
// Every server runs on a real io_context driven by a background thread, and
// every socket lives under a per-test directory /tmp/xgt<pid>-ctl-<n>/ that
// the fixture removes. Waits are bounded (receive timeouts, call timeouts,
// curl --max-time), never timed assertions.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/fd.hpp"
#include "control/control_client.hpp"
#include "control/control_server.hpp"
#include "control/metrics.hpp"

namespace xdpgw::control {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Upper bound for any single wait in these tests; reaching it is a failure,
// not a measurement.
constexpr auto kWait = 10s;

// ---- fixtures -------------------------------------------------------------

// /tmp/xgt<pid>-ctl-<n>/, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::path("/tmp") / fmt::format("xgt{}-ctl-{}", ::getpid(), counter++);
    fs::remove_all(path_);
    fs::create_directory(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs io.run() on a background thread until destroyed; the destructor
// stops the io_context and joins, so servers declared before it are only
// destroyed once no handler can run any more.
class IoThread {
 public:
  explicit IoThread(asio::io_context& io)
      : io_(io), work_(asio::make_work_guard(io)), thread_([&io] { io.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Runs fn on the io thread and waits (bounded) for it to finish: objects
  // served by the io_context are destroyed there while it runs.
  void run_on_io(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
  }

 private:
  asio::io_context& io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// A bare Unix stream client, for what call() deliberately cannot do: send
// broken or partial lines, pipeline requests, watch the connection close.
class RawClient {
 public:
  explicit RawClient(const fs::path& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "socket");
    timeval tv{.tv_sec = std::chrono::seconds(kWait).count(), .tv_usec = 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_un addr{.sun_family = AF_UNIX};
    path.native().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::system_error(errno, std::generic_category(), "connect " + path.string());
  }

  int fd() const { return fd_.get(); }

  // Sends everything; false when the server closed the connection first.
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EPIPE || errno == ECONNRESET) return false;
        throw std::system_error(errno, std::generic_category(), "send");
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The next line without its newline; throws on timeout or close.
  std::string read_line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
      if (n == 0) throw std::runtime_error("connection closed before a full line");
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "recv (timeout?)");
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  json read_json() { return json::parse(read_line()); }

  // Everything until the server closes the connection. A Unix socket closed
  // while our unread request bytes sat in its queue reports ECONNRESET after
  // the data; both mean "closed". Throws on timeout.
  std::string read_to_close() {
    std::string out = std::exchange(buf_, {});
    for (;;) {
      char chunk[4096];
      ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return out;
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "recv (timeout?)");
      }
      out.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  UniqueFd fd_;
  std::string buf_;
};

// A Unix socket bound at `path`, listening (or not) but never accepting:
// connect() succeeds through the backlog and nothing ever answers.
UniqueFd bound_socket(const fs::path& path, bool listen) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{.sun_family = AF_UNIX};
  path.native().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw std::system_error(errno, std::generic_category(), "bind " + path.string());
  if (listen && ::listen(fd.get(), 8) != 0)
    throw std::system_error(errno, std::generic_category(), "listen " + path.string());
  return fd;
}

mode_t file_mode(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    throw std::system_error(errno, std::generic_category(), "stat " + path.string());
  return st.st_mode;
}

std::string request(std::string_view cmd, const json& args = json::object()) {
  return json{{"cmd", cmd}, {"args", args}}.dump() + "\n";
}

// A running server with a few commands, on a background io thread.
class ControlTest : public ::testing::Test {
 protected:
  ControlTest() : server_(std::in_place, io_, dir_.path() / "ctl.sock") {
    server_->on("echo", [](const json& args) { return args; });
    server_->on("status", [](const json&) {
      return json{{"instance", "router"}, {"ports", 2}};
    });
    server_->on("fail", [](const json&) -> json { throw std::runtime_error("disk on fire"); });
    server_->on("count", [this](const json& args) {
      ++served_;
      return json{{"n", args.at("n").get<int>() * 2}};
    });
    server_->on("served", [this](const json&) { return served_; });
    // Writes args.text into the descriptor that came with the request.
    server_->on_with_fds("write", [](const json& args, std::vector<UniqueFd>& fds) {
      if (fds.size() != 1) throw std::runtime_error(fmt::format("{} descriptors", fds.size()));
      const std::string text = args.at("text").get<std::string>();
      if (::write(fds[0].get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw std::runtime_error("short write");
      return json{{"fds", fds.size()}};
    });
    io_thread_.emplace(io_);
  }

  fs::path socket_path() const { return dir_.path() / "ctl.sock"; }
  std::string path_str() const { return socket_path().string(); }

  asio::io_context io_;
  TempDir dir_;
  std::optional<ControlServer> server_;
  int served_ = 0;  // touched only by handlers, on the io thread
  // Last: destroyed (stopped and joined) before the server and io_context.
  std::optional<IoThread> io_thread_;
};

// ---- ControlServer ---------------------------------------------------------

TEST_F(ControlTest, SocketFileIsASocketWithMode0600) {
  mode_t mode = file_mode(socket_path());
  EXPECT_TRUE(S_ISSOCK(mode));
  EXPECT_EQ(mode & 07777, 0600) << std::oct << (mode & 07777);
}

TEST_F(ControlTest, RegisteredCommandAnswers) {
  EXPECT_EQ(call(path_str(), "status"), (json{{"instance", "router"}, {"ports", 2}}));
  EXPECT_EQ(server_->commands(),
            (std::vector<std::string>{"count", "echo", "fail", "served", "status", "write"}));
}

// A descriptor sent with a request (how `capture -w -` hands the daemon its
// stdout) reaches the handler registered with on_with_fds; the daemon's
// copy is closed afterwards, so the reader sees the end.
TEST_F(ControlTest, DescriptorSentWithARequestReachesItsHandler) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]), write_end(p[1]);
  EXPECT_EQ(call(path_str(), "write", {{"text", "pcapng"}}, std::chrono::seconds(10), write_end.get()),
            (json{{"fds", 1}}));
  write_end.reset();
  std::string got;
  char buf[64];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof(buf))) > 0;) got.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(got, "pcapng") << "and EOF: the server kept no copy";
  // Without one the handler sees none; a plain handler ignores one.
  EXPECT_THROW(call(path_str(), "write", {{"text", "x"}}), CommandFailed);
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r2(p[0]), w2(p[1]);
  EXPECT_EQ(call(path_str(), "status", {}, std::chrono::seconds(10), w2.get()),
            (json{{"instance", "router"}, {"ports", 2}}));
  w2.reset();
  EXPECT_EQ(::read(r2.get(), buf, sizeof(buf)), 0) << "the unused descriptor was closed";
}

TEST_F(ControlTest, ArgsArePassedThrough) {
  json args = {{"name", "eth0 \"quoted\" \u00e9"},
               {"list", {1, 2.5, nullptr, true}},
               {"nested", {{"deep", {{"x", -1}}}}}};
  EXPECT_EQ(call(path_str(), "echo", args), args);
}

TEST_F(ControlTest, MissingOrNullArgsReachTheHandlerAsEmptyObject) {
  RawClient c(socket_path());
  ASSERT_TRUE(c.send("{\"cmd\":\"echo\"}\n{\"cmd\":\"echo\",\"args\":null}\n"));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", json::object()}}));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", json::object()}}));
}

TEST_F(ControlTest, HandlerExceptionBecomesErrorResponse) {
  RawClient c(socket_path());
  ASSERT_TRUE(c.send(request("fail")));
  EXPECT_EQ(c.read_json(), (json{{"ok", false}, {"error", "disk on fire"}}));

  try {
    call(path_str(), "fail");
    FAIL() << "call() returned for a failing command";
  } catch (const CommandFailed& e) {
    EXPECT_STREQ(e.what(), "disk on fire");
  }
}

TEST_F(ControlTest, UnknownCommandListsKnownCommands) {
  try {
    call(path_str(), "reboot");
    FAIL() << "call() returned for an unknown command";
  } catch (const CommandFailed& e) {
    EXPECT_STREQ(e.what(),
                 "unknown command \"reboot\"; known commands: count, echo, fail, served, "
                 "status, write");
  }
}

TEST_F(ControlTest, MalformedLinesGetErrorsAndConnectionStaysUsable) {
  RawClient c(socket_path());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"this is not json", "malformed request (expected one JSON object per line): parse error"},
      {"[1, 2]", "malformed request: expected a JSON object, got array"},
      {"{\"args\": {}}", "malformed request: \"cmd\" must be a string"},
      {"{\"cmd\": 7}", "malformed request: \"cmd\" must be a string"},
      {"{\"cmd\": \"echo\", \"args\": [1]}", "malformed request: \"args\" must be an object"},
      {"{\"cmd\": \"echo\"", "malformed request (expected one JSON object per line)"},
  };
  for (const auto& [line, error] : cases) {
    SCOPED_TRACE(line);
    ASSERT_TRUE(c.send(line + "\n"));
    json r = c.read_json();
    EXPECT_EQ(r.at("ok"), false);
    EXPECT_THAT(r.at("error").get<std::string>(), StartsWith(error));
  }
  // Blank lines are skipped, not answered; the next real request is.
  ASSERT_TRUE(c.send("\n  \n" + request("echo", {{"still", "alive"}})));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", {{"still", "alive"}}}}));
}

TEST_F(ControlTest, TwoRequestsOnOneConnectionAnswerInOrder) {
  RawClient c(socket_path());
  // One write carrying both lines: the server must split them itself.
  ASSERT_TRUE(c.send(request("echo", {{"i", 1}}) + request("echo", {{"i", 2}})));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", {{"i", 1}}}}));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", {{"i", 2}}}}));
  // CRLF line endings are accepted too.
  ASSERT_TRUE(c.send("{\"cmd\":\"echo\",\"args\":{\"i\":3}}\r\n"));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", {{"i", 3}}}}));
}

TEST_F(ControlTest, TwentyConcurrentClients) {
  constexpr int kClients = 20;
  constexpr int kCallsEach = 10;
  std::mutex mu;
  std::vector<std::string> errors;
  {
    std::vector<std::jthread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        for (int i = 0; i < kCallsEach; ++i) {
          int n = c * 1000 + i;
          try {
            json r = call(path_str(), "count", {{"n", n}});
            if (r != json{{"n", 2 * n}}) {
              std::lock_guard lock(mu);
              errors.push_back(fmt::format("client {}: got {}", c, r.dump()));
            }
          } catch (const std::exception& e) {
            std::lock_guard lock(mu);
            errors.push_back(fmt::format("client {}: {}", c, e.what()));
          }
        }
      });
    }
  }  // jthreads join here
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(call(path_str(), "served"), kClients * kCallsEach);
}

TEST_F(ControlTest, StalledClientsDoNotBlockOthers) {
  // One client stops mid-line...
  RawClient partial(socket_path());
  ASSERT_TRUE(partial.send("{\"cmd\": \"ech"));
  // ...another pipelines requests and never reads the answers, until the
  // kernel refuses more (the server is then stuck writing to it).
  RawClient deaf(socket_path());
  const std::string req = request("echo", {{"pad", std::string(4096, 'p')}});
  bool full = false;
  for (int i = 0; i < 100000 && !full; ++i) {
    ssize_t n = ::send(deaf.fd(), req.data(), req.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
      full = true;
    }
  }
  ASSERT_TRUE(full) << "the deaf client's socket never filled up";
  // A well-behaved client is still served.
  EXPECT_EQ(call(path_str(), "echo", {{"x", 1}}), (json{{"x", 1}}));
  // And the half-sent request completes normally.
  ASSERT_TRUE(partial.send("o\"}\n"));
  EXPECT_EQ(partial.read_json(), (json{{"ok", true}, {"result", json::object()}}));
}

TEST_F(ControlTest, LineOfExactlyTheLimitIsAccepted) {
  const std::string head = "{\"cmd\":\"echo\",\"args\":{\"pad\":\"";
  const std::string tail = "\"}}";
  const std::string pad(kMaxRequestLine - head.size() - tail.size(), 'x');
  const std::string line = head + pad + tail;
  ASSERT_EQ(line.size(), kMaxRequestLine);
  RawClient c(socket_path());
  ASSERT_TRUE(c.send(line + "\n"));
  EXPECT_EQ(c.read_json(), (json{{"ok", true}, {"result", {{"pad", pad}}}}));
}

TEST_F(ControlTest, OverLongLineGetsErrorAndConnectionIsClosed) {
  RawClient c(socket_path());
  // One byte over the limit (newline excluded). The server may close while
  // we are still sending; that is the behaviour under test.
  c.send(std::string(kMaxRequestLine + 1, 'x') + "\n");
  std::string rest = c.read_to_close();
  ASSERT_FALSE(rest.empty());
  ASSERT_EQ(rest.back(), '\n');
  rest.pop_back();
  ASSERT_EQ(rest.find('\n'), std::string::npos) << "more than one line: " << rest;
  EXPECT_EQ(json::parse(rest),
            (json{{"ok", false},
                  {"error", "request line exceeds 65536 bytes; closing the connection"}}));
  // The server itself is unaffected.
  EXPECT_EQ(call(path_str(), "echo", {{"after", true}}), (json{{"after", true}}));
}

TEST_F(ControlTest, SecondServerOnLiveSocketThrowsAndLeavesTheFirstAlone) {
  asio::io_context other_io;
  try {
    ControlServer second(other_io, socket_path());
    FAIL() << "a second server bound a live daemon's socket";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_THAT(e.what(), HasSubstr("another daemon is listening on " + path_str()));
  }
  EXPECT_TRUE(S_ISSOCK(file_mode(socket_path())));
  EXPECT_EQ(call(path_str(), "echo", {{"first", "ok"}}), (json{{"first", "ok"}}));
}

TEST_F(ControlTest, DestroyingTheServerRemovesTheSocketFile) {
  ASSERT_EQ(call(path_str(), "echo", {{"x", 1}}), (json{{"x", 1}}));
  RawClient open_connection(socket_path());
  io_thread_->run_on_io([&] { server_.reset(); });
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket_path())));
  // Its open connection was closed too.
  EXPECT_EQ(open_connection.read_to_close(), "");
  EXPECT_THROW(call(path_str(), "echo"), DaemonNotRunning);
}

// ---- ControlServer construction, without a running io thread --------------

TEST(ControlServerSetup, CreatesMissingParentDirectoriesWithMode0755) {
  TempDir dir;
  const auto path = dir.path() / "run" / "xdpgw" / "ctl.sock";
  const mode_t old_umask = ::umask(077);  // mkdir alone would give 0700
  asio::io_context io;
  std::optional<ControlServer> server;
  try {
    server.emplace(io, path);
  } catch (...) {
    ::umask(old_umask);
    throw;
  }
  ::umask(old_umask);
  EXPECT_EQ(file_mode(dir.path() / "run") & 07777, 0755);
  EXPECT_EQ(file_mode(dir.path() / "run" / "xdpgw") & 07777, 0755);
  EXPECT_EQ(file_mode(path) & 07777, 0600);
}

TEST(ControlServerSetup, StaleSocketFileIsReplaced) {
  TempDir dir;
  const auto path = dir.path() / "ctl.sock";
  // A crashed daemon leaves its socket file behind with nobody listening.
  bound_socket(path, /*listen=*/false);  // closed again at once
  ASSERT_TRUE(S_ISSOCK(file_mode(path)));

  asio::io_context io;
  std::optional<ControlServer> server(std::in_place, io, path);
  server->on("ping", [](const json&) { return "pong"; });
  IoThread io_thread(io);
  EXPECT_EQ(call(path.string(), "ping"), "pong");
  EXPECT_EQ(file_mode(path) & 07777, 0600);
  io_thread.run_on_io([&] { server.reset(); });
}

TEST(ControlServerSetup, RefusesToReplaceSomethingThatIsNotASocket) {
  TempDir dir;
  const auto path = dir.path() / "ctl.sock";
  std::ofstream(path) << "precious";
  asio::io_context io;
  try {
    ControlServer server(io, path);
    FAIL() << "a regular file was replaced";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EEXIST);
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
  }
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(ControlServerSetup, DestructorLeavesAFileItDoesNotOwn) {
  TempDir dir;
  const auto path = dir.path() / "ctl.sock";
  asio::io_context io;
  {
    ControlServer server(io, path);
    // Someone removes our socket and puts their own file there.
    fs::remove(path);
    std::ofstream(path) << "theirs";
  }
  EXPECT_TRUE(fs::is_regular_file(path));
}

TEST(ControlServerSetup, SocketFileRemovedOnDestruction) {
  TempDir dir;
  const auto path = dir.path() / "ctl.sock";
  asio::io_context io;
  {
    ControlServer server(io, path);
    ASSERT_TRUE(S_ISSOCK(file_mode(path)));
    ControlServer moved = std::move(server);  // ownership moves, the file stays
    ASSERT_TRUE(S_ISSOCK(file_mode(path)));
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(path)));
}

TEST(ControlServerSetup, DuplicateCommandIsAWiringError) {
  TempDir dir;
  asio::io_context io;
  ControlServer server(io, dir.path() / "ctl.sock");
  server.on("status", [](const json&) { return 1; });
  EXPECT_THROW(server.on("status", [](const json&) { return 2; }), std::invalid_argument);
  EXPECT_THROW(server.on("", [](const json&) { return 3; }), std::invalid_argument);
}

// ---- client errors ---------------------------------------------------------

TEST(ControlClient, NoDaemonMentionsThePath) {
  TempDir dir;
  const auto path = (dir.path() / "absent.sock").string();
  try {
    call(path, "status");
    FAIL() << "call() returned without a daemon";
  } catch (const DaemonNotRunning& e) {
    EXPECT_EQ(std::string(e.what()),
              "no xdpgw daemon listening on " + path + " (is it running?)");
  }
}

TEST(ControlClient, StaleSocketFileMeansNoDaemon) {
  TempDir dir;
  const auto path = dir.path() / "stale.sock";
  bound_socket(path, /*listen=*/false);
  try {
    call(path.string(), "status");
    FAIL() << "call() returned without a daemon";
  } catch (const DaemonNotRunning& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
  }
}

TEST(ControlClient, TimesOutWhenTheServerNeverAnswers) {
  TempDir dir;
  const auto path = dir.path() / "mute.sock";
  UniqueFd listener = bound_socket(path, /*listen=*/true);  // never accepts
  try {
    call(path.string(), "status", {}, 200ms);
    FAIL() << "call() returned without an answer";
  } catch (const CallTimeout& e) {
    EXPECT_EQ(std::string(e.what()),
              "no answer to \"status\" from the xdpgw daemon on " + path.string() +
                  " within 200 ms");
  }
}

TEST(ControlClient, ConnectionClosedWithoutAnswerIsAnError) {
  TempDir dir;
  const auto path = dir.path() / "rude.sock";
  UniqueFd listener = bound_socket(path, /*listen=*/true);
  std::jthread rude([&] {
    // Bounded: if call() never connected, give up instead of hanging the join.
    pollfd p{.fd = listener.get(), .events = POLLIN};
    if (::poll(&p, 1, std::chrono::milliseconds(kWait).count()) != 1) return;
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    char buf[256];
    [[maybe_unused]] auto n = ::recv(conn.get(), buf, sizeof(buf), 0);  // then close
  });
  try {
    call(path.string(), "status", {}, kWait);
    FAIL() << "call() returned without an answer";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("closed the connection without answering"));
  }
}

// ---- render_prometheus -----------------------------------------------------

TEST(RenderPrometheus, ExactText) {
  std::vector<MetricFamily> families = {
      {.name = "xdpgw_packets_total",
       .help = "Packets by verdict reason.",
       .type = "counter",
       .samples = {{{{"reason", "fwd_redirect"}, {"instance", "router"}}, 123456789},
                   {{{"reason", "pass_no_neigh"}, {"instance", "router"}}, 0}}},
      {.name = "xdpgw_up",
       .help = "1 while running; help escapes \\ and\nnewlines, not \"quotes\".",
       .type = "gauge",
       .samples = {{{}, 1}}},
      {.name = "xdpgw:ratio",
       .help = "",
       .type = "gauge",
       .samples = {{{{"path", "C:\\dir \"q\"\nnext"}}, 0.25}}},
      {.name = "xdpgw_empty", .help = "No samples yet.", .type = "counter", .samples = {}},
  };
  EXPECT_EQ(render_prometheus(families),
            "# HELP xdpgw_packets_total Packets by verdict reason.\n"
            "# TYPE xdpgw_packets_total counter\n"
            "xdpgw_packets_total{reason=\"fwd_redirect\",instance=\"router\"} 123456789\n"
            "xdpgw_packets_total{reason=\"pass_no_neigh\",instance=\"router\"} 0\n"
            "# HELP xdpgw_up 1 while running; help escapes \\\\ and\\nnewlines, not "
            "\"quotes\".\n"
            "# TYPE xdpgw_up gauge\n"
            "xdpgw_up 1\n"
            "# TYPE xdpgw:ratio gauge\n"
            "xdpgw:ratio{path=\"C:\\\\dir \\\"q\\\"\\nnext\"} 0.25\n"
            "# HELP xdpgw_empty No samples yet.\n"
            "# TYPE xdpgw_empty counter\n");
}

TEST(RenderPrometheus, ValueFormatting) {
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "0"},
      {-0.0, "0"},
      {42, "42"},
      {-7, "-7"},
      {1e15, "1000000000000000"},
      {9007199254740992.0, "9007199254740992"},         // 2^53
      {0x1p63, "9223372036854775808"},                  // past int64, still integral
      {18446744073709549568.0, "18446744073709549568"}, // largest double below 2^64
      {1.5, "1.5"},
      {0.1, "0.1"},
      {-2.75, "-2.75"},
      {1e20, "1e+20"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
  };
  for (const auto& [value, text] : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(render_prometheus({{.name = "m", .type = "gauge", .samples = {{{}, value}}}}),
              "# TYPE m gauge\nm " + text + "\n");
  }
}

TEST(RenderPrometheus, InvalidInputThrows) {
  auto family = [](std::string name, std::string type = "gauge",
                   std::vector<std::pair<std::string, std::string>> labels = {}) {
    return MetricFamily{.name = std::move(name),
                        .type = std::move(type),
                        .samples = {{std::move(labels), 1}}};
  };
  for (std::string bad : {"", "1abc", "a-b", "a b", "x.y", "ünï"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(render_prometheus({family(bad)}), std::invalid_argument);
  }
  for (std::string bad : {"", "1x", "a-b", "a:b", "__reserved"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(render_prometheus({family("m", "gauge", {{bad, "v"}})}),
                 std::invalid_argument);
  }
  EXPECT_THROW(render_prometheus({family("m", "histogram")}), std::invalid_argument);
  EXPECT_THROW(render_prometheus({family("m"), family("m")}), std::invalid_argument);
  EXPECT_THROW(render_prometheus({family("m", "gauge", {{"a", "1"}, {"a", "2"}})}),
               std::invalid_argument);
  try {
    render_prometheus({family("bad-name")});
    FAIL() << "render_prometheus() accepted the metric name \"bad-name\"";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "invalid metric name \"bad-name\"");
  }
  // Valid edge cases do not throw.
  EXPECT_NO_THROW(render_prometheus({family(":a_b:9"), family("_x", "counter", {{"_l9", ""}})}));
}

// ---- MetricsServer, scraped by curl ----------------------------------------

struct CommandResult {
  int status = -1;  // exit status, or -1 if not exited normally
  std::string output;
};

// Runs a shell command, stdout and stderr together.
CommandResult run(const std::string& command) {
  CommandResult r;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((command + " 2>&1").c_str(), "r"),
                                             ::pclose);
  if (!pipe) throw std::system_error(errno, std::generic_category(), "popen " + command);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof(buf), pipe.get())) r.output.append(buf, n);
  int status = ::pclose(pipe.release());
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (r.status == 127)
    ADD_FAILURE() << "command not found (run scripts/install-deps.sh): " << command;
  return r;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

std::vector<MetricFamily> sample_families() {
  return {
      {.name = "xdpgw_verdict_packets_total",
       .help = "Packets by verdict reason.",
       .type = "counter",
       .samples = {{{{"reason", "fwd_redirect"}}, 1234},
                   {{{"reason", "pass_no_neigh"}}, 5}}},
      {.name = "xdpgw_port_up",
       .help = "1 when the port is attached; label values may hold \\ \" and newlines.",
       .type = "gauge",
       .samples = {{{{"port", "eth0"}, {"note", "a\\b \"c\"\nd"}}, 1},
                   {{{"port", "eth1"}, {"note", ""}}, 0}}},
      {.name = "xdpgw_load_ratio",
       .help = "A non-integral gauge.",
       .type = "gauge",
       .samples = {{{}, 0.125}}},
  };
}

class MetricsTest : public ::testing::Test {
 protected:
  // Starts the server with `source` on `address`:0 and the io thread.
  void start(MetricsSource source, std::string_view address = "127.0.0.1") {
    server_.emplace(io_, address, 0, std::move(source));
    io_thread_.emplace(io_);
  }

  std::string url(std::string_view path) const {
    auto ep = server_->local_endpoint();
    return ep.address().is_v6()
               ? fmt::format("http://[{}]:{}{}", ep.address().to_string(), ep.port(), path)
               : fmt::format("http://{}:{}{}", ep.address().to_string(), ep.port(), path);
  }

  // One request with curl; headers and body go to files in the temp dir.
  HttpReply fetch(std::string_view path, std::string_view extra_args = "") {
    const auto head = dir_.path() / "headers";
    const auto body = dir_.path() / "body";
    auto r = run(fmt::format("curl -sS -g --max-time 10 -D '{}' -o '{}' {} '{}'", head.string(),
                             body.string(), extra_args, url(path)));
    EXPECT_EQ(r.status, 0) << r.output;
    HttpReply reply;
    std::istringstream lines(slurp(head));
    std::string line;
    if (std::getline(lines, line)) {
      std::istringstream status_line(line);
      std::string version;
      status_line >> version >> reply.status;
    }
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      reply.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    reply.body = slurp(body);
    return reply;
  }

  asio::io_context io_;
  TempDir dir_;
  std::optional<MetricsServer> server_;
  std::optional<IoThread> io_thread_;  // last: joined first
};

TEST_F(MetricsTest, BindsAnEphemeralPort) {
  start(sample_families);
  EXPECT_NE(server_->port(), 0);
  EXPECT_EQ(server_->local_endpoint().address().to_string(), "127.0.0.1");
}

TEST_F(MetricsTest, ScrapeServesTheRenderedSource) {
  start(sample_families);
  HttpReply r = fetch("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.body, render_prometheus(sample_families()));
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
}

TEST_F(MetricsTest, SourceIsCalledOnEveryScrape) {
  int scrapes = 0;  // io thread only
  start([&] {
    ++scrapes;
    return std::vector<MetricFamily>{
        {.name = "scrapes_total", .type = "counter", .samples = {{{}, double(scrapes)}}}};
  });
  EXPECT_EQ(fetch("/metrics").body, "# TYPE scrapes_total counter\nscrapes_total 1\n");
  EXPECT_EQ(fetch("/metrics").body, "# TYPE scrapes_total counter\nscrapes_total 2\n");
}

TEST_F(MetricsTest, PassesPromtoolCheckMetrics) {
  start(sample_families);
  HttpReply r = fetch("/metrics");
  ASSERT_EQ(r.status, 200);
  auto r2 = run(fmt::format("promtool check metrics < '{}'", (dir_.path() / "body").string()));
  EXPECT_EQ(r2.status, 0) << r2.output;
  EXPECT_EQ(r2.output, "");  // lint findings are printed even when they are only warnings
}

TEST_F(MetricsTest, IndexPageLinksMetrics) {
  start(sample_families);
  HttpReply r = fetch("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers["content-type"], StartsWith("text/html"));
  EXPECT_THAT(r.body, HasSubstr("<a href=\"/metrics\">"));
}

TEST_F(MetricsTest, UnknownPathIs404) {
  start(sample_families);
  HttpReply r = fetch("/metricsx");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("/metricsx not found"));
}

TEST_F(MetricsTest, NonGetIs405) {
  start(sample_families);
  for (std::string method : {"POST", "PUT", "DELETE"}) {
    SCOPED_TRACE(method);
    HttpReply r = fetch("/metrics", "-X " + method + " --data x");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.headers["allow"], "GET");
  }
}

TEST_F(MetricsTest, ThrowingSourceIs500WithTheMessage) {
  start([]() -> std::vector<MetricFamily> { throw std::runtime_error("map read failed: EPERM"); });
  HttpReply r = fetch("/metrics");
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, HasSubstr("map read failed: EPERM"));
}

TEST_F(MetricsTest, InvalidMetricFromSourceIs500) {
  start([] { return std::vector<MetricFamily>{{.name = "bad name", .type = "gauge"}}; });
  HttpReply r = fetch("/metrics");
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, HasSubstr("invalid metric name \"bad name\""));
}

TEST_F(MetricsTest, KeepAliveReusesTheConnection) {
  start(sample_families);
  // Two transfers in one curl run: the second reports zero new connections
  // when the first connection was kept open and reused.
  auto r = run(fmt::format(
      "curl -sS --max-time 10 -o /dev/null -o /dev/null -w '%{{http_code}} "
      "%{{num_connects}}\\n' '{}' '{}'",
      url("/metrics"), url("/metrics")));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "200 1\n200 0\n");
}

TEST_F(MetricsTest, OversizedRequestHeaderIsRefused) {
  start(sample_families);
  HttpReply r = fetch("/metrics", fmt::format("-H 'X-Padding: {}'", std::string(16 * 1024, 'p')));
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.headers["connection"], "close");
}

TEST_F(MetricsTest, ServesOverIPv6) {
  start(sample_families, "::1");
  EXPECT_TRUE(server_->local_endpoint().address().is_v6());
  HttpReply r = fetch("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, render_prometheus(sample_families()));
}

TEST(MetricsServerSetup, BadAddressAndBusyPortThrow) {
  asio::io_context io;
  EXPECT_THROW(MetricsServer(io, "localhost", 0, sample_families), std::invalid_argument);
  EXPECT_THROW(MetricsServer(io, "10.0.0.300", 0, sample_families), std::invalid_argument);

  MetricsServer first(io, "127.0.0.1", 0, sample_families);
  try {
    MetricsServer second(io, "127.0.0.1", first.port(), sample_families);
    FAIL() << "bound a port already in use";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_THAT(e.what(), HasSubstr(fmt::format("bind metrics listener 127.0.0.1:{}",
                                                first.port())));
  }
}

TEST(MetricsServerSetup, DestructionClosesTheListener) {
  asio::io_context io;
  uint16_t port = 0;
  {
    MetricsServer server(io, "127.0.0.1", 0, sample_families);
    port = server.port();
  }
  // The port is free again: binding it succeeds.
  EXPECT_NO_THROW(MetricsServer(io, "127.0.0.1", port, sample_families));
}

}  // namespace
}  // namespace xdpgw::control
