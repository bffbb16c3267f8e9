// The traffic generator: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
// runs bench/bpf/gen.bpf.c once per frame inside the kernel, and every XDP_TX
// verdict sends that frame out of the chosen interface (the kernel turns
// XDP_TX into a redirect to the ingress interface of the test run). No
// socket, no copy to user space: ~18 Mpps into an XDP_DROP sink from one
// core on this machine until kernel 6.18.44, which refuses live frames
// (EPERM); gen/generator.hpp has the alternatives.
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

#include "gen/generator.hpp"
#include "gen/traffic.hpp"

struct xbn_gen_skel;  // bpftool skeleton of bench/bpf/gen.bpf.c

namespace xdpgw::bench {

class LiveFrameGenerator final : public FrameGenerator {
 public:
  // Loads the generator program for `traffic`. Frames leave through
  // interface `ifname` of the network namespace at `netns_path`
  // (/run/netns/NAME); that interface's peer must run an XDP program or
  // have GRO on, or the veth drops them (PLATFORM.md). Throws
  // std::system_error / std::invalid_argument.
  LiveFrameGenerator(const TrafficSpec& traffic, std::string netns_path, const std::string& ifname);
  LiveFrameGenerator(LiveFrameGenerator&&) noexcept;
  LiveFrameGenerator& operator=(LiveFrameGenerator&&) noexcept;
  ~LiveFrameGenerator() override;

  // Sends on the calling thread (pin it to a CPU for stable figures). A
  // pending signal ends the run early with interrupted = true (handlers
  // must be installed without SA_RESTART). Throws std::system_error when the
  // kernel refuses the run.
  GenRunResult run(const GenRunOptions& options) override;

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
