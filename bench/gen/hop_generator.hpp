// The generator program (bench/bpf/gen.bpf.c) as an XDP redirect hop on the
// receiving end of the generator namespace's injection veth pair, fed by one
// of three feeders (gen/generator.hpp: xdp-loop, tc-clone, trafgen). The
// program rewrites each frame that arrives completely (template, flow, size,
// checksums) and redirects it out of the path's generator veth, so the
// gateway gets fresh xdp_frames whatever the feeder.
//
// Everything after the feeder (hop, gateway, sink) runs in softirq on the
// CPU the feeder sends from; for xdp-loop the calling thread itself runs
// those softirqs (see run()), so pinning it and SCHED_FIFO keep the whole
// path on one CPU, as with live frames.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gen/generator.hpp"

struct xbn_gen_skel;
struct bpf_link;

namespace xdpgw::bench {

class HopGenerator final : public FrameGenerator {
 public:
  // kind: kXdpLoop, kTcClone or kTrafgen. Loads the program, fills its
  // DEVMAP from inside the generator's namespace and attaches it (and, for
  // the loop, the reflector on the injection end) through bpf_links that
  // detach with the object. Throws std::system_error.
  HopGenerator(GeneratorKind kind, const TrafficSpec& traffic, GeneratorTarget target);
  HopGenerator(const HopGenerator&) = delete;
  HopGenerator& operator=(const HopGenerator&) = delete;
  ~HopGenerator() override;

  GenRunResult run(const GenRunOptions& options) override;

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_gen_skel* skel) const noexcept;
  };
  struct LinkDeleter {
    void operator()(::bpf_link* link) const noexcept;
  };
  using Link = std::unique_ptr<::bpf_link, LinkDeleter>;

  // Feeders: each returns false when a stop signal interrupted it.
  bool feed_loop(const GenRunOptions& options);
  bool feed_tc_clone(const GenRunOptions& options);
  bool feed_trafgen(const GenRunOptions& options);
  // True once the program has built every frame of the run.
  bool run_complete() const;

  GeneratorKind kind_;
  GeneratorTarget target_;
  int inject_ifindex_ = 0;
  // Every frame the feeders inject: as long as the largest size class (no
  // longer: a 1514-byte frame fills the injection veth's MTU), so the
  // program only ever shrinks it, and a looping frame's buffer, sized for
  // it, can grow back to any class.
  std::vector<uint8_t> seed_frame_;
  std::unique_ptr<::xbn_gen_skel, SkeletonDeleter> skel_;
  // Declared after the skeleton: detached before it is destroyed.
  Link hop_link_;
  Link reflect_link_;
};

}  // namespace xdpgw::bench
