// HealthChecker: one probe loop per target, each a shared object that its own
// pending handlers keep alive, so stop() can cancel without waiting and a
// handler that runs afterwards finds the probe intact, sees `stopped_` and
// returns.
#include "lb/health.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <utility>

namespace xdpgw::lb {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view to_string(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kTcp: return "tcp";
    case ProbeKind::kHttp: return "http";
  }
  return "?";
}

std::string_view to_string(InitialState state) {
  switch (state) {
    case InitialState::kUp: return "up";
    case InitialState::kFullyUp: return "fully-up";
    case InitialState::kDown: return "down";
    case InitialState::kFullyDown: return "fully-down";
  }
  return "?";
}

namespace {

std::string endpoint_string(const tcp::endpoint& ep) {
  const auto addr = ep.address().to_string();
  return ep.address().is_v6() ? fmt::format("[{}]:{}", addr, ep.port())
                              : fmt::format("{}:{}", addr, ep.port());
}

// Host header value: the configured name, else the address (RFC 9110 7.2:
// the port may be left out only when it is the scheme's default).
std::string host_header(const HealthTarget& t) {
  if (!t.check.http_host.empty()) return t.check.http_host;
  if (t.endpoint.port() == 80) {
    const auto addr = t.endpoint.address().to_string();
    return t.endpoint.address().is_v6() ? "[" + addr + "]" : addr;
  }
  return endpoint_string(t.endpoint);
}

bool is_initially_healthy(InitialState s) {
  return s == InitialState::kUp || s == InitialState::kFullyUp;
}

}  // namespace

void validate(const HealthTarget& t) {
  auto bad = [&](std::string_view what) {
    throw std::invalid_argument(fmt::format("health check target \"{}\": {}", t.id, what));
  };
  if (t.id.empty()) throw std::invalid_argument("health check target: empty id");
  if (t.endpoint.port() == 0) bad("port 0");
  if (t.endpoint.address().is_unspecified()) bad("unspecified address");
  const auto& c = t.check;
  if (c.interval.count() <= 0) bad(fmt::format("interval must be > 0 ms, got {}", c.interval.count()));
  if (c.timeout.count() <= 0) bad(fmt::format("timeout must be > 0 ms, got {}", c.timeout.count()));
  if (c.rise == 0) bad("rise must be >= 1");
  if (c.fall == 0) bad("fall must be >= 1");
  if (c.kind == ProbeKind::kHttp) {
    if (c.http_path.empty() || c.http_path.front() != '/')
      bad(fmt::format("http path \"{}\" must start with '/'", c.http_path));
    // Beast writes the target and Host verbatim: a CR/LF would split the
    // request line into a second header or request.
    auto has_ctl = [](std::string_view s) {
      return std::any_of(s.begin(), s.end(), [](char ch) { return ch == '\r' || ch == '\n' || ch == ' '; });
    };
    if (has_ctl(c.http_path)) bad("http path contains a space, CR or LF");
    if (has_ctl(c.http_host)) bad("http host contains a space, CR or LF");
    if (c.status_min < 100 || c.status_max > 599 || c.status_min > c.status_max)
      bad(fmt::format("status range {}-{} is not within 100-599", c.status_min, c.status_max));
  }
}

namespace detail {

class Probe : public std::enable_shared_from_this<Probe> {
 public:
  Probe(asio::io_context& io, HealthTarget target, std::shared_ptr<const HealthCallback> cb)
      : io_(io),
        target_(std::move(target)),
        on_change_(std::move(cb)),
        timer_(io),
        healthy_(is_initially_healthy(target_.initial)) {}

  const HealthTarget& target() const { return target_; }

  // The first check starts right away (from the io_context, not from inside
  // set_targets, so the caller's loop is never re-entered).
  void start() {
    asio::post(io_, [self = shared_from_this()] {
      if (!self->stopped_) self->run_check();
    });
  }

  void stop() noexcept {
    stopped_ = true;
    try {
      timer_.cancel();
    } catch (...) {  // cancel throws only when the timer service failed; nothing to undo
    }
    if (!stream_) return;
    try {
      stream_->close();
    } catch (...) {  // closing a socket reports nothing we could act on here
    }
  }

  TargetStatus status() const {
    return {.id = target_.id,
            .healthy = healthy_,
            .consecutive_ok = consecutive_ok_,
            .consecutive_fail = consecutive_fail_,
            .successes = successes_,
            .failures = failures_,
            .last_result = last_result_};
  }

 private:
  void run_check() {
    stream_.emplace(io_);
    buffer_.clear();
    // One deadline for the whole check: tcp_stream keeps it across the
    // connect, the write and the read until it is changed.
    stream_->expires_after(target_.check.timeout);
    phase_ = "connect";
    stream_->async_connect(target_.endpoint, [self = shared_from_this()](beast::error_code ec) {
      self->on_connect(ec);
    });
  }

  void on_connect(beast::error_code ec) {
    if (stopped_) return;
    if (ec) return fail(ec);
    if (target_.check.kind == ProbeKind::kTcp) return finish(true, "tcp connect ok");

    request_ = {};
    request_.method(http::verb::get);
    request_.target(target_.check.http_path);
    request_.version(11);
    request_.set(http::field::host, host_header(target_));
    request_.set(http::field::user_agent, "xdpgw-health");
    request_.set(http::field::connection, "close");
    phase_ = "request";
    http::async_write(*stream_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (stopped_) return;
    if (ec) return fail(ec);
    // Only the status matters: read the header, never the body.
    parser_.emplace();
    phase_ = "response";
    http::async_read_header(*stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_read(ec);
                            });
  }

  void on_read(beast::error_code ec) {
    if (stopped_) return;
    if (ec) return fail(ec);
    const unsigned status = parser_->get().result_int();
    const auto& c = target_.check;
    if (status >= c.status_min && status <= c.status_max)
      return finish(true, fmt::format("HTTP {}", status));
    finish(false, fmt::format("HTTP {} not in {}-{}", status, c.status_min, c.status_max));
  }

  void fail(beast::error_code ec) {
    if (ec == beast::error::timeout)
      return finish(false, fmt::format("{} to {} timed out after {} ms", phase_,
                                       endpoint_string(target_.endpoint),
                                       target_.check.timeout.count()));
    finish(false, fmt::format("{} to {}: {}", phase_, endpoint_string(target_.endpoint),
                              ec.message()));
  }

  // Counts one completed check, moves the health state through the
  // rise/fall hysteresis, schedules the next check, then reports.
  void finish(bool ok, std::string result) {
    if (stream_) {
      stream_->close();
      stream_.reset();
    }
    last_result_ = std::move(result);
    // kUp/kDown: the first check alone may flip the state (HAProxy's "up" and
    // "down"); from then on rise/fall apply.
    const bool first = successes_ + failures_ == 0;
    const bool quick = first && (target_.initial == InitialState::kUp ||
                                 target_.initial == InitialState::kDown);
    const uint32_t rise = quick ? 1 : target_.check.rise;
    const uint32_t fall = quick ? 1 : target_.check.fall;
    std::string reason;
    if (ok) {
      ++successes_;
      ++consecutive_ok_;
      consecutive_fail_ = 0;
      if (!healthy_ && consecutive_ok_ >= rise) {
        healthy_ = true;
        reason = fmt::format("{} consecutive successful check(s), last: {}", consecutive_ok_,
                             last_result_);
      }
    } else {
      ++failures_;
      ++consecutive_fail_;
      consecutive_ok_ = 0;
      if (healthy_ && consecutive_fail_ >= fall) {
        healthy_ = false;
        reason = fmt::format("{} consecutive failed check(s), last: {}", consecutive_fail_,
                             last_result_);
      }
    }
    schedule_next();
    // A throwing callback propagates out of io_context::run() as with any
    // handler; the next check is already scheduled.
    if (!reason.empty()) (*on_change_)(target_.id, healthy_, reason);
  }

  void schedule_next() {
    timer_.expires_after(target_.check.interval);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (self->stopped_ || ec) return;  // ec: only operation_aborted, from stop()
      self->run_check();
    });
  }

  asio::io_context& io_;
  const HealthTarget target_;
  const std::shared_ptr<const HealthCallback> on_change_;
  asio::steady_timer timer_;
  std::optional<beast::tcp_stream> stream_;  // present while a check runs
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  std::optional<http::response_parser<http::empty_body>> parser_;
  const char* phase_ = "connect";

  bool stopped_ = false;
  bool healthy_;
  uint32_t consecutive_ok_ = 0;
  uint32_t consecutive_fail_ = 0;
  uint64_t successes_ = 0;
  uint64_t failures_ = 0;
  std::string last_result_;
};

}  // namespace detail

HealthChecker::HealthChecker(asio::io_context& io, HealthCallback on_change)
    : io_(io), on_change_(std::make_shared<const HealthCallback>(std::move(on_change))) {
  if (!*on_change_) throw std::invalid_argument("health checker: empty callback");
}

HealthChecker::~HealthChecker() { stop(); }

std::vector<TargetStatus> HealthChecker::set_targets(std::vector<HealthTarget> targets) {
  if (stopped_) throw std::logic_error("health checker: set_targets after stop");
  // Validate everything first: an invalid reload changes nothing.
  std::set<std::string_view> ids;
  for (const auto& t : targets) {
    validate(t);
    if (!ids.insert(t.id).second)
      throw std::invalid_argument(fmt::format("health check target \"{}\": duplicate id", t.id));
  }

  std::map<std::string, std::shared_ptr<detail::Probe>> next;
  std::vector<std::shared_ptr<detail::Probe>> started;
  for (auto& t : targets) {
    auto it = probes_.find(t.id);
    if (it != probes_.end() && it->second->target().endpoint == t.endpoint &&
        it->second->target().check == t.check) {
      next.emplace(t.id, std::move(it->second));
      probes_.erase(it);
      continue;
    }
    if (it != probes_.end()) {  // endpoint or check changed: start over
      it->second->stop();
      probes_.erase(it);
    }
    auto probe = std::make_shared<detail::Probe>(io_, t, on_change_);
    started.push_back(probe);
    next.emplace(t.id, std::move(probe));
  }
  for (auto& [id, probe] : probes_) probe->stop();  // targets no longer configured
  probes_ = std::move(next);
  for (auto& probe : started) probe->start();

  std::vector<TargetStatus> out;
  out.reserve(targets.size());
  for (const auto& t : targets) out.push_back(probes_.at(t.id)->status());
  return out;
}

std::optional<TargetStatus> HealthChecker::status(const std::string& id) const {
  auto it = probes_.find(id);
  if (it == probes_.end()) return std::nullopt;
  return it->second->status();
}

std::vector<TargetStatus> HealthChecker::status() const {
  std::vector<TargetStatus> out;
  out.reserve(probes_.size());
  for (const auto& [id, probe] : probes_) out.push_back(probe->status());
  return out;
}

void HealthChecker::stop() noexcept {
  stopped_ = true;
  for (auto& [id, probe] : probes_) probe->stop();
  probes_.clear();
}

}  // namespace xdpgw::lb
