// The ways this project can generate traffic into a veth, behind one
// interface, so a run can pick whichever the kernel allows and is fastest.
//
// - live-frames: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (fastest,
//   ~18 Mpps into a sink; refused with EPERM since kernel 6.18.44).
// - xdp-loop: a few seed frames circulate between the two ends of an
//   injection veth pair; on every turn the generator program rewrites the
//   frame and broadcasts it through a DEVMAP, one copy out to the path, the
//   frame itself back into the loop. xdp_frames only, no skb.
// - tc-clone: a tc program (plain BPF_PROG_TEST_RUN) bpf_clone_redirect()s
//   its skb N times into the injection veth; the generator program on the
//   other end rewrites each and redirects it to the path.
// - trafgen: netsniff-ng's trafgen (PF_PACKET TX ring) into the injection
//   veth, rewritten and redirected the same way.
//
// The last three send through an XDP redirect hop, so the gateway receives
// xdp_frames as from a NIC, not skbs (a veth whose XDP program receives skbs
// copies every one into a page-pool page first, which would hide XDP's
// advantage; PLATFORM.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gen/traffic.hpp"

namespace xdpgw::bench {

struct GenRunOptions {
  uint64_t frames = 1'000'000;     // frames to offer
  std::optional<double> rate_pps;  // nullopt: as fast as the CPU allows
  // Live frames: frames per page-pool batch between two softirq flushes
  // (kernel: 1..256, default 64 = NAPI weight). A batch larger than the veth
  // ring (256) would overflow the peer's queue before its NAPI runs.
  uint32_t batch_size = 64;
};

struct GenRunResult {
  uint64_t frames_offered = 0;  // frames the program built and sent on
  // From the first frame to the last, as the program timestamped them: the
  // time the path took, without the start-up of the feeder (~25 ms for each
  // live-frames BPF_PROG_TEST_RUN, which swaps the kernel's XDP dispatcher;
  // a process start for trafgen). The wall time when the run never reached
  // its last frame (a feeder that lost frames before the program).
  std::chrono::nanoseconds frame_span{};
  std::chrono::nanoseconds wall_time{};  // of the whole call(s), start-up included
  uint64_t idle_invocations = 0;  // program runs that sent nothing (pacing)
  bool interrupted = false;       // a signal ended the run early (EINTR)

  double seconds() const { return std::chrono::duration<double>(frame_span).count(); }
  // Frames per second over the frame span: N frames have N - 1 gaps.
  double offered_mpps() const {
    return frames_offered > 1 && seconds() > 0
               ? static_cast<double>(frames_offered - 1) / seconds() / 1e6
               : 0;
  }
};

enum class GeneratorKind { kLiveFrames, kXdpLoop, kTcClone, kTrafgen };

// Every kind, in the order a run calibrates them.
const std::vector<GeneratorKind>& all_generator_kinds();
std::string_view to_string(GeneratorKind kind);  // "live-frames", "xdp-loop", ...
std::optional<GeneratorKind> parse_generator_kind(std::string_view name);
// One sentence: how it sends.
std::string describe(GeneratorKind kind);

// Where frames go. The hop kinds also need the injection veth pair of the
// generator's namespace (bench-topology.sh creates it): frames are injected
// into `inject_ifname` and rewritten on its peer `hop_ifname`.
struct GeneratorTarget {
  std::string netns_path;  // the generator's namespace, /run/netns/NAME
  std::string out_ifname;  // the path's generator veth
  std::string inject_ifname;
  std::string hop_ifname;
};

class FrameGenerator {
 public:
  virtual ~FrameGenerator() = default;
  // Sends options.frames on the calling thread's CPU (pin it first). A
  // pending SIGINT/SIGTERM ends the run early with interrupted = true.
  // Throws std::system_error / std::runtime_error when the kernel or the
  // feeder refuses.
  virtual GenRunResult run(const GenRunOptions& options) = 0;
};

// Loads (and for hop kinds attaches) what `kind` needs for `traffic`;
// released with the object. Throws std::system_error with context.
std::unique_ptr<FrameGenerator> make_generator(GeneratorKind kind, const TrafficSpec& traffic,
                                               const GeneratorTarget& target);

}  // namespace xdpgw::bench
