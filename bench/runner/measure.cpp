#include "runner/measure.hpp"

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "gen/generator.hpp"
#include "gen/system.hpp"
#include "runner/topology.hpp"

namespace xdpgw::bench {
namespace {

constexpr uint64_t kProbeFrames = 20'000;

uint64_t handled_so_far(const ForwardingPath& path) {
  return path.delivered() + path.intended_drops().value_or(0);
}

// Frames still in flight when the generator returns (a softirq deferred to
// ksoftirqd; an AF_XDP loop on another CPU draining its rings) arrive within
// milliseconds: wait until the count of handled frames stops moving, for
// at most a second.
void settle(const ForwardingPath& path) {
  uint64_t last = handled_so_far(path);
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const uint64_t now = handled_so_far(path);
    if (now == last) return;
    last = now;
  }
}

Counters difference(const Counters& after, const Counters& before) {
  Counters out;
  for (const auto& [name, value] : after) {
    const auto it = before.find(name);
    const uint64_t previous = it == before.end() ? 0 : it->second;
    if (value != previous) out[name] = value - previous;
  }
  return out;
}

}  // namespace

std::string TrafficCase::name() const {
  const std::string size = mix.name == "imix" ? "IMIX" : mix.name + "B";
  return fmt::format("{} {} {} flows{}", family == IpFamily::kIpv6 ? "IPv6" : "IPv4", size, flows,
                     label.empty() ? "" : ", " + label);
}

TrafficSpec traffic_for(const ForwardingPath& path, const TrafficCase& traffic, uint16_t dst_port) {
  const bool v6 = traffic.family == IpFamily::kIpv6;
  return TrafficSpec{.family = traffic.family,
                     .src_mac = path.gen_mac(),
                     .dst_mac = path.next_hop_mac(),
                     .src_ip = std::string(v6 ? kGenHost6 : kGenHost4),
                     .dst_ip = !traffic.destination.empty()
                                   ? traffic.destination
                                   : std::string(v6 ? kSinkHost6 : kSinkHost4),
                     .dst_port = dst_port,
                     .flows = traffic.flows,
                     .mix = traffic.mix};
}

std::optional<Sample> measure(const ForwardingPath& path, const TrafficCase& traffic,
                              const MeasureOptions& options, unsigned round) {
  const GeneratorTarget target{.netns_path = netns_path_of(path.gen_netns()),
                               .out_ifname = path.gen_ifname(),
                               .inject_ifname = std::string(kGenInject),
                               .hop_ifname = std::string(kGenHop)};
  const std::unique_ptr<FrameGenerator> generator =
      make_generator(options.generator, traffic_for(path, traffic, options.dst_port), target);
  const Counters counters_before = path.counters();
  const std::optional<ProgStats> prog_before = path.ingress_prog_stats();
  const uint64_t delivered_before = path.delivered();
  const uint64_t dropped_before = path.intended_drops().value_or(0);
  const uint64_t other_before = path.sink_other();

  GenRunResult run;
  {
    ScopedCpuPin pin(options.generator_cpu);
    std::optional<ScopedRealtime> realtime;
    if (options.realtime) realtime.emplace();
    run = generator->run({.frames = options.frames, .batch_size = options.batch_size});
  }
  if (run.interrupted) return std::nullopt;

  Sample sample;
  sample.round = round;
  sample.offered = run.frames_offered;
  settle(path);
  sample.forwarded = path.delivered() - delivered_before;
  sample.dropped = path.intended_drops().value_or(0) - dropped_before;
  sample.seconds = run.seconds();
  sample.wall_seconds = std::chrono::duration<double>(run.wall_time).count();
  sample.sink_other = path.sink_other() - other_before;
  sample.counters = difference(path.counters(), counters_before);
  const std::optional<ProgStats> prog_after = path.ingress_prog_stats();
  if (prog_before && prog_after && prog_before->id == prog_after->id) {
    sample.prog = ProgCost{.id = prog_after->id,
                           .name = prog_after->name,
                           .runs = prog_after->run_cnt - prog_before->run_cnt,
                           .run_time_ns = prog_after->run_time_ns - prog_before->run_time_ns};
  }
  return sample;
}

bool warm_up(const ForwardingPath& path, const TrafficCase& traffic, const MeasureOptions& options) {
  // The probes sent frames 0..kProbeFrames-1, i.e. flows 0.. of the same
  // sequence; the generator starts every run at flow 0.
  if (traffic.flows <= kProbeFrames) return true;
  MeasureOptions pass = options;
  pass.frames = traffic.flows;
  return measure(path, traffic, pass, 0).has_value();
}

std::optional<std::string> wait_until_forwarding(const ForwardingPath& path,
                                                 const TrafficCase& traffic,
                                                 const MeasureOptions& options,
                                                 std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MeasureOptions probe = options;
  probe.frames = kProbeFrames;
  std::string last;
  while (true) {
    const std::optional<Sample> sample = measure(path, traffic, probe, 0);
    if (!sample) return "interrupted";
    if (static_cast<double>(sample->handled()) >=
        path.min_probe_share() * static_cast<double>(sample->offered)) {
      return std::nullopt;
    }
    last = fmt::format("{} of {} probe frames arrived, {} dropped by the path; path counters:",
                       sample->forwarded, sample->offered, sample->dropped);
    for (const auto& [name, value] : sample->counters) last += fmt::format(" {}={}", name, value);
    if (std::chrono::steady_clock::now() > deadline) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace xdpgw::bench
