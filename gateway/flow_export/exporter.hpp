// The daemon's flow exporter: every second, scans the datapath's flow cache
// (scanner.hpp) and sends the records that are due to every collector of
// [flow_export], encoded for it (encoder.hpp).
//
// Sending never blocks the event loop: each collector has a connected,
// non-blocking UDP socket; a datagram the socket buffer has no room for
// is dropped and counted, as are records over the collector's rate bound
// (max_records_per_s: at most that many leave per second, the rest wait in
// a bounded queue, and what overflows it is counted). A collector that is
// down shows as send errors (ICMP port unreachable comes back as
// ECONNREFUSED on the next send); XDP forwarding never depends on it.
//
// configure() applies a config at start and on every reload: collectors that
// stay keep their socket, sequence numbers and counters; flows in the cache
// are kept across any change of collectors. Everything runs on the
// io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "flow_export/encoder.hpp"
#include "flow_export/scanner.hpp"

namespace xdpgw::flow_export {

struct CollectorCounters {
  uint64_t records_sent = 0;
  uint64_t packets_sent = 0;  // export messages (UDP datagrams)
  uint64_t bytes_sent = 0;
  uint64_t send_errors = 0;      // sends the kernel refused (collector down, no route)
  uint64_t records_dropped = 0;  // over the rate bound's queue, or the socket buffer full
  std::string last_error;
};

// `xdpgw status` text of Exporter::status(): each collector with the
// records, packets and errors sent to it.
std::string format_status(const nlohmann::json& status);

class Exporter {
 public:
  // fds are the Datapath's, not owned; conn_table_fd names NAT flows.
  Exporter(boost::asio::io_context& io, int flow_cache_fd, int conn_table_fd);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  void configure(const config::FlowExport& cfg);

  // One scan and send now (the timer calls it each second); `flush` sends
  // every flow's uncounted packets.
  void tick(bool flush = false);

  nlohmann::json status() const;
  std::vector<control::MetricFamily> metrics() const;

 private:
  struct Collector {
    config::FlowCollector cfg;
    std::string name;  // cfg.to_string()
    boost::asio::ip::udp::socket socket;
    Encoder encoder;
    uint64_t last_templates_ms = 0;  // 0: templates go out with the next message
    std::deque<FlowRecord> queue;    // waiting for the rate bound
    CollectorCounters counters;
  };
  void schedule();
  void send(Collector& c, uint64_t now_ms);
  std::unique_ptr<Collector> open_collector(const config::FlowCollector& cfg) const;

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  Scanner scanner_;
  config::FlowExport cfg_;
  uint64_t boot_ms_;
  std::vector<std::unique_ptr<Collector>> collectors_;
};

}  // namespace xdpgw::flow_export
