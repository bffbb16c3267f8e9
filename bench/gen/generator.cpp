#include "gen/generator.hpp"

#include <algorithm>

#include "gen/hop_generator.hpp"
#include "gen/live_frames.hpp"

namespace xdpgw::bench {

const std::vector<GeneratorKind>& all_generator_kinds() {
  static const std::vector<GeneratorKind> kinds = {GeneratorKind::kLiveFrames, GeneratorKind::kXdpLoop,
                                                   GeneratorKind::kTcClone, GeneratorKind::kTrafgen};
  return kinds;
}

std::string_view to_string(GeneratorKind kind) {
  switch (kind) {
    case GeneratorKind::kLiveFrames: return "live-frames";
    case GeneratorKind::kXdpLoop: return "xdp-loop";
    case GeneratorKind::kTcClone: return "tc-clone";
    case GeneratorKind::kTrafgen: return "trafgen";
  }
  return "unknown";
}

std::optional<GeneratorKind> parse_generator_kind(std::string_view name) {
  for (GeneratorKind kind : all_generator_kinds()) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

std::string describe(GeneratorKind kind) {
  switch (kind) {
    case GeneratorKind::kLiveFrames:
      return "BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the kernel runs the generator "
             "program on page-pool frames and its XDP_TX sends them out of the generator's veth";
    case GeneratorKind::kXdpLoop:
      return "64 seed frames circulate between the ends of an injection veth pair (XDP_TX "
             "reflector on one end); on the other the generator program rewrites each frame and "
             "broadcasts it through a DEVMAP: a copy to the path's veth, the frame back into the "
             "loop. xdp_frames only; the sending thread runs the softirqs";
    case GeneratorKind::kTcClone:
      return "a tc program under BPF_PROG_TEST_RUN bpf_clone_redirect()s its skb 64 times per "
             "run into an injection veth; the generator program on its peer rewrites each "
             "(the veth first copies the skb into a page-pool page) and redirects it to the "
             "path's veth";
    case GeneratorKind::kTrafgen:
      return "trafgen -P 1 (PF_PACKET TX ring; trafgen pins its worker to CPU 0) into an "
             "injection veth; the generator program on its peer rewrites each frame (copied "
             "from the skb into a page-pool page) and redirects it to the path's veth";
  }
  return "unknown";
}

std::unique_ptr<FrameGenerator> make_generator(GeneratorKind kind, const TrafficSpec& traffic,
                                               const GeneratorTarget& target) {
  if (kind == GeneratorKind::kLiveFrames) {
    return std::make_unique<LiveFrameGenerator>(traffic, target.netns_path, target.out_ifname);
  }
  return std::make_unique<HopGenerator>(kind, traffic, target);
}

}  // namespace xdpgw::bench
