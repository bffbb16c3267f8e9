#include "flow_export/exporter.hpp"

#include <time.h>

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace xdpgw::flow_export {
namespace {

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

Format to_format(config::FlowFormat f) {
  return f == config::FlowFormat::kIpfix ? Format::kIpfix : Format::kNetflow9;
}

boost::asio::ip::udp::endpoint endpoint_of(const config::FlowCollector& c) {
  boost::asio::ip::address addr;
  if (c.address.family == config::IpFamily::kV4) {
    boost::asio::ip::address_v4::bytes_type b;
    std::copy_n(c.address.bytes.begin(), 4, b.begin());
    addr = boost::asio::ip::address_v4(b);
  } else {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy_n(c.address.bytes.begin(), 16, b.begin());
    addr = boost::asio::ip::address_v6(b);
  }
  return {addr, c.port};
}

// Each collector's queue holds at most this many seconds of its rate
// (a record is ~100 bytes: 2 s of the default 100k/s is ~20 MB).
constexpr uint64_t kQueueSeconds = 2;

}  // namespace

Exporter::Exporter(boost::asio::io_context& io, int flow_cache_fd, int conn_table_fd)
    : io_(io),
      timer_(io),
      scanner_(flow_cache_fd, conn_table_fd),
      boot_ms_(clock_ns(CLOCK_REALTIME) / 1'000'000) {}

Exporter::~Exporter() = default;

std::unique_ptr<Exporter::Collector> Exporter::open_collector(const config::FlowCollector& cfg) const {
  const auto ep = endpoint_of(cfg);
  boost::asio::ip::udp::socket socket(io_, ep.protocol());
  // Connected: the kernel reports a collector's ICMP unreachable as an
  // error on the next send, which is how a down collector gets counted.
  socket.connect(ep);
  socket.non_blocking(true);
  return std::make_unique<Collector>(Collector{
      .cfg = cfg,
      .name = cfg.to_string(),
      .socket = std::move(socket),
      .encoder = Encoder(to_format(cfg.format), cfg_.observation_domain_id, cfg_.sampling, boot_ms_),
      .last_templates_ms = 0,
      .queue = {},
      .counters = {}});
}

void Exporter::configure(const config::FlowExport& next) {
  const bool was_enabled = cfg_.enabled();
  const bool encoding_changed =
      next.observation_domain_id != cfg_.observation_domain_id || next.sampling != cfg_.sampling;
  cfg_ = next;
  std::vector<std::unique_ptr<Collector>> kept;
  for (const auto& want : next.collectors) {
    auto same = std::find_if(collectors_.begin(), collectors_.end(), [&](const auto& c) {
      return c && c->cfg == want;
    });
    if (same != collectors_.end() && !encoding_changed) {
      kept.push_back(std::move(*same));
      continue;
    }
    try {
      kept.push_back(open_collector(want));
      if (same != collectors_.end()) kept.back()->counters = (*same)->counters;
      spdlog::info("flow export: collector {}", want.to_string());
    } catch (const std::exception& e) {
      // A collector we cannot even open a socket for is reported and
      // skipped; the others and forwarding go on.
      spdlog::error("flow export: collector {}: {}", want.to_string(), e.what());
    }
  }
  collectors_ = std::move(kept);
  if (was_enabled && !cfg_.enabled()) {
    // XDP stops accounting with this generation; what the cache holds
    // would otherwise go out as stale records when export comes back.
    scanner_.clear();
    spdlog::info("flow export: off");
  }
  timer_.cancel();
  if (cfg_.enabled()) {
    spdlog::info("flow export: {} collectors, active {} s, inactive {} s, sampling 1 in {}",
                 collectors_.size(), cfg_.active_timeout_s, cfg_.inactive_timeout_s, cfg_.sampling);
    schedule();
  }
}

void Exporter::schedule() {
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    try {
      tick();
    } catch (const std::exception& e) {
      spdlog::warn("flow export: {}", e.what());
    }
    schedule();
  });
}

void Exporter::tick(bool flush) {
  // No collector could be opened (logged at configure): the flows stay in
  // the cache rather than end unsent.
  if (!cfg_.enabled() || collectors_.empty()) return;
  const uint64_t mono = clock_ns(CLOCK_MONOTONIC);
  const uint64_t now_ms = clock_ns(CLOCK_REALTIME) / 1'000'000;
  const ScanTimeouts t{.active = std::chrono::seconds(cfg_.active_timeout_s),
                       .inactive = std::chrono::seconds(cfg_.inactive_timeout_s)};
  const std::vector<FlowRecord> records = scanner_.scan(mono, now_ms, t, flush);
  const uint64_t bound = uint64_t(cfg_.max_records_per_s) * kQueueSeconds;
  for (auto& c : collectors_) {
    for (const FlowRecord& r : records) {
      if (c->queue.size() >= bound) {
        ++c->counters.records_dropped;
        continue;
      }
      c->queue.push_back(r);
    }
    send(*c, now_ms);
  }
}

void Exporter::send(Collector& c, uint64_t now_ms) {
  const bool templates = c.last_templates_ms == 0 ||
                         now_ms - c.last_templates_ms >= uint64_t(cfg_.template_refresh_s) * 1000;
  if (c.queue.empty() && !templates) return;
  // At most a second's worth per tick: the rate bound.
  const std::size_t n = std::min<std::size_t>(c.queue.size(), cfg_.max_records_per_s);
  const std::vector<FlowRecord> batch(c.queue.begin(), c.queue.begin() + static_cast<std::ptrdiff_t>(n));
  c.queue.erase(c.queue.begin(), c.queue.begin() + static_cast<std::ptrdiff_t>(n));
  const auto messages = c.encoder.encode(batch, now_ms, templates);
  if (templates) c.last_templates_ms = now_ms;
  for (const Message& m : messages) {
    boost::system::error_code ec;
    const std::size_t sent = c.socket.send(boost::asio::buffer(m.bytes), 0, ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      c.counters.records_dropped += m.records;
      c.counters.last_error = "socket send buffer full";
      continue;
    }
    if (ec) {
      // The records are lost with the message: counted as errors, not
      // sent. (Its sequence numbers are used; the collector sees a gap,
      // which is what RFC 7011 wants it to see.)
      ++c.counters.send_errors;
      c.counters.last_error = ec.message();
      continue;
    }
    ++c.counters.packets_sent;
    c.counters.bytes_sent += sent;
    c.counters.records_sent += m.records;
  }
}

std::string format_status(const nlohmann::json& s) {
  if (!s.value("enabled", false)) return {};
  std::string out = fmt::format(
      "flow export: sampling 1 in {}, active {} s, inactive {} s, observation domain {}; "
      "{} flows cached, {} ended\n",
      s.value("sampling", 1u), s.value("active_timeout_s", 0u), s.value("inactive_timeout_s", 0u),
      s.value("observation_domain_id", 0u), s.value("flows_cached", uint64_t{0}),
      s.value("flows_ended", uint64_t{0}));
  for (const auto& c : s.value("collectors", nlohmann::json::array())) {
    out += fmt::format("  {}: {} records, {} packets, {} bytes sent; {} errors, {} dropped",
                       c.value("collector", std::string{}), c.value("records_sent", uint64_t{0}),
                       c.value("packets_sent", uint64_t{0}), c.value("bytes_sent", uint64_t{0}),
                       c.value("errors", uint64_t{0}), c.value("records_dropped", uint64_t{0}));
    const std::string err = c.value("last_error", std::string{});
    out += err.empty() ? "\n" : fmt::format(" (last: {})\n", err);
  }
  return out;
}

nlohmann::json Exporter::status() const {
  nlohmann::json s;
  s["enabled"] = cfg_.enabled();
  if (!cfg_.enabled()) return s;
  s["active_timeout_s"] = cfg_.active_timeout_s;
  s["inactive_timeout_s"] = cfg_.inactive_timeout_s;
  s["sampling"] = cfg_.sampling;
  s["observation_domain_id"] = cfg_.observation_domain_id;
  const ScanStats& st = scanner_.stats();
  s["flows_cached"] = st.flows_seen;
  s["flows_ended"] = st.flows_ended;
  s["evictions_seen"] = st.evictions_seen;
  s["map_errors"] = st.map_errors;
  s["collectors"] = nlohmann::json::array();
  for (const auto& c : collectors_) {
    s["collectors"].push_back({{"collector", c->name},
                               {"format", config::to_string(c->cfg.format)},
                               {"records_sent", c->counters.records_sent},
                               {"packets_sent", c->counters.packets_sent},
                               {"bytes_sent", c->counters.bytes_sent},
                               {"errors", c->counters.send_errors},
                               {"records_dropped", c->counters.records_dropped},
                               {"queued", c->queue.size()},
                               {"sequence", c->encoder.sequence()},
                               {"last_error", c->counters.last_error}});
  }
  return s;
}

std::vector<control::MetricFamily> Exporter::metrics() const {
  std::vector<control::MetricFamily> out;
  if (!cfg_.enabled()) return out;
  auto family = [&](std::string name, std::string help, auto get) {
    control::MetricFamily f{std::move(name), std::move(help), "counter", {}};
    for (const auto& c : collectors_)
      f.samples.push_back({{{"collector", c->name}}, double(get(c->counters))});
    out.push_back(std::move(f));
  };
  family("xdpgw_flow_export_records_total", "Flow records sent to the collector",
         [](const CollectorCounters& c) { return c.records_sent; });
  family("xdpgw_flow_export_packets_total", "Export messages (UDP datagrams) sent to the collector",
         [](const CollectorCounters& c) { return c.packets_sent; });
  family("xdpgw_flow_export_errors_total", "Sends to the collector the kernel refused",
         [](const CollectorCounters& c) { return c.send_errors; });
  family("xdpgw_flow_export_dropped_total",
         "Records or messages not sent: rate-bound queue overflow or socket buffer full",
         [](const CollectorCounters& c) { return c.records_dropped; });
  out.push_back({"xdpgw_flow_export_flows", "Flows in the datapath's flow cache at the last scan",
                 "gauge", {{{}, double(scanner_.stats().flows_seen)}}});
  return out;
}

}  // namespace xdpgw::flow_export
