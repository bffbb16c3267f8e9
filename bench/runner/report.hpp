// Results of a run and how they are written: JSON (everything, every
// sample), a Markdown table (medians and ratios), and a data file for the
// gnuplot chart (bench/chart.gp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner/calibrate.hpp"
#include "runner/measure.hpp"
#include "runner/paths.hpp"

namespace xdpgw::bench {

struct PathResult {
  std::string name;
  std::string label;
  std::string description;
  PathRole role = PathRole::kSubject;
  std::string attach_mode;
  // The path counts frames it drops on purpose (ForwardingPath::intended_drops):
  // its scenario's table gets a "dropped" column.
  bool counts_drops = false;
  std::vector<Sample> samples;
  // The path never forwarded (no samples), or a measurement failed its
  // check (frames went another way; the samples up to it are kept).
  std::optional<std::string> error;
  nlohmann::json details = nlohmann::json::object();  // ForwardingPath::details(), last case only
};

struct CaseResult {
  TrafficCase traffic;
  std::vector<PathResult> paths;
};

struct ScenarioResult {
  std::string name;
  std::string title;
  std::vector<std::string> notes;  // Scenario::notes
  std::vector<CaseResult> cases;
};

// Where and how the figures were taken: printed beside them.
struct RunInfo {
  std::string mode;  // "quick" / "full"
  std::string started_at;  // UTC, ISO 8601
  std::string kernel;
  std::string cpu_model;
  unsigned cpus = 0;
  unsigned generator_cpu = 0;
  uint64_t frames_per_measurement = 0;
  unsigned rounds = 0;
  uint32_t batch_size = 0;
  bool realtime = false;  // generator ran as SCHED_FIFO
  std::string load_average_start;
  std::string load_average_end;
  std::string xdpgw_version;
  std::optional<GeneratorChoice> generator;  // none when the run stopped before choosing
  std::string prog_stats_method;             // how kernel BPF run-time stats were switched on
  bool interrupted = false;
  std::string error;  // why the run stopped early, empty when it did not
};

// Medians and comparisons of one path in one case, against the reference
// paths of the same case.
struct PathSummary {
  uint64_t offered = 0;    // over all rounds
  uint64_t forwarded = 0;
  uint64_t dropped = 0;  // on purpose, by the path's own counters
  uint64_t lost = 0;
  double median_mpps = 0;
  double min_mpps = 0;
  double max_mpps = 0;
  double ns_per_packet = 0;                  // 1e3 / median Mpps
  std::optional<double> ns_added;            // over the generator ceiling
  std::optional<double> vs_xdp_ceiling;      // median Mpps / XDP ceiling's
  std::optional<double> vs_kernel;           // median Mpps / kernel's
  // The ingress XDP program's own cost (kernel bpf_stats), median over the
  // rounds of Δrun_time_ns / Δrun_cnt, and its ratios to the same figure of
  // the case's minimal XDP program and minimal FIB router.
  std::string prog_name;
  std::optional<double> prog_ns;
  std::optional<double> prog_min_ns;
  std::optional<double> prog_max_ns;
  std::optional<double> prog_vs_xdp_ceiling;
  std::optional<double> prog_vs_fib_reference;
};
PathSummary summarize(const CaseResult& result, const PathResult& path);

nlohmann::json to_json(const RunInfo& info, const std::vector<ScenarioResult>& results);
std::string to_markdown(const RunInfo& info, const std::vector<ScenarioResult>& results);
// One block per scenario: a header row of path labels, then one row per
// traffic case of median Mpps ("?" where missing), blocks separated by two
// blank lines (gnuplot `index`).
std::string chart_data(const std::vector<ScenarioResult>& results);

}  // namespace xdpgw::bench
