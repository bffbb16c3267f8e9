// Prometheus metrics: a renderer for the text exposition format 0.0.4 and an
// HTTP endpoint (Boost.Beast, asynchronous, on the daemon's io_context) that
// serves it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xdpgw::control {

struct Sample {
  // Label name/value pairs, printed in this order.
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;  // [a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in _total
  std::string help;  // one line is best; '\\' and newlines are escaped
  std::string type;  // "counter" or "gauge"
  std::vector<Sample> samples;
};

// The Content-Type of format 0.0.4.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Per family: "# HELP name help" (omitted when help is empty), "# TYPE name
// type", then one "name{label="value",...} value" line per sample. Label
// values escape backslash, double quote and newline. Integral values are
// printed as integers (no exponent, no decimal point), others in the
// shortest form that reads back exactly, NaN/+Inf/-Inf as Prometheus spells
// them. Throws std::invalid_argument for an invalid metric or label name
// (label names are [a-zA-Z_][a-zA-Z0-9_]* and must not start with "__",
// which Prometheus reserves), a repeated label name in a sample, a family
// name used twice, or a type other than counter/gauge.
std::string render_prometheus(const std::vector<MetricFamily>& families);

// Called once per scrape, on the io_context's thread.
using MetricsSource = std::function<std::vector<MetricFamily>()>;

namespace detail {
struct MetricsState;
}

// HTTP listener for Prometheus. Move-only owner of the listening socket.
//
//   GET /metrics  200, render_prometheus(source()), kPrometheusContentType;
//                 500 with the message when the source or renderer throws
//   GET /         200, a small HTML page linking /metrics
//   other paths   404;  other methods on / and /metrics: 405 (Allow: GET)
//
// Keep-alive is honoured. Requests are bounded (8 KiB of headers, 8 KiB of
// body; 431/413 and close beyond), and a connection that stalls a read or a
// write for 30 s is closed, so slow clients cannot pile up.
//
// Threading: as ControlServer; construct and destroy on the io_context's
// thread or while it is not running.
class MetricsServer {
 public:
  // `address` is an IPv4 or IPv6 literal ("127.0.0.1", "::1", "0.0.0.0");
  // port 0 binds an ephemeral port (see port()). Throws
  // std::invalid_argument for a bad address and std::system_error naming the
  // call and endpoint when the socket cannot be opened, bound or listened on.
  MetricsServer(boost::asio::io_context& io, std::string_view address, uint16_t port,
                MetricsSource source);

  // Stops accepting and closes every connection.
  ~MetricsServer();

  MetricsServer(MetricsServer&&) noexcept;
  MetricsServer& operator=(MetricsServer&&) noexcept;
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The address and port actually bound.
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  uint16_t port() const { return local_endpoint().port(); }

 private:
  void shutdown() noexcept;

  std::shared_ptr<detail::MetricsState> state_;
};

}  // namespace xdpgw::control
