#include "gen/live_frames.hpp"

#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <utility>

#include "common/error.hpp"
#include "harness/netns.hpp"
#include "xbn_gen.skel.h"

namespace xdpgw::bench {
namespace {

// BPF_PROG_TEST_RUN's limit for batch_size in live mode (TEST_XDP_MAX_BATCH).
constexpr uint32_t kMaxBatch = 256;
// BPF_PROG_TEST_RUN's repeat is an int: longer runs take several calls.
constexpr uint64_t kMaxInvocationsPerRun = 1u << 30;

}  // namespace

void LiveFrameGenerator::SkeletonDeleter::operator()(::xbn_gen_skel* skel) const noexcept {
  xbn_gen_skel__destroy(skel);
}

LiveFrameGenerator::LiveFrameGenerator(const TrafficSpec& traffic, std::string netns_path,
                                       const std::string& ifname)
    : netns_path_(std::move(netns_path)) {
  const xbn_gen_config config = make_gen_config(traffic);
  // The kernel starts every frame from this buffer; the program shrinks it
  // to the frame's size class and writes all of the header.
  //
  // One byte longer than the longest frame, so that the program changes the
  // frame's bounds every time: only then does the kernel rewrite the page's
  // struct xdp_frame from the program's view. Otherwise a recycled page
  // keeps the xdp_frame the last hop left in it (the kernel resets it only
  // when its data pointer or flags changed), including a stale metadata
  // length: a gateway that put 20 bytes of metadata in front of the frame
  // last time would find them there again, and could not add its own
  // (bpf_xdp_adjust_meta refuses more than 32 bytes).
  initial_frame_ = reference_frame(traffic, 0);
  initial_frame_.resize(traffic.mix.max_length() + 1, 0);

  skel_.reset(xbn_gen_skel__open());
  if (!skel_) throw_errno(errno, "open BPF skeleton xbn_gen");
  skel_->bss->gen_config = config;
  if (int rc = xbn_gen_skel__load(skel_.get()); rc < 0) throw_errno(rc, "load BPF program xbn_gen");

  test::NetnsGuard inside(netns_path_);
  ifindex_ = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (ifindex_ == 0) throw_errno(errno, fmt::format("if_nametoindex {} in {}", ifname, netns_path_));
}

LiveFrameGenerator::LiveFrameGenerator(LiveFrameGenerator&&) noexcept = default;
LiveFrameGenerator& LiveFrameGenerator::operator=(LiveFrameGenerator&&) noexcept = default;
LiveFrameGenerator::~LiveFrameGenerator() = default;

uint64_t LiveFrameGenerator::frames_built() const {
  // .bss is mmap()ed: this reads the program's counter directly.
  return skel_->bss->frames_built;
}

bool LiveFrameGenerator::run_live(uint32_t invocations, uint32_t batch_size) {
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(initial_frame_.size());  // EINVAL unless = frame size
  ctx.ingress_ifindex = static_cast<uint32_t>(ifindex_);
  LIBBPF_OPTS(bpf_test_run_opts, opts,
              .data_in = initial_frame_.data(),
              .data_size_in = static_cast<uint32_t>(initial_frame_.size()),
              .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx),
              .repeat = static_cast<int>(invocations),
              .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
              .batch_size = std::min(batch_size, invocations));
  const int rc = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.xbn_gen), &opts);
  if (rc == -EINTR || (rc < 0 && errno == EINTR)) return false;
  if (rc < 0) {
    throw_errno(rc, fmt::format("BPF_PROG_TEST_RUN live frames ({} runs, ifindex {} in {})",
                                invocations, ifindex_, netns_path_));
  }
  return true;
}

bool LiveFrameGenerator::run_paced(double rate_pps, uint32_t batch_size) {
  // The program decides per invocation whether a frame is due, so the
  // kernel must run it more often than it sends. How often it can run per
  // second is unknown until measured: a short first call calibrates, later
  // calls cover the frames still to send (plus 5%) in one go, because every
  // call costs a ~25 ms gap.
  using Clock = std::chrono::steady_clock;
  uint64_t invocations = 1u << 18;
  while (skel_->bss->frames_built < skel_->bss->run_frame_limit) {
    const uint64_t before = skel_->bss->frames_built + skel_->bss->idle_invocations;
    const Clock::time_point t0 = Clock::now();
    if (!run_live(static_cast<uint32_t>(invocations), batch_size)) return false;
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t ran = skel_->bss->frames_built + skel_->bss->idle_invocations - before;
    const double per_second = static_cast<double>(ran) / std::max(seconds, 1e-6);
    const uint64_t remaining = skel_->bss->run_frame_limit - skel_->bss->frames_built;
    invocations = std::clamp<uint64_t>(
        static_cast<uint64_t>(per_second * static_cast<double>(remaining) / rate_pps * 1.05) + 1024,
        1024, kMaxInvocationsPerRun);
  }
  return true;
}

GenRunResult LiveFrameGenerator::run(const GenRunOptions& options) {
  if (options.batch_size == 0 || options.batch_size > kMaxBatch) {
    throw std::invalid_argument(fmt::format("batch size {}: 1..{}", options.batch_size, kMaxBatch));
  }
  if (options.rate_pps && !(*options.rate_pps > 0 && *options.rate_pps <= 1e9)) {
    throw std::invalid_argument("rate must be 1..1e9 frames per second");
  }
  // The kernel looks ctx_in.ingress_ifindex up in the caller's namespace.
  test::NetnsGuard inside(netns_path_);
  auto* bss = skel_->bss;
  const uint64_t first = bss->frames_built;
  const uint64_t idle_before = bss->idle_invocations;
  bss->run_first_frame = first;
  bss->run_frame_limit = first + options.frames;
  bss->pace_ns = options.rate_pps
                     ? std::max<uint64_t>(1, std::llround(1e9 / *options.rate_pps))
                     : 0;
  bss->next_send_ns = 0;
  bss->first_frame_ns = bss->last_frame_ns = 0;

  GenRunResult result;
  const auto start = std::chrono::steady_clock::now();
  if (options.rate_pps) {
    result.interrupted = !run_paced(*options.rate_pps, options.batch_size);
  } else {
    // Unpaced, every invocation sends: exactly `frames` of them.
    uint64_t remaining = options.frames;
    while (remaining > 0 && !result.interrupted) {
      const auto invocations = static_cast<uint32_t>(std::min(remaining, kMaxInvocationsPerRun));
      result.interrupted = !run_live(invocations, options.batch_size);
      remaining -= invocations;
    }
  }
  result.wall_time = std::chrono::steady_clock::now() - start;
  result.frames_offered = bss->frames_built - first;
  result.idle_invocations = bss->idle_invocations - idle_before;
  if (bss->last_frame_ns > bss->first_frame_ns) {
    result.frame_span = std::chrono::nanoseconds(bss->last_frame_ns - bss->first_frame_ns);
  }
  return result;
}

std::vector<uint8_t> LiveFrameGenerator::build_one() {
  skel_->bss->run_frame_limit = skel_->bss->frames_built + 1;
  skel_->bss->pace_ns = 0;
  std::vector<uint8_t> out(initial_frame_.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts,
              .data_in = initial_frame_.data(),
              .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(initial_frame_.size()),
              .data_size_out = static_cast<uint32_t>(out.size()),
              .repeat = 1);
  if (int rc = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.xbn_gen), &opts); rc < 0) {
    throw_errno(rc, "BPF_PROG_TEST_RUN xbn_gen (one frame)");
  }
  if (opts.retval != XDP_TX) {
    throw std::runtime_error(fmt::format("generator program returned {} instead of XDP_TX",
                                         opts.retval));
  }
  out.resize(opts.data_size_out);
  return out;
}

}  // namespace xdpgw::bench
