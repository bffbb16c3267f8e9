#include "daemon/pipeline_observe.hpp"

#include <fmt/format.h>

#include <exception>
#include <utility>

namespace xdpgw::daemon {

namespace {

// The result counters, in the order they are shown.
std::vector<std::pair<std::string, uint64_t>> results(const pipeline::PipelineStats& st) {
  return {{"rx", st.rx.load()},
          {"forwarded", st.forwarded.load()},
          {"passed", st.passed.load()},
          {"dropped", st.dropped.load()},
          {"offloaded", st.offloaded.load()},
          {"parse_errors", st.parse_errors.load()},
          {"no_neighbour", st.no_neighbour.load()},
          {"tx_ring_full", st.tx_ring_full.load()}};
}

std::string error_of(const pipeline::Pipeline& p) {
  if (auto e = p.error()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "unknown error";
    }
  }
  return {};
}

}  // namespace

nlohmann::json pipeline_json(const pipeline::Pipeline& p) {
  nlohmann::json j;
  nlohmann::json packets = nlohmann::json::object();
  for (const auto& [name, n] : results(p.stats())) packets[name] = n;
  j["packets"] = std::move(packets);
  nlohmann::json sockets = nlohmann::json::array();
  for (const auto& s : p.sockets())
    sockets.push_back({{"port", s.ifname}, {"queue", s.queue}, {"slot", s.slot}, {"zero_copy", s.zero_copy}});
  j["sockets"] = std::move(sockets);
  // As the pipeline thread last published it (once per loop).
  const xsk::FrameAccounting f = p.published_accounting();
  j["umem_frames"] = {{"total", f.total}, {"free", f.free}, {"fill", f.in_fill}, {"rx", f.in_rx}, {"tx", f.in_tx}};
  const std::string error = error_of(p);
  j["running"] = error.empty();
  j["error"] = error;
  return j;
}

std::vector<control::MetricFamily> pipeline_metrics(const pipeline::Pipeline& p) {
  const pipeline::PipelineStats& st = p.stats();
  auto counter = [](std::string name, std::string help, std::vector<control::Sample> samples) {
    return control::MetricFamily{.name = std::move(name), .help = std::move(help), .type = "counter",
                                 .samples = std::move(samples)};
  };
  auto value = [](uint64_t n) { return control::Sample{.labels = {}, .value = static_cast<double>(n)}; };
  auto labelled = [](const char* label, const char* v, uint64_t n) {
    return control::Sample{.labels = {{label, v}}, .value = static_cast<double>(n)};
  };
  std::vector<control::MetricFamily> out;
  out.push_back(counter("xdpgw_pipeline_received_total", "Packets the AF_XDP pipeline received.",
                        {value(st.rx.load())}));
  // Each received packet ends in exactly one result: these add up.
  out.push_back(counter("xdpgw_pipeline_packets_total", "What the AF_XDP pipeline did with each packet.",
                        {labelled("result", "forwarded", st.forwarded.load()),
                         labelled("result", "passed", st.passed.load()),
                         labelled("result", "dropped", st.dropped.load())}));
  out.push_back(counter("xdpgw_pipeline_offloaded_flows_total",
                        "Flow verdicts the AF_XDP pipeline wrote into the connection table.",
                        {value(st.offloaded.load())}));
  // Causes already counted in a result above (parse errors and full tx
  // rings as dropped, no neighbour as passed).
  out.push_back(counter("xdpgw_pipeline_problems_total",
                        "Packets the AF_XDP pipeline could not handle as asked, by cause (also in a result).",
                        {labelled("cause", "parse_error", st.parse_errors.load()),
                         labelled("cause", "no_neighbour", st.no_neighbour.load()),
                         labelled("cause", "tx_ring_full", st.tx_ring_full.load())}));
  const xsk::FrameAccounting f = p.published_accounting();
  control::MetricFamily frames{.name = "xdpgw_pipeline_umem_frames",
                               .help = "UMEM frames of the AF_XDP pipeline by where they are.",
                               .type = "gauge",
                               .samples = {labelled("state", "free", f.free), labelled("state", "fill", f.in_fill),
                                           labelled("state", "rx", f.in_rx), labelled("state", "tx", f.in_tx)}};
  out.push_back(std::move(frames));
  out.push_back({.name = "xdpgw_pipeline_sockets",
                 .help = "AF_XDP sockets of the pipeline.",
                 .type = "gauge",
                 .samples = {value(p.sockets().size())}});
  out.push_back(pipeline_up_metric(!p.error()));
  return out;
}

control::MetricFamily pipeline_up_metric(bool up) {
  return {.name = "xdpgw_pipeline_up",
          .help = "1 while the AF_XDP pipeline runs; 0 when it failed to start or stopped on an error.",
          .type = "gauge",
          .samples = {{.labels = {}, .value = up ? 1.0 : 0.0}}};
}

nlohmann::json failed_pipeline_json(const std::string& error) {
  return {{"running", false},
          {"error", error},
          {"packets", nlohmann::json::object()},
          {"sockets", nlohmann::json::array()},
          {"umem_frames", {{"total", 0}, {"free", 0}, {"fill", 0}, {"rx", 0}, {"tx", 0}}}};
}

std::string format_pipeline(const nlohmann::json& j) {
  std::string out = "AF_XDP pipeline: ";
  out += j["running"].get<bool>() ? "running" : "STOPPED: " + j["error"].get<std::string>();
  out += "\n  packets:";
  for (const auto& [name, n] : j["packets"].items()) out += fmt::format(" {} {}", name, n.get<uint64_t>());
  const auto& f = j["umem_frames"];
  out += fmt::format("\n  umem frames: {} total, {} free, {} in fill rings, {} received, {} in tx\n",
                     f["total"].get<uint64_t>(), f["free"].get<uint64_t>(), f["fill"].get<uint64_t>(),
                     f["rx"].get<uint64_t>(), f["tx"].get<uint64_t>());
  for (const auto& s : j["sockets"])
    out += fmt::format("  socket {} queue {} -> slot {} ({})\n", s["port"].get<std::string>(),
                       s["queue"].get<uint32_t>(), s["slot"].get<uint32_t>(),
                       s["zero_copy"].get<bool>() ? "zero-copy" : "copy mode");
  return out;
}

}  // namespace xdpgw::daemon
