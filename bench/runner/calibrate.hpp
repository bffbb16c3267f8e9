// Picks the traffic generator at the start of a run: each candidate
// (gen/generator.hpp) sends about a second of 64-byte IPv4 frames straight
// into an XDP_DROP sink, and the fastest that works drives every
// measurement. Live frames are tried first and win where the kernel allows
// them; elsewhere the refusal is recorded as that candidate's result.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gen/generator.hpp"
#include "runner/measure.hpp"

namespace xdpgw::bench {

struct GeneratorTrial {
  GeneratorKind kind = GeneratorKind::kLiveFrames;
  uint64_t offered = 0;    // frames of the timed send
  uint64_t delivered = 0;  // ... that the sink counted
  double seconds = 0;
  std::optional<double> mpps;  // delivered / seconds; none when it failed
  std::string error;           // why it failed (the kernel's refusal, ...)
};

struct GeneratorChoice {
  GeneratorKind chosen = GeneratorKind::kLiveFrames;
  bool forced = false;  // --generator, not the measured rate, chose it
  std::vector<GeneratorTrial> trials;
};

// Calibrates every candidate on a topology of its own (the direct path
// only, named `prefix`, removed on return). `forced`: use that kind whatever
// the rates (it must work). Throws std::runtime_error when no candidate
// works, or when a stop signal arrived.
GeneratorChoice choose_generator(const std::filesystem::path& topology_script, const std::string& prefix,
                                 const MeasureOptions& options, std::optional<GeneratorKind> forced);

}  // namespace xdpgw::bench
