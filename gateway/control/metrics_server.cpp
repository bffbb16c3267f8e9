// MetricsServer: GET /metrics over HTTP/1.1 with Boost.Beast.
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "common/error.hpp"
#include "control/metrics.hpp"

namespace xdpgw::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A scrape request is one short GET; anything near these limits is not
// Prometheus.
constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 8 * 1024;
// Prometheus' default scrape timeout is 10 s; a peer idle for three times
// that between or within requests is dropped so dead connections do not pile
// up.
constexpr auto kIoTimeout = std::chrono::seconds(30);

constexpr std::string_view kIndexPage =
    "<html><head><title>xdpgw</title></head><body><h1>xdpgw</h1>"
    "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

std::string to_string(const tcp::endpoint& ep) {
  auto addr = ep.address().to_string();
  return ep.address().is_v6() ? fmt::format("[{}]:{}", addr, ep.port())
                              : fmt::format("{}:{}", addr, ep.port());
}

class HttpSession;

}  // namespace

namespace detail {

// Shared with the connections for the same reason as ControlState: queued
// completion handlers may outlive the MetricsServer object.
struct MetricsState {
  MetricsState(asio::io_context& io, MetricsSource s)
      : acceptor(io), accept_retry(io), source(std::move(s)) {}

  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  MetricsSource source;
  tcp::endpoint endpoint;
  std::vector<std::weak_ptr<HttpSession>> sessions;
  bool closed = false;
};

}  // namespace detail

namespace {

using detail::MetricsState;
using Response = http::response<http::string_body>;

bool is_http_protocol_error(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_target).category();
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<MetricsState> state)
      : stream_(std::move(socket)), state_(std::move(state)) {}

  void start() { read_next(); }

  void close() noexcept {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  void read_next() {
    // A parser handles one message; a fresh one per request on keep-alive.
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(kIoTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(const beast::error_code& ec) {
    if (state_->closed) return;
    if (ec == http::error::end_of_stream) {  // client closed between requests
      shutdown_send();
      return;
    }
    if (ec) {
      // A malformed or oversized request gets a status and the connection is
      // closed (the stream cannot be resynchronised); timeouts, resets and
      // cancellation just end the connection.
      if (!is_http_protocol_error(ec)) return;
      auto status = ec == http::error::header_limit ? http::status::request_header_fields_too_large
                    : ec == http::error::body_limit ? http::status::payload_too_large
                                                    : http::status::bad_request;
      res_ = {};
      res_.version(11);
      res_.keep_alive(false);
      fill(res_, status, "text/plain; charset=utf-8", fmt::format("{}\n", ec.message()));
      write();
      return;
    }
    res_ = respond(parser_->get());
    write();
  }

  static void fill(Response& res, http::status status, std::string_view type,
                   std::string body) {
    res.result(status);
    res.set(http::field::server, "xdpgw");
    res.set(http::field::content_type, beast::string_view(type.data(), type.size()));
    res.body() = std::move(body);
    res.prepare_payload();
  }

  Response respond(const http::request<http::string_body>& req) {
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));  // a query changes nothing here

    Response res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    constexpr std::string_view kText = "text/plain; charset=utf-8";
    if (target != "/" && target != "/metrics") {
      fill(res, http::status::not_found, kText,
           fmt::format("{} not found; metrics are at /metrics\n", target));
    } else if (req.method() != http::verb::get) {
      res.set(http::field::allow, "GET");
      const auto method = req.method_string();
      fill(res, http::status::method_not_allowed, kText,
           fmt::format("{} not allowed; use GET\n",
                       std::string_view(method.data(), method.size())));
    } else if (target == "/") {
      fill(res, http::status::ok, "text/html; charset=utf-8", std::string(kIndexPage));
    } else {
      try {
        fill(res, http::status::ok, kPrometheusContentType,
             render_prometheus(state_->source()));
      } catch (const std::exception& e) {
        spdlog::warn("metrics: scrape failed: {}", e.what());
        fill(res, http::status::internal_server_error, kText,
             fmt::format("collecting metrics failed: {}\n", e.what()));
      }
    }
    return res;
  }

  void write() {
    stream_.expires_after(kIoTimeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                        if (ec || self->state_->closed) return;
                        if (self->res_.need_eof()) {
                          self->shutdown_send();
                          return;
                        }
                        self->read_next();
                      });
  }

  // Sending FIN (not just closing) lets the client read the whole response.
  void shutdown_send() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<MetricsState> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response res_;
};

void accept_next(const std::shared_ptr<MetricsState>& st) {
  st->acceptor.async_accept([st](const beast::error_code& ec, tcp::socket socket) {
    if (st->closed || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of fds (EMFILE) leaves the connection queued: back off, not spin.
      spdlog::warn("metrics: accept on {}: {}; retrying", to_string(st->endpoint),
                   ec.message());
      st->accept_retry.expires_after(std::chrono::milliseconds(100));
      st->accept_retry.async_wait([st](const beast::error_code& wait_ec) {
        if (!wait_ec && !st->closed) accept_next(st);
      });
      return;
    }
    auto session = std::make_shared<HttpSession>(std::move(socket), st);
    std::erase_if(st->sessions, [](const auto& w) { return w.expired(); });
    st->sessions.push_back(session);
    session->start();
    accept_next(st);
  });
}

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, std::string_view address, uint16_t port,
                             MetricsSource source)
    : state_(std::make_shared<MetricsState>(io, std::move(source))) {
  if (!state_->source) throw std::invalid_argument("metrics: empty metrics source");
  beast::error_code ec;
  auto addr = asio::ip::make_address(std::string(address), ec);
  if (ec)
    throw std::invalid_argument(
        fmt::format("metrics address \"{}\" is not an IPv4 or IPv6 address", address));
  const tcp::endpoint ep(addr, port);
  const std::string name = to_string(ep);
  auto& acceptor = state_->acceptor;

  acceptor.open(ep.protocol(), ec);
  if (ec) throw_errno(ec.value(), fmt::format("socket for metrics listener {}", name));
  // A restarted daemon must be able to bind while the previous run's
  // connections sit in TIME_WAIT.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) throw_errno(ec.value(), fmt::format("setsockopt SO_REUSEADDR on {}", name));
  acceptor.bind(ep, ec);
  if (ec) throw_errno(ec.value(), fmt::format("bind metrics listener {}", name));
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw_errno(ec.value(), fmt::format("listen on {}", name));
  state_->endpoint = acceptor.local_endpoint(ec);
  if (ec) throw_errno(ec.value(), fmt::format("getsockname of {}", name));
  accept_next(state_);
}

MetricsServer::~MetricsServer() { shutdown(); }

MetricsServer::MetricsServer(MetricsServer&&) noexcept = default;

MetricsServer& MetricsServer::operator=(MetricsServer&& other) noexcept {
  if (this != &other) {
    shutdown();
    state_ = std::move(other.state_);
  }
  return *this;
}

tcp::endpoint MetricsServer::local_endpoint() const { return state_->endpoint; }

void MetricsServer::shutdown() noexcept {
  if (!state_) return;  // moved from
  state_->closed = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  try {
    state_->accept_retry.cancel();  // throws only if the timer's service failed
    for (const auto& weak : state_->sessions)
      if (auto session = weak.lock()) session->close();
  } catch (const std::exception& e) {
    spdlog::warn("metrics: closing the listener: {}", e.what());
  }
  state_->sessions.clear();
  state_.reset();
}

}  // namespace xdpgw::control
