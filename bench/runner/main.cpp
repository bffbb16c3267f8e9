// xdpgw-bench: the traffic benchmarks behind bench/run.sh. For each scenario
// it builds the topology (one gateway namespace per path), sets every path
// up at once, checks each forwards, then measures every path in every
// traffic case for several rounds, interleaved (the path order rotates each
// round), and writes results.json, results.md and chart.dat into --out.
// Speeds are reported, never judged.
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gen/system.hpp"
#include "harness/run.hpp"
#include "harness/xdp.hpp"
#include "runner/calibrate.hpp"
#include "runner/prog_stats.hpp"
#include "runner/report.hpp"
#include "runner/scenario.hpp"
#include "runner/topology.hpp"

#ifndef XDPGW_BINARY
#error "XDPGW_BINARY (path of the xdpgw executable) must be defined by the build"
#endif
#ifndef XDPGW_BENCH_TOPOLOGY_SCRIPT
#error "XDPGW_BENCH_TOPOLOGY_SCRIPT must be defined by the build"
#endif

namespace {

using namespace xdpgw;
using namespace xdpgw::bench;

constexpr auto kReadyTimeout = std::chrono::seconds(15);

struct Options {
  std::filesystem::path out;
  bool quick = false;
  std::string prefix = fmt::format("xbn{}", ::getpid());
  std::filesystem::path topology_script = XDPGW_BENCH_TOPOLOGY_SCRIPT;
  std::filesystem::path xdpgw = XDPGW_BINARY;
  std::optional<uint64_t> frames;
  std::optional<unsigned> rounds;
  std::optional<unsigned> cpu;
  uint32_t batch = 64;
  bool realtime = true;
  std::optional<uint32_t> flows;
  std::vector<std::string> scenarios;
  std::string generator;  // empty: the fastest that works (calibrated)
};

struct Interrupted {};

std::string read_first_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string load_average() {
  std::istringstream fields(read_first_line("/proc/loadavg"));
  std::string one, five, fifteen;
  fields >> one >> five >> fifteen;
  return fmt::format("{}/{}/{}", one, five, fifteen);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

RunInfo describe_run(const Options& options, uint64_t frames, unsigned rounds, unsigned cpu) {
  utsname uts{};
  ::uname(&uts);
  std::string version = test::run_cmd(test::shell_quote(options.xdpgw.string()) + " --version").output;
  version.erase(std::remove(version.begin(), version.end(), '\n'), version.end());
  return RunInfo{.mode = options.quick ? "quick" : "full",
                 .started_at = fmt::format("{:%Y-%m-%d %H:%M:%S} UTC",
                                           fmt::gmtime(std::time(nullptr))),
                 .kernel = uts.release,
                 .cpu_model = cpu_model(),
                 .cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN)),
                 .generator_cpu = cpu,
                 .frames_per_measurement = frames,
                 .rounds = rounds,
                 .batch_size = options.batch,
                 .realtime = options.realtime,
                 .load_average_start = load_average(),
                 .xdpgw_version = version};
}

// Measures one scenario into `result` (filled as it goes, so an interrupted
// run still reports what it measured). Throws Interrupted.
void run_scenario(const Scenario& scenario, const Options& options, const MeasureOptions& measure_options,
                  unsigned rounds, BpfStatsEnabled& bpf_stats, ScenarioResult& result) {
  std::cerr << fmt::format("== {}: setting up paths {}\n", scenario.name,
                           fmt::join(scenario.path_names, ", "));
  const std::filesystem::path logs = options.out / "logs";
  std::filesystem::create_directories(logs);
  BenchTopology topology(options.topology_script, options.prefix, scenario.path_names);
  const PathContext context{.topology = topology,
                            .dst_port = measure_options.dst_port,
                            .xdpgw_binary = options.xdpgw,
                            .work_dir = logs};
  const std::vector<std::unique_ptr<ForwardingPath>> paths = scenario.make_paths(context);

  for (const TrafficCase& traffic : scenario.cases) {
    CaseResult& case_result = result.cases.emplace_back(CaseResult{.traffic = traffic});
    for (const auto& path : paths) {
      PathResult& path_result = case_result.paths.emplace_back(PathResult{
          .name = path->name(),
          .label = path->label(),
          .description = path->description(),
          .role = path->role(),
          .attach_mode = path->ingress_attach_mode(),
          .counts_drops = path->intended_drops().has_value()});
      if (std::optional<std::string> error = path->setup_error()) {
        path_result.error = std::move(error);
        continue;
      }
      path_result.error = wait_until_forwarding(*path, traffic, measure_options, kReadyTimeout);
      if (stop_requested()) throw Interrupted{};
      if (path_result.error) {
        std::cerr << fmt::format("   {} / {}: NOT FORWARDING: {}\n", traffic.name(), path->label(),
                                 *path_result.error);
      } else if (!warm_up(*path, traffic, measure_options)) {
        throw Interrupted{};
      }
    }
    for (unsigned round = 1; round <= rounds; ++round) {
      // Rotate the order every round: no path always runs right after the
      // same other one, and slow drifts of the machine spread over all.
      for (std::size_t i = 0; i < paths.size(); ++i) {
        const std::size_t index = (i + round - 1) % paths.size();
        PathResult& path_result = case_result.paths[index];
        if (path_result.error) continue;
        // Stats off for the second measurement, or the first on odd
        // rounds: neither kind always follows the other.
        std::vector<bool> stats_on = {true};
        if (scenario.rate_without_prog_stats) stats_on = round % 2 ? std::vector<bool>{false, true}
                                                                    : std::vector<bool>{true, false};
        for (const bool prog_stats : stats_on) {
          if (path_result.error) break;
          std::optional<Sample> sample;
          if (prog_stats) {
            sample = measure(*paths[index], traffic, measure_options, round);
          } else {
            {
              const BpfStatsEnabled::Paused paused(bpf_stats);
              sample = measure(*paths[index], traffic, measure_options, round);
            }
            if (!bpf_stats.active())
              throw std::runtime_error("BPF run-time stats did not come back on after a rate measurement");
          }
          if (!sample || stop_requested()) throw Interrupted{};
          // Someone else (the sysctl, another BPF_ENABLE_STATS fd) may have
          // kept stats on: the program then counted its runs.
          sample->prog_stats = prog_stats || (sample->prog && sample->prog->runs > 0);
          std::cerr << fmt::format("   {:<22} round {}/{}  {:<44} {:6.3f} Mpps  offered {} {}lost {}{}{}\n",
                                   traffic.name(), round, rounds, path_result.label, sample->mpps(),
                                   sample->offered,
                                   path_result.counts_drops ? fmt::format("dropped {} ", sample->dropped) : "",
                                   sample->lost(),
                                   sample->prog && sample->prog->runs > 0
                                       ? fmt::format("  prog {:.0f} ns", sample->prog->ns_per_run())
                                       : "",
                                   prog_stats ? "" : "  (stats off)");
          path_result.samples.push_back(*sample);
          if (std::optional<std::string> failure = paths[index]->check(traffic, *sample)) {
            // Loud, and the path is measured no further: its figures would
            // describe some other way through the gateway.
            std::cerr << fmt::format("   {} / {}: CHECK FAILED in round {}: {}\n", traffic.name(),
                                     path_result.label, round, *failure);
            path_result.error = fmt::format("check failed in round {}: {}", round, *failure);
          }
        }
      }
    }
  }
  // After the last case, and reported with it: what the paths hold now (a
  // connection table with every case's flows in it).
  if (result.cases.empty()) return;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    // A figure that could not be read is reported as such; the run goes on.
    try {
      result.cases.back().paths[i].details = paths[i]->details();
    } catch (const std::exception& e) {
      std::cerr << fmt::format("   {}: details not available: {}\n", paths[i]->label(), e.what());
      result.cases.back().paths[i].details = {{"error", e.what()}};
    }
  }
}

// Paths whose measurements failed their check (frames went another way).
std::size_t failed_checks(const std::vector<ScenarioResult>& results) {
  std::size_t failed = 0;
  for (const ScenarioResult& scenario : results) {
    for (const CaseResult& c : scenario.cases) {
      for (const PathResult& path : c.paths) failed += path.error && !path.samples.empty();
    }
  }
  return failed;
}

void write_results(const Options& options, RunInfo info, const std::vector<ScenarioResult>& results) {
  info.load_average_end = load_average();
  std::filesystem::create_directories(options.out);
  std::ofstream(options.out / "results.json") << to_json(info, results).dump(2) << '\n';
  std::ofstream(options.out / "results.md") << to_markdown(info, results);
  std::ofstream(options.out / "chart.dat") << chart_data(results);
  std::cout << to_markdown(info, results);
}

int run(const Options& options) {
  install_stop_signal_handlers();
  test::ensure_bpffs_mounted();  // xdpgw pins there

  const unsigned cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  // Quick: about a second per measurement on the slowest path (Linux
  // forwarding), ~1 minute in all; full: 3x the frames, more rounds and the
  // IMIX cases, ~5 minutes. Rounds matter more than frames on a shared
  // machine: the median is taken over them.
  const uint64_t frames = options.frames.value_or(options.quick ? 1'000'000 : 3'000'000);
  const unsigned rounds = options.rounds.value_or(options.quick ? 5 : 7);
  const unsigned cpu = options.cpu.value_or(cpus - 1);
  MeasureOptions measure_options{.frames = frames,
                                 .batch_size = options.batch,
                                 .generator_cpu = cpu,
                                 .realtime = options.realtime};
  std::optional<GeneratorKind> forced;
  if (!options.generator.empty()) {
    forced = parse_generator_kind(options.generator);
    if (!forced) throw std::invalid_argument("--generator " + options.generator + ": unknown");
  }

  RunInfo info = describe_run(options, frames, rounds, cpu);
  std::vector<ScenarioResult> results;
  const ScenarioOptions scenario_options{.quick = options.quick, .flows = options.flows};
  // On for the whole run (off again when this goes, however the run ends):
  // every measurement reads its programs' run time from it.
  BpfStatsEnabled bpf_stats;
  info.prog_stats_method = bpf_stats.method();
  try {
    const GeneratorChoice choice =
        choose_generator(options.topology_script, options.prefix, measure_options, forced);
    measure_options.generator = choice.chosen;
    info.generator = choice;
    for (const Scenario& scenario : all_scenarios(scenario_options)) {
      if (!options.scenarios.empty() &&
          std::ranges::find(options.scenarios, scenario.name) == options.scenarios.end()) {
        continue;
      }
      ScenarioResult& result =
          results.emplace_back(ScenarioResult{
              .name = scenario.name, .title = scenario.title, .notes = scenario.notes});
      run_scenario(scenario, options, measure_options, rounds, bpf_stats, result);
    }
  } catch (const Interrupted&) {
    info.interrupted = true;
    std::cerr << "xdpgw-bench: interrupted; writing what was measured\n";
  } catch (const std::exception& e) {
    // Everything measured so far is still worth writing. A Ctrl-C also
    // reaches the daemons and the topology script (same process group), so
    // their failure then is the interruption, not an error.
    if (stop_requested()) {
      info.interrupted = true;
    } else {
      info.error = e.what();
    }
    std::cerr << "xdpgw-bench: " << e.what() << "\nwriting what was measured\n";
  }
  write_results(options, info, results);
  if (!info.error.empty()) return 1;
  if (const std::size_t failed = failed_checks(results); failed > 0) {
    std::cerr << fmt::format("xdpgw-bench: {} measured path(s) FAILED their check (see results.md)\n",
                             failed);
    return 1;
  }
  return info.interrupted ? 130 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xdpgw-bench: router, load balancer, connection-table, ACL/rate-limit and AF_XDP punt "
               "traffic benchmarks; run through bench/run.sh"};
  Options options;
  app.add_option("--out", options.out, "Directory for results.json, results.md, chart.dat, logs/")->required();
  app.add_flag("--quick", options.quick, "Fewer frames, rounds and traffic cases (about a minute)");
  app.add_option("--prefix", options.prefix, "Name prefix of every namespace and xdpgw instance")->capture_default_str();
  app.add_option("--topology-script", options.topology_script, "bench-topology.sh")->capture_default_str();
  app.add_option("--xdpgw", options.xdpgw, "xdpgw executable")->capture_default_str();
  app.add_option("--frames", options.frames, "Frames per measurement (default 1M quick, 3M full)");
  app.add_option("--rounds", options.rounds, "Measurements of every path per traffic case (default 5 quick, 7 full)");
  app.add_option("--cpu", options.cpu, "CPU the generator (and so every path) runs on (default: the last)");
  app.add_option("--batch", options.batch, "Generator frames per softirq flush, 1..256")->capture_default_str();
  app.add_flag("--realtime,!--no-realtime", options.realtime,
               "Run the generator as SCHED_FIFO while it sends, so other processes cannot "
               "preempt it (default on)");
  app.add_option("--flows", options.flows, "Flows of every traffic case (default: the scenario's)");
  app.add_option("--generator", options.generator,
                 "Traffic generator instead of the fastest one calibrated at start: live-frames, "
                 "xdp-loop, tc-clone, trafgen");
  std::vector<std::string> scenario_names;
  for (const Scenario& scenario : all_scenarios({})) scenario_names.push_back(scenario.name);
  app.add_option("--scenario", options.scenarios,
                 fmt::format("Only these scenarios (default: all): {}", fmt::join(scenario_names, ", ")));
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) {
    std::cerr << "xdpgw-bench: needs root (namespaces, XDP, BPF_PROG_TEST_RUN)\n";
    return 1;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-bench: " << e.what() << '\n';
    return 1;
  }
}
