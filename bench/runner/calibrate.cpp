#include "runner/calibrate.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "gen/system.hpp"
#include "runner/paths.hpp"
#include "runner/topology.hpp"

namespace xdpgw::bench {
namespace {

// A first short send finds the rate; the timed one is about this long.
constexpr double kTimedSeconds = 1.0;
constexpr uint64_t kProbeFrames = 20'000;
constexpr uint64_t kMinTimedFrames = 50'000;
constexpr uint64_t kMaxTimedFrames = 20'000'000;
// A candidate that loses more than this share into a plain sink is broken.
constexpr double kMinDeliveredShare = 0.99;

GeneratorTrial calibrate(GeneratorKind kind, const ForwardingPath& path, MeasureOptions options) {
  GeneratorTrial trial{.kind = kind};
  options.generator = kind;
  try {
    options.frames = kProbeFrames;
    const std::optional<Sample> probe = measure(path, TrafficCase{}, options, 0);
    if (!probe) throw std::runtime_error("interrupted");
    options.frames = std::clamp<uint64_t>(static_cast<uint64_t>(probe->mpps() * 1e6 * kTimedSeconds),
                                          kMinTimedFrames, kMaxTimedFrames);
    const std::optional<Sample> timed = measure(path, TrafficCase{}, options, 0);
    if (!timed) throw std::runtime_error("interrupted");
    trial.offered = timed->offered;
    trial.delivered = timed->forwarded;
    trial.seconds = timed->seconds;
    if (static_cast<double>(timed->forwarded) < kMinDeliveredShare * static_cast<double>(options.frames)) {
      trial.error = fmt::format("only {} of {} frames reached the sink", timed->forwarded, options.frames);
    } else {
      trial.mpps = timed->mpps();
    }
  } catch (const std::exception& e) {
    trial.error = e.what();
  }
  return trial;
}

}  // namespace

GeneratorChoice choose_generator(const std::filesystem::path& topology_script, const std::string& prefix,
                                 const MeasureOptions& options, std::optional<GeneratorKind> forced) {
  std::cerr << "== generator: calibrating each candidate into an XDP_DROP sink (64-byte IPv4)\n";
  BenchTopology topology(topology_script, prefix, {std::string(kDirectPath)});
  const PathContext context{.topology = topology, .dst_port = options.dst_port, .xdpgw_binary = {}, .work_dir = {}};
  const std::unique_ptr<ForwardingPath> path = make_direct_path(context);

  GeneratorChoice choice;
  for (GeneratorKind kind : all_generator_kinds()) {
    GeneratorTrial trial = calibrate(kind, *path, options);
    if (stop_requested()) throw std::runtime_error("interrupted while calibrating the generators");
    if (trial.mpps) {
      std::cerr << fmt::format("   {:<12} {:6.3f} Mpps  ({} frames in {:.2f} s)\n", to_string(kind),
                               *trial.mpps, trial.delivered, trial.seconds);
    } else {
      std::cerr << fmt::format("   {:<12} does not work here: {}\n", to_string(kind), trial.error);
    }
    choice.trials.push_back(std::move(trial));
  }

  const auto works = [](const GeneratorTrial& t) { return t.mpps.has_value(); };
  if (forced) {
    const auto it = std::ranges::find(choice.trials, *forced, &GeneratorTrial::kind);
    if (it == choice.trials.end() || !works(*it)) {
      throw std::runtime_error(fmt::format("--generator {}: it does not work here: {}", to_string(*forced),
                                           it == choice.trials.end() ? "unknown" : it->error));
    }
    choice.chosen = *forced;
    choice.forced = true;
  } else {
    const GeneratorTrial* best = nullptr;
    for (const GeneratorTrial& t : choice.trials) {
      if (works(t) && (!best || *t.mpps > *best->mpps)) best = &t;
    }
    if (!best) throw std::runtime_error("no traffic generator works on this machine (see above)");
    choice.chosen = best->kind;
  }
  std::cerr << fmt::format("== generator: {}{}\n", to_string(choice.chosen),
                           choice.forced ? " (--generator)" : " (fastest)");
  return choice;
}

}  // namespace xdpgw::bench
