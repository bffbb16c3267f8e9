// The traffic generator: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
// runs bench/bpf/gen.bpf.c once per frame inside the kernel, and every XDP_TX
// verdict sends that frame out of the chosen interface (the kernel turns
// XDP_TX into a redirect to the ingress interface of the test run). No
// socket, no copy to user space: on this machine ~4-5 Mpps into an XDP_DROP
// sink from one core, far more than AF_XDP's copy mode (PLATFORM.md).
//
// Everything the frames traverse after the generator (veth peer, gateway,
// sink) runs in softirq on the generator's CPU, inside the test run: the
// rate it reaches is the cost per packet of the whole path on one core.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gen/traffic.hpp"

struct xbn_gen_skel;  // bpftool skeleton of bench/bpf/gen.bpf.c

namespace xdpgw::bench {

struct GenRunOptions {
  uint64_t frames = 1'000'000;     // frames to offer
  std::optional<double> rate_pps;  // nullopt: as fast as the CPU allows
  // Frames per page-pool batch between two softirq flushes (kernel: 1..256,
  // default 64 = NAPI weight). A batch larger than the veth ring (256) would
  // overflow the peer's queue before its NAPI runs.
  uint32_t batch_size = 64;
};

struct GenRunResult {
  uint64_t frames_offered = 0;  // frames the program built and returned XDP_TX for
  // From the first frame to the last, as the program timestamped them: the
  // time the path took, without the ~25 ms each BPF_PROG_TEST_RUN spends
  // starting and ending (it swaps the kernel's XDP dispatcher).
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

class LiveFrameGenerator {
 public:
  // Loads the generator program for `traffic`. Frames leave through
  // interface `ifname` of the network namespace at `netns_path`
  // (/run/netns/NAME); that interface's peer must run an XDP program or
  // have GRO on, or the veth drops them (PLATFORM.md). Throws
  // std::system_error / std::invalid_argument.
  LiveFrameGenerator(const TrafficSpec& traffic, std::string netns_path, const std::string& ifname);
  LiveFrameGenerator(LiveFrameGenerator&&) noexcept;
  LiveFrameGenerator& operator=(LiveFrameGenerator&&) noexcept;
  ~LiveFrameGenerator();

  // Sends on the calling thread (pin it to a CPU for stable figures). A
  // pending signal ends the run early with interrupted = true (handlers
  // must be installed without SA_RESTART). Throws std::system_error when the
  // kernel refuses the run.
  GenRunResult run(const GenRunOptions& options);

  // Frames built since load: every run adds its frames_offered.
  uint64_t frames_built() const;

  // Runs the program once on a frame without sending it (a plain test run)
  // and returns the frame it wrote: for checking the program.
  std::vector<uint8_t> build_one();

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_gen_skel* skel) const noexcept;
  };
  // One BPF_PROG_TEST_RUN in live mode of `invocations` program runs;
  // returns false on EINTR.
  bool run_live(uint32_t invocations, uint32_t batch_size);
  // Paced: enough invocations for the program to send up to its limit.
  bool run_paced(double rate_pps, uint32_t batch_size);

  std::unique_ptr<::xbn_gen_skel, SkeletonDeleter> skel_;
  std::string netns_path_;
  int ifindex_ = 0;
  std::vector<uint8_t> initial_frame_;  // largest size class; the program shrinks it
};

}  // namespace xdpgw::bench
