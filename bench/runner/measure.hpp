// One measurement: the generator sends a fixed number of frames into one
// path at full speed; the sink counts what arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gen/generator.hpp"
#include "gen/traffic.hpp"
#include "runner/paths.hpp"

namespace xdpgw::bench {

// The traffic of a measurement, the same for every path it is compared on.
struct TrafficCase {
  IpFamily family = IpFamily::kIpv4;
  FrameMix mix = FrameMix::fixed(64);
  uint32_t flows = 64;
  // Destination address of every frame, of `family`; empty: the host behind
  // the sink port (kSinkHost4/6). LB scenarios send to a VIP.
  std::string destination;
  // What sets this case apart from others of the same family, size and
  // flows (the ACL scenario's "ACL deny" and "rate limited" floods differ
  // only in their destination); appended to the name. Empty: nothing.
  std::string label;
  // xdpgw verdict reasons that, summed, must count every frame an xdpgw
  // path handled in this case ({"drop_acl_deny"} for a flood the ACL
  // denies), or the path fails its check: its frames went some other way.
  // Empty: only the path's own check.
  std::vector<std::string> xdpgw_verdicts;

  std::string name() const;  // "IPv4 64B 64 flows", "IPv4 64B 10000 flows, ACL deny"
};

struct MeasureOptions {
  GeneratorKind generator = GeneratorKind::kLiveFrames;
  uint64_t frames = 1'000'000;  // per measurement
  uint32_t batch_size = 64;     // generator frames per softirq flush
  unsigned generator_cpu = 1;   // everything on the path runs here (veth)
  bool realtime = true;         // generator as SCHED_FIFO while it sends
  uint16_t dst_port = 9;
};

// What the XDP program on the path's ingress port spent during one
// measurement (kernel bpf_stats: ProgStats differences).
struct ProgCost {
  uint32_t id = 0;
  std::string name;
  uint64_t runs = 0;
  uint64_t run_time_ns = 0;
  double ns_per_run() const { return runs ? static_cast<double>(run_time_ns) / static_cast<double>(runs) : 0; }
};

struct Sample {
  unsigned round = 0;
  uint64_t offered = 0;      // frames the generator sent
  uint64_t forwarded = 0;    // generator frames the sink counted
  // Frames the path dropped on purpose, by its own counters (an ACL's deny
  // verdicts, a rate limiter's): its work, not a loss. 0 for paths that
  // drop nothing on purpose (ForwardingPath::intended_drops).
  uint64_t dropped = 0;
  double seconds = 0;        // first to last frame, as the generator timed them
  double wall_seconds = 0;   // of the generator's test run, start-up included
  uint64_t sink_other = 0;   // non-generator frames the sink saw meanwhile
  Counters counters;         // change of the path's own counters
  std::optional<ProgCost> prog;  // the ingress XDP program's cost; none without one
  // Kernel BPF run-time stats were on. They cost every program run two
  // clock reads (pvclock in this VM, tens of ns), so a scenario that
  // compares the gateway's whole cost with a path without XDP also takes
  // rate samples with them off (Scenario::rate_without_prog_stats).
  bool prog_stats = true;

  // Frames that went the way the path handles them: to the sink, or
  // dropped by its verdict.
  uint64_t handled() const { return forwarded + dropped; }
  uint64_t lost() const { return offered > handled() ? offered - handled() : 0; }
  // Handled frames per second, in millions (forwarded ones for every path
  // that drops nothing on purpose).
  double mpps() const { return seconds > 0 ? static_cast<double>(handled()) / seconds / 1e6 : 0; }
};

// The generator's view of a path for a traffic case.
TrafficSpec traffic_for(const ForwardingPath& path, const TrafficCase& traffic, uint16_t dst_port);

// Sends options.frames at full speed with options.generator and counts;
// throws std::system_error when the kernel refuses the run. Returns nullopt
// when interrupted.
std::optional<Sample> measure(const ForwardingPath& path, const TrafficCase& traffic,
                              const MeasureOptions& options, unsigned round);

// Steady state for scenarios with many flows: one pass over every flow
// (traffic.flows frames, unmeasured) when the probes did not already cover
// them, so per-flow state (xdpgw's connection table, conntrack) exists
// before the measured frames. Returns false when interrupted.
bool warm_up(const ForwardingPath& path, const TrafficCase& traffic, const MeasureOptions& options);

// Sends small probes until at least the path's min_probe_share() of one is
// handled (99.9% for most; a gateway may need a moment: static nexthops are
// resolved once a second) or `timeout` passes.
// Also warms the path up. Returns an explanation when it never forwards.
std::optional<std::string> wait_until_forwarding(const ForwardingPath& path,
                                                 const TrafficCase& traffic,
                                                 const MeasureOptions& options,
                                                 std::chrono::seconds timeout);

}  // namespace xdpgw::bench
