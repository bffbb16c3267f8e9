#include "runner/report.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace xdpgw::bench {
namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

const PathResult* find_role(const CaseResult& result, PathRole role) {
  for (const PathResult& path : result.paths) {
    if (path.role == role && !path.samples.empty()) return &path;
  }
  return nullptr;
}

double median_mpps(const PathResult& path) {
  std::vector<double> mpps;
  for (const Sample& s : path.samples) mpps.push_back(s.mpps());
  return median(mpps);
}

// 1234567 -> "1,234,567"
std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string optional_fixed(const std::optional<double>& value, int decimals, std::string_view suffix = "") {
  return value ? fmt::format("{:.{}f}{}", *value, decimals, suffix) : "–";
}

nlohmann::json sample_json(const Sample& s) {
  return {{"round", s.round},
          {"offered", s.offered},
          {"forwarded", s.forwarded},
          {"lost", s.lost()},
          {"seconds", s.seconds},
          {"wall_seconds", s.wall_seconds},
          {"mpps", s.mpps()},
          {"sink_other_frames", s.sink_other},
          {"path_counters", s.counters}};
}

nlohmann::json optional_json(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

PathSummary summarize(const CaseResult& result, const PathResult& path) {
  PathSummary out;
  std::vector<double> mpps;
  for (const Sample& s : path.samples) {
    out.offered += s.offered;
    out.forwarded += s.forwarded;
    out.lost += s.lost();
    mpps.push_back(s.mpps());
  }
  if (mpps.empty()) return out;
  out.median_mpps = median(mpps);
  out.min_mpps = *std::ranges::min_element(mpps);
  out.max_mpps = *std::ranges::max_element(mpps);
  if (out.median_mpps <= 0) return out;
  out.ns_per_packet = 1e3 / out.median_mpps;
  if (const PathResult* ceiling = find_role(result, PathRole::kGeneratorCeiling)) {
    out.ns_added = out.ns_per_packet - 1e3 / median_mpps(*ceiling);
  }
  if (const PathResult* xdp = find_role(result, PathRole::kXdpCeiling)) {
    out.vs_xdp_ceiling = out.median_mpps / median_mpps(*xdp);
  }
  if (const PathResult* kernel = find_role(result, PathRole::kKernel)) {
    out.vs_kernel = out.median_mpps / median_mpps(*kernel);
  }
  return out;
}

nlohmann::json to_json(const RunInfo& info, const std::vector<ScenarioResult>& results) {
  nlohmann::json scenarios = nlohmann::json::array();
  for (const ScenarioResult& scenario : results) {
    nlohmann::json cases = nlohmann::json::array();
    for (const CaseResult& c : scenario.cases) {
      nlohmann::json paths = nlohmann::json::array();
      for (const PathResult& path : c.paths) {
        const PathSummary sum = summarize(c, path);
        nlohmann::json samples = nlohmann::json::array();
        for (const Sample& s : path.samples) samples.push_back(sample_json(s));
        paths.push_back({{"name", path.name},
                         {"label", path.label},
                         {"role", to_string(path.role)},
                         {"description", path.description},
                         {"ingress_xdp_attach_mode", path.attach_mode},
                         {"error", path.error ? nlohmann::json(*path.error) : nlohmann::json(nullptr)},
                         {"offered", sum.offered},
                         {"forwarded", sum.forwarded},
                         {"lost", sum.lost},
                         {"median_mpps", sum.median_mpps},
                         {"min_mpps", sum.min_mpps},
                         {"max_mpps", sum.max_mpps},
                         {"ns_per_packet", sum.ns_per_packet},
                         {"ns_added_vs_generator_ceiling", optional_json(sum.ns_added)},
                         {"ratio_vs_xdp_ceiling", optional_json(sum.vs_xdp_ceiling)},
                         {"ratio_vs_kernel", optional_json(sum.vs_kernel)},
                         {"samples", samples}});
      }
      cases.push_back({{"name", c.traffic.name()},
                       {"family", to_string(c.traffic.family)},
                       {"frame_size", c.traffic.mix.name},
                       {"frame_lengths", c.traffic.mix.frame_lengths},
                       {"mean_frame_bytes", c.traffic.mix.mean_length()},
                       {"flows", c.traffic.flows},
                       {"paths", paths}});
    }
    scenarios.push_back({{"name", scenario.name}, {"title", scenario.title}, {"cases", cases}});
  }
  return {{"tool", "xdpgw-bench"},
          {"mode", info.mode},
          {"started_at", info.started_at},
          {"interrupted", info.interrupted},
          {"error", info.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.error)},
          {"machine",
           {{"kernel", info.kernel},
            {"cpu_model", info.cpu_model},
            {"cpus", info.cpus},
            {"load_average_start", info.load_average_start},
            {"load_average_end", info.load_average_end}}},
          {"method",
           {{"generator", "BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, XDP_TX out of a veth; "
                          "every frame rewritten from a template"},
            {"generator_cpu", info.generator_cpu},
            {"frames_per_measurement", info.frames_per_measurement},
            {"rounds", info.rounds},
            {"batch_size", info.batch_size},
            {"generator_sched_fifo", info.realtime},
            {"timing", "first to last generated frame (bpf_ktime_get_ns in the generator)"},
            {"mpps", "frames counted at the sink / timing"},
            {"ns_added", "1e3 / Mpps - 1e3 / Mpps(generator ceiling), medians"}}},
          {"xdpgw_version", info.xdpgw_version},
          {"scenarios", scenarios}};
}

std::string to_markdown(const RunInfo& info, const std::vector<ScenarioResult>& results) {
  std::string md = fmt::format("# xdpgw benchmark ({} run{})\n\n", info.mode,
                               info.interrupted ? ", INTERRUPTED: partial" : "");
  if (!info.error.empty()) md += fmt::format("**Run stopped early:** {}\n\n", info.error);
  md += fmt::format(
      "Linux {} · {} CPUs ({}) · generator and every path on CPU {}{} (veth runs the receiving "
      "side on the sending CPU) · {} frames per measurement · {} rounds, interleaved, median · "
      "load average {} at start, {} at end · {} · {}\n\n",
      info.kernel, info.cpus, info.cpu_model, info.generator_cpu,
      info.realtime ? ", generator SCHED_FIFO" : "",
      grouped(info.frames_per_measurement), info.rounds, info.load_average_start,
      info.load_average_end, info.started_at, info.xdpgw_version);
  for (const ScenarioResult& scenario : results) {
    md += fmt::format("## {}\n\n", scenario.title);
    md += "| traffic | path | XDP on ingress | offered | forwarded | lost | Mpps median (min–max) "
          "| ns/packet | ns added vs generator | × minimal XDP | × Linux |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::string notes;
    for (const CaseResult& c : scenario.cases) {
      for (const PathResult& path : c.paths) {
        if (path.error) {
          md += fmt::format("| {} | {} | {} | – | – | – | did not forward | – | – | – | – |\n",
                            c.traffic.name(), path.label, path.attach_mode);
          notes += fmt::format("- {}, {}: {}\n", c.traffic.name(), path.label, *path.error);
          continue;
        }
        if (path.samples.empty()) continue;  // interrupted before it
        const PathSummary sum = summarize(c, path);
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.2f} ({:.2f}–{:.2f}) | {:.0f} | {} | {} | {} |\n",
                          c.traffic.name(), path.label, path.attach_mode, grouped(sum.offered),
                          grouped(sum.forwarded), grouped(sum.lost), sum.median_mpps, sum.min_mpps,
                          sum.max_mpps, sum.ns_per_packet,
                          path.role == PathRole::kGeneratorCeiling ? std::string("0 (reference)")
                                                                   : optional_fixed(sum.ns_added, 0),
                          optional_fixed(sum.vs_xdp_ceiling, 2), optional_fixed(sum.vs_kernel, 2));
        if (sum.lost > 0) {
          // Where the frames went: the path's counters of the round that lost most.
          const auto worst = std::ranges::max_element(
              path.samples, {}, [](const Sample& s) { return s.lost(); });
          std::string counters;
          for (const auto& [name, value] : worst->counters) counters += fmt::format(" {}={}", name, value);
          notes += fmt::format("- {}, {}: {} of {} frames lost over all rounds; round {} counters:{}\n",
                               c.traffic.name(), path.label, grouped(sum.lost),
                               grouped(sum.offered), worst->round, counters);
        }
      }
    }
    if (!notes.empty()) md += "\nLosses and failures:\n\n" + notes;
    md += "\n";
  }
  md += "Mpps = generator frames counted at the sink / time from the first to the last "
        "generated frame, all on one core. ns added = 1000/Mpps − 1000/Mpps of the generator "
        "→ sink path in the same traffic case. × columns = median Mpps / the reference's median "
        "Mpps. Speeds are figures, never pass/fail.\n";
  return md;
}

std::string chart_data(const std::vector<ScenarioResult>& results) {
  std::string out;
  for (const ScenarioResult& scenario : results) {
    if (scenario.cases.empty()) continue;
    // Two blank lines separate blocks (gnuplot `index`); none after the
    // last, or gnuplot counts an empty block.
    if (!out.empty()) out += "\n\n";
    out += fmt::format("# {}\n\"traffic\"", scenario.title);
    for (const PathResult& path : scenario.cases.front().paths) out += fmt::format(" \"{}\"", path.label);
    out += '\n';
    for (const CaseResult& c : scenario.cases) {
      out += fmt::format("\"{}\"", c.traffic.name());
      for (const PathResult& path : c.paths) {
        const PathSummary sum = summarize(c, path);
        out += path.samples.empty() ? std::string(" ?") : fmt::format(" {:.3f}", sum.median_mpps);
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace xdpgw::bench
