// HealthChecker against real sockets: TCP listeners and a small HTTP server
// that the test opens, closes, or makes answer 200/500/nothing, all on the
// same io_context as the checker (one thread, like the daemon).
//
// Counts, never time: every assertion is about how many checks completed
// when a transition was reported (the status snapshot taken inside the
// callback). Waiting uses a generous deadline that only turns a hang into a
// failure; intervals are 20 ms so the suite stays quick.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/netns.hpp"
#include "lb/health.hpp"
#include "lb/health_config.hpp"

namespace xdpgw::lb {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Only turns a hang into a failure; never a performance bound.
constexpr auto kDeadline = 30s;

// A listening socket the test opens and closes; accepted connections are
// closed at once (a TCP check only needs the handshake).
class TcpListener {
 public:
  TcpListener(asio::io_context& io, const std::string& address) : io_(io), address_(address) { open(); }
  ~TcpListener() { close(); }

  void open() {
    acceptor_.emplace(io_);
    const tcp::endpoint ep(asio::ip::make_address(address_), port_);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(ep);  // port 0 the first time, the same port afterwards
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    accept_next();
  }
  void close() {
    if (!acceptor_) return;
    beast::error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
  }
  tcp::endpoint endpoint() const { return {asio::ip::make_address(address_), port_}; }

 private:
  void accept_next() {
    acceptor_->async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;  // closed by the test; `this` may be gone
      beast::error_code ignored;
      s.close(ignored);
      accept_next();
    });
  }

  asio::io_context& io_;
  std::string address_;
  uint16_t port_ = 0;
  std::optional<tcp::acceptor> acceptor_;
};

// Answers each GET with the status `next_status()` returns, or never answers
// when it returns 0 (the connection stays open, the request unanswered).
class HttpServer {
 public:
  HttpServer(asio::io_context& io, const std::string& address)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address(address), 0)) {
    accept_next();
  }
  ~HttpServer() { close(); }

  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    for (auto& s : state_->hanging) s->close(ignored);
    state_->hanging.clear();
  }

  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  void set_status(int status) { state_->next_status = [status] { return status; }; }
  void set_status_fn(std::function<int()> fn) { state_->next_status = std::move(fn); }
  int requests() const { return state_->requests; }
  std::size_t hanging() const { return state_->hanging.size(); }
  const http::request<http::string_body>& last_request() const { return state_->last; }

 private:
  struct State {
    std::function<int()> next_status = [] { return 200; };
    int requests = 0;
    http::request<http::string_body> last;
    std::vector<std::shared_ptr<tcp::socket>> hanging;
  };
  struct Session {
    std::shared_ptr<tcp::socket> socket;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::response<http::string_body> res;
  };

  void accept_next() {
    acceptor_.async_accept([this, st = state_](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      auto session = std::make_shared<Session>();
      session->socket = std::make_shared<tcp::socket>(std::move(s));
      http::async_read(*session->socket, session->buffer, session->req,
                       [st, session](beast::error_code ec, std::size_t) {
                         if (ec) return;
                         ++st->requests;
                         st->last = session->req;
                         const int status = st->next_status();
                         if (status == 0) {
                           st->hanging.push_back(session->socket);
                           return;
                         }
                         session->res.result(static_cast<unsigned>(status));
                         session->res.version(11);
                         session->res.keep_alive(false);
                         // 204 and 304 must not carry a body (Beast refuses to send one).
                         if (status != 204 && status != 304) session->res.body() = "hello\n";
                         session->res.prepare_payload();
                         http::async_write(*session->socket, session->res,
                                           [session](beast::error_code, std::size_t) {
                                             beast::error_code ignored;
                                             session->socket->shutdown(tcp::socket::shutdown_both, ignored);
                                           });
                       });
      accept_next();
    });
  }

  tcp::acceptor acceptor_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

struct Event {
  std::string id;
  bool healthy;
  std::string reason;
  TargetStatus at;  // the target's status when the callback ran
};

class HealthTest : public ::testing::Test {
 protected:
  void make_checker() {
    checker_ = std::make_unique<HealthChecker>(
        io_, [this](const std::string& id, bool healthy, const std::string& reason) {
          EXPECT_FALSE(stopped_) << "callback after stop: " << id << " " << reason;
          events_.push_back({id, healthy, reason, checker_->status(id).value()});
        });
  }

  // Runs the io_context until pred() holds; false when the deadline passes.
  bool run_until(const std::function<bool()>& pred) {
    const auto end = std::chrono::steady_clock::now() + kDeadline;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      io_.run_one_for(50ms);
      if (io_.stopped()) io_.restart();
    }
    return true;
  }

  std::vector<Event> events_for(const std::string& id) const {
    std::vector<Event> out;
    for (const auto& e : events_)
      if (e.id == id) out.push_back(e);
    return out;
  }
  bool has_events(const std::string& id, std::size_t n) const { return events_for(id).size() >= n; }
  uint64_t checks(const std::string& id) const {
    auto s = checker_->status(id);
    return s ? s->successes + s->failures : 0;
  }

  static HealthTarget tcp_target(std::string id, tcp::endpoint ep, InitialState initial,
                                 uint32_t rise = 2, uint32_t fall = 2) {
    return {.id = std::move(id),
            .endpoint = ep,
            .check = {.kind = ProbeKind::kTcp, .interval = 20ms, .timeout = 5s, .rise = rise, .fall = fall},
            .initial = initial};
  }
  static HealthTarget http_target(std::string id, tcp::endpoint ep, InitialState initial,
                                  uint32_t rise = 1, uint32_t fall = 1,
                                  std::chrono::milliseconds timeout = 5s) {
    return {.id = std::move(id),
            .endpoint = ep,
            .check = {.kind = ProbeKind::kHttp,
                      .interval = 20ms,
                      .timeout = timeout,
                      .rise = rise,
                      .fall = fall,
                      .http_path = "/healthz"},
            .initial = initial};
  }

  // Declared first so it outlives everything that registers handlers on it.
  asio::io_context io_;
  std::vector<Event> events_;
  bool stopped_ = false;
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(HealthTest, TcpTargetFollowsListenerWithRiseAndFall) {
  TcpListener listener(io_, "127.0.0.1");
  make_checker();
  auto initial = checker_->set_targets({tcp_target("b1", listener.endpoint(), InitialState::kFullyDown, 3, 4)});
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_FALSE(initial[0].healthy);

  ASSERT_TRUE(run_until([&] { return has_events("b1", 1); }));
  auto ev = events_for("b1");
  EXPECT_TRUE(ev[0].healthy) << ev[0].reason;
  EXPECT_EQ(ev[0].at.successes, 3u) << "up after exactly rise=3 successful checks";
  EXPECT_EQ(ev[0].at.failures, 0u);
  EXPECT_NE(ev[0].reason.find("3 consecutive successful"), std::string::npos) << ev[0].reason;

  listener.close();
  ASSERT_TRUE(run_until([&] { return has_events("b1", 2); }));
  ev = events_for("b1");
  EXPECT_FALSE(ev[1].healthy);
  EXPECT_EQ(ev[1].at.failures, 4u) << "down after exactly fall=4 failed checks";
  EXPECT_EQ(ev[1].at.consecutive_fail, 4u);
  EXPECT_NE(ev[1].reason.find("connect to 127.0.0.1:"), std::string::npos) << ev[1].reason;

  listener.open();
  ASSERT_TRUE(run_until([&] { return has_events("b1", 3); }));
  ev = events_for("b1");
  EXPECT_TRUE(ev[2].healthy);
  EXPECT_EQ(ev[2].at.consecutive_ok, 3u);
  EXPECT_EQ(ev[2].at.failures, 4u) << "no failure counted after the listener came back";
  EXPECT_EQ(events_.size(), 3u);
}

TEST_F(HealthTest, HttpStatusDecidesAndRequestIsWellFormed) {
  HttpServer server(io_, "127.0.0.1");
  make_checker();
  checker_->set_targets({http_target("web", server.endpoint(), InitialState::kFullyDown)});

  ASSERT_TRUE(run_until([&] { return has_events("web", 1); }));
  EXPECT_TRUE(events_for("web")[0].healthy);
  EXPECT_NE(events_for("web")[0].reason.find("HTTP 200"), std::string::npos);
  const auto& req = server.last_request();
  EXPECT_EQ(req.method(), http::verb::get);
  EXPECT_EQ(req.target(), "/healthz");
  EXPECT_EQ(req[http::field::host], "127.0.0.1:" + std::to_string(server.endpoint().port()));
  EXPECT_EQ(req[http::field::connection], "close");

  server.set_status(500);
  ASSERT_TRUE(run_until([&] { return has_events("web", 2); }));
  const auto down = events_for("web")[1];
  EXPECT_FALSE(down.healthy);
  EXPECT_NE(down.reason.find("HTTP 500 not in 200-399"), std::string::npos) << down.reason;

  server.set_status(302);  // inside the default 200-399
  ASSERT_TRUE(run_until([&] { return has_events("web", 3); }));
  EXPECT_TRUE(events_for("web")[2].healthy);
  EXPECT_EQ(events_.size(), 3u);
}

TEST_F(HealthTest, HttpHangingServerTimesOut) {
  HttpServer server(io_, "127.0.0.1");
  server.set_status(0);  // read the request, never answer
  make_checker();
  // kUp: healthy at start, the first failed check takes it down (fall is 3).
  auto initial = checker_->set_targets(
      {http_target("slow", server.endpoint(), InitialState::kUp, 1, 3, 100ms)});
  EXPECT_TRUE(initial[0].healthy);

  ASSERT_TRUE(run_until([&] { return has_events("slow", 1); }));
  const auto down = events_for("slow")[0];
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.at.failures, 1u) << "initial state kUp falls on the first failure";
  EXPECT_NE(down.reason.find("response to 127.0.0.1:"), std::string::npos) << down.reason;
  EXPECT_NE(down.reason.find("timed out after 100 ms"), std::string::npos) << down.reason;
  EXPECT_GE(server.requests(), 1) << "the request was sent; the response timed out";

  server.set_status(204);
  ASSERT_TRUE(run_until([&] { return has_events("slow", 2); }));
  EXPECT_TRUE(events_for("slow")[1].healthy);
}

TEST_F(HealthTest, FlappingTargetNeverCrossesHysteresis) {
  HttpServer server(io_, "127.0.0.1");
  int n = 0;
  server.set_status_fn([&n] { return (n++ % 2 == 0) ? 200 : 500; });
  make_checker();
  checker_->set_targets({http_target("flap", server.endpoint(), InitialState::kFullyUp, 2, 2)});

  ASSERT_TRUE(run_until([&] { return checks("flap") >= 30; }));
  EXPECT_TRUE(events_.empty()) << "alternating results never make 2 in a row: "
                               << events_.front().reason;
  auto s = checker_->status("flap").value();
  EXPECT_TRUE(s.healthy);
  EXPECT_GE(s.failures, 14u);

  server.set_status(500);
  ASSERT_TRUE(run_until([&] { return has_events("flap", 1); }));
  EXPECT_FALSE(events_[0].healthy);
  EXPECT_EQ(events_[0].at.consecutive_fail, 2u);
  EXPECT_EQ(events_.size(), 1u);
}

TEST_F(HealthTest, InitialStatesFollowHaproxy) {
  TcpListener up(io_, "127.0.0.1");
  TcpListener gone(io_, "127.0.0.1");
  const auto gone_ep = gone.endpoint();
  gone.close();  // refused from now on
  make_checker();
  auto initial = checker_->set_targets({
      tcp_target("up-dead", gone_ep, InitialState::kUp, 3, 3),
      tcp_target("fullyup-dead", gone_ep, InitialState::kFullyUp, 3, 3),
      tcp_target("down-alive", up.endpoint(), InitialState::kDown, 3, 3),
      tcp_target("fullydown-alive", up.endpoint(), InitialState::kFullyDown, 3, 3),
  });
  EXPECT_TRUE(initial[0].healthy);
  EXPECT_TRUE(initial[1].healthy);
  EXPECT_FALSE(initial[2].healthy);
  EXPECT_FALSE(initial[3].healthy);

  ASSERT_TRUE(run_until([&] { return events_.size() >= 4; }));
  EXPECT_EQ(events_for("up-dead").at(0).at.failures, 1u);
  EXPECT_EQ(events_for("fullyup-dead").at(0).at.failures, 3u);
  EXPECT_EQ(events_for("down-alive").at(0).at.successes, 1u);
  EXPECT_EQ(events_for("fullydown-alive").at(0).at.successes, 3u);
  for (const auto& e : events_) EXPECT_EQ(e.healthy, e.id.ends_with("alive")) << e.id;
}

TEST_F(HealthTest, ReloadKeepsUnchangedTargetsAndStopsRemovedOnes) {
  TcpListener l1(io_, "127.0.0.1");
  TcpListener l2(io_, "127.0.0.1");
  make_checker();
  checker_->set_targets({
      tcp_target("keep", l1.endpoint(), InitialState::kFullyDown, 1, 1),
      tcp_target("change", l1.endpoint(), InitialState::kFullyDown, 1, 1),
      tcp_target("remove", l2.endpoint(), InitialState::kFullyDown, 1, 1),
  });
  ASSERT_TRUE(run_until([&] { return events_.size() >= 3; }));
  const uint64_t keep_checks = checks("keep");

  auto changed = tcp_target("change", l1.endpoint(), InitialState::kFullyDown, 2, 1);  // rise differs
  auto after = checker_->set_targets({
      tcp_target("keep", l1.endpoint(), InitialState::kFullyDown, 1, 1),
      changed,
      tcp_target("new", l1.endpoint(), InitialState::kFullyDown, 1, 1),
  });
  ASSERT_EQ(after.size(), 3u);
  EXPECT_TRUE(after[0].healthy) << "unchanged target keeps its state";
  EXPECT_GE(after[0].successes, keep_checks) << "and its counters";
  EXPECT_FALSE(after[1].healthy) << "changed check restarts in its initial state";
  EXPECT_EQ(after[1].successes, 0u);
  EXPECT_FALSE(after[2].healthy);
  EXPECT_FALSE(checker_->status("remove").has_value());

  const std::size_t before = events_.size();
  l2.close();  // would take "remove" down if it were still checked
  ASSERT_TRUE(run_until([&] { return events_.size() >= before + 2 && checks("keep") >= keep_checks + 10; }));
  for (std::size_t i = before; i < events_.size(); ++i) {
    EXPECT_NE(events_[i].id, "keep") << "no transition for a kept, healthy target";
    EXPECT_NE(events_[i].id, "remove") << "no callback for a removed target";
    EXPECT_TRUE(events_[i].healthy) << events_[i].id;
  }
  EXPECT_EQ(events_for("change").back().at.successes, 2u) << "the new rise applies";
}

TEST_F(HealthTest, StopWithProbesInFlightLeavesNoWork) {
  HttpServer server(io_, "127.0.0.1");
  server.set_status(0);
  TcpListener listener(io_, "127.0.0.1");
  make_checker();
  std::vector<HealthTarget> targets;
  for (int i = 0; i < 8; ++i)
    targets.push_back(http_target("h" + std::to_string(i), server.endpoint(), InitialState::kUp, 1, 1, 60s));
  for (int i = 0; i < 4; ++i)  // these sit in their interval timers
    targets.push_back(tcp_target("t" + std::to_string(i), listener.endpoint(), InitialState::kUp));
  checker_->set_targets(targets);
  ASSERT_TRUE(run_until([&] { return server.hanging() == 8 && checks("t3") >= 1; }));

  checker_->stop();
  stopped_ = true;  // the callback fails the test if it runs from now on
  EXPECT_TRUE(checker_->status().empty());
  EXPECT_THROW(checker_->set_targets(targets), std::logic_error);
  server.close();
  listener.close();
  // Every handler the checker queued must complete: run() returns only when
  // the io_context is out of work (a dangling wait or read would keep it).
  io_.restart();
  io_.run_for(kDeadline);
  EXPECT_TRUE(io_.stopped()) << "handlers still pending after stop()";
  EXPECT_TRUE(events_.empty());
}

TEST_F(HealthTest, DestroyWithProbesInFlight) {
  HttpServer server(io_, "127.0.0.1");
  server.set_status(0);
  make_checker();
  checker_->set_targets({http_target("h", server.endpoint(), InitialState::kUp, 1, 1, 60s)});
  ASSERT_TRUE(run_until([&] { return server.hanging() == 1; }));
  stopped_ = true;
  checker_.reset();  // destructor stops; queued handlers own their probe
  server.close();
  io_.restart();
  io_.run_for(kDeadline);
  EXPECT_TRUE(io_.stopped());
  EXPECT_TRUE(events_.empty());
}

TEST_F(HealthTest, InvalidTargetsChangeNothing) {
  TcpListener listener(io_, "127.0.0.1");
  make_checker();
  checker_->set_targets({tcp_target("ok", listener.endpoint(), InitialState::kUp)});

  auto expect_rejected = [&](std::vector<HealthTarget> ts, const std::string& needle) {
    try {
      checker_->set_targets(std::move(ts));
      ADD_FAILURE() << "accepted; expected: " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto t = tcp_target("x", listener.endpoint(), InitialState::kUp);
  auto with = [&](auto change) {
    auto c = t;
    change(c);
    return std::vector<HealthTarget>{c};
  };
  expect_rejected({t, t}, "\"x\": duplicate id");
  expect_rejected(with([](auto& c) { c.check.rise = 0; }), "\"x\": rise must be >= 1");
  expect_rejected(with([](auto& c) { c.check.fall = 0; }), "fall must be >= 1");
  expect_rejected(with([](auto& c) { c.check.interval = 0ms; }), "interval must be > 0");
  expect_rejected(with([](auto& c) { c.check.timeout = 0ms; }), "timeout must be > 0");
  expect_rejected(with([](auto& c) { c.endpoint.port(0); }), "port 0");
  expect_rejected(with([](auto& c) { c.id.clear(); }), "empty id");
  auto http = [&](auto change) {
    auto c = t;
    c.check.kind = ProbeKind::kHttp;
    change(c);
    return std::vector<HealthTarget>{c};
  };
  expect_rejected(http([](auto& c) { c.check.http_path = "healthz"; }), "must start with '/'");
  expect_rejected(http([](auto& c) { c.check.http_path = "/a\r\nX: y"; }), "CR or LF");
  expect_rejected(http([](auto& c) { c.check.status_min = 400; c.check.status_max = 200; }),
                  "status range 400-200");
  EXPECT_TRUE(checker_->status("ok").has_value()) << "a refused set leaves the old one running";
}

// IPv6 and the benchmark ranges, in a namespace of the test's own: the whole
// test runs on a thread moved into it, so every socket (listeners and
// probes) lives there.
TEST_F(HealthTest, Ipv6AndIpv4TargetsInTestNamespace) {
  test::Netns ns("hc");
  ns.exec_ok("ip addr add 198.18.0.1/32 dev lo && ip addr add 2001:2::1/128 dev lo nodad");
  auto guard = ns.enter();
  {
    TcpListener v6(io_, "2001:2::1");
    HttpServer v4(io_, "198.18.0.1");
    make_checker();
    checker_->set_targets({tcp_target("v6", v6.endpoint(), InitialState::kFullyDown, 1, 1),
                           http_target("v4", v4.endpoint(), InitialState::kFullyDown)});
    ASSERT_TRUE(run_until([&] { return events_.size() >= 2; }));
    EXPECT_TRUE(events_for("v6").at(0).healthy);
    EXPECT_TRUE(events_for("v4").at(0).healthy);
    EXPECT_EQ(v4.last_request()[http::field::host], "198.18.0.1:" + std::to_string(v4.endpoint().port()));

    v6.close();
    ASSERT_TRUE(run_until([&] { return has_events("v6", 2); }));
    EXPECT_NE(events_for("v6")[1].reason.find("[2001:2::1]:"), std::string::npos)
        << events_for("v6")[1].reason;
    checker_.reset();
  }
}

TEST(HealthTargetsFromConfig, OneTargetPerCheckedBackend) {
  auto addr = [](const char* text) { return config::IpAddr::parse(text).value(); };
  config::LoadBalancer lb;
  config::Vip web{.name = "web", .addr = addr("198.18.100.1"), .port = 80};
  web.backends = {{.addr = addr("198.18.2.10"), .port = 8080}, {.addr = addr("2001:2:0:2::10"), .port = 0}};
  web.health_check = config::HealthCheck{.kind = config::HealthCheckKind::kHttp,
                                         .path = "/ready",
                                         .interval_ms = 500,
                                         .timeout_ms = 200,
                                         .rise = 4,
                                         .fall = 5,
                                         .status_min = 200,
                                         .status_max = 204};
  config::Vip dns{.name = "dns", .addr = addr("198.18.100.2"), .protocol = config::L4Protocol::kUdp, .port = 53};
  dns.backends = {{.addr = addr("198.18.2.20"), .port = 53}};  // no health_check: never checked
  config::Vip any{.name = "any", .addr = addr("198.18.100.3"), .port = 0};
  any.backends = {{.addr = addr("198.18.2.30"), .port = 0}};
  any.health_check = config::HealthCheck{};  // tcp, no port: nothing to connect to
  lb.vips = {web, dns, any};

  const HealthPlan plan = health_targets(lb, InitialState::kFullyDown);
  ASSERT_EQ(plan.targets.size(), 2u);
  const auto& a = plan.targets[0];
  EXPECT_EQ(a.id, "web/198.18.2.10:8080");
  EXPECT_EQ(a.endpoint, tcp::endpoint(asio::ip::make_address("198.18.2.10"), 8080));
  EXPECT_EQ(a.check.kind, ProbeKind::kHttp);
  EXPECT_EQ(a.check.http_path, "/ready");
  EXPECT_EQ(a.check.interval, 500ms);
  EXPECT_EQ(a.check.timeout, 200ms);
  EXPECT_EQ(a.check.rise, 4u);
  EXPECT_EQ(a.check.fall, 5u);
  EXPECT_EQ(a.check.status_max, 204);
  EXPECT_EQ(a.initial, InitialState::kFullyDown);
  // Backend on the client's port: the VIP's port is checked.
  EXPECT_EQ(plan.targets[1].endpoint, tcp::endpoint(asio::ip::make_address("2001:2:0:2::10"), 80));
  EXPECT_EQ(split_health_target_id(plan.targets[1].id),
            std::make_pair(std::string("web"), web.backends[1].id()));
  ASSERT_EQ(plan.unchecked.size(), 1u);
  EXPECT_NE(plan.unchecked[0].find("VIP any backend 198.18.2.30"), std::string::npos) << plan.unchecked[0];
  for (const auto& t : plan.targets) EXPECT_NO_THROW(validate(t)) << t.id;
  EXPECT_THROW(split_health_target_id("no-slash"), std::invalid_argument);
}

}  // namespace
}  // namespace xdpgw::lb
