#include "gen/hop_generator.hpp"

#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "gen/system.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "xbn_gen.skel.h"

namespace xdpgw::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Frames circulating in the loop. Each NAPI poll moves at most 64 frames a
// stage, so 64 keep every stage busy without overflowing a veth ring (256).
constexpr int kLoopSeeds = 64;
// A loop that stops moving lost its frames (a full ring, a failed clone):
// seed again after this long.
constexpr auto kLoopReseedAfter = std::chrono::milliseconds(50);
// ... and give up when nothing moves at all, seeds included.
constexpr auto kStallTimeout = std::chrono::seconds(10);
// tc clone feeder: clones per program run; more amortise the run, and the
// veth's NAPI (budget 64) drains each clone as dev_queue_xmit returns.
constexpr uint32_t kClonesPerRun = 64;
constexpr uint64_t kMaxRunsPerCall = 1u << 20;

int ifindex_of(const std::string& ifname, const std::string& netns_path) {
  const int ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (ifindex == 0) throw_errno(errno, fmt::format("if_nametoindex {} in {}", ifname, netns_path));
  return ifindex;
}

// A file removed when the owner goes (trafgen's packet config).
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string pattern = (std::filesystem::temp_directory_path() / "xbn-trafgen-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw_errno(errno, "mkstemp " + pattern);
    ::close(fd);
    path_ = pattern;
    std::ofstream(path_) << contents;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

void HopGenerator::SkeletonDeleter::operator()(::xbn_gen_skel* skel) const noexcept {
  xbn_gen_skel__destroy(skel);
}

void HopGenerator::LinkDeleter::operator()(::bpf_link* link) const noexcept {
  bpf_link__destroy(link);
}

HopGenerator::HopGenerator(GeneratorKind kind, const TrafficSpec& traffic, GeneratorTarget target)
    : kind_(kind), target_(std::move(target)) {
  if (kind_ == GeneratorKind::kLiveFrames) {
    throw std::invalid_argument("HopGenerator: live frames have their own generator");
  }
  if (kind_ == GeneratorKind::kTrafgen && test::run_cmd("command -v trafgen >/dev/null").exit_status != 0) {
    throw std::runtime_error("trafgen is not installed (apt-get install netsniff-ng)");
  }
  seed_frame_ = reference_frame(traffic, 0);
  seed_frame_.resize(traffic.mix.max_length(), 0);

  skel_.reset(xbn_gen_skel__open());
  if (!skel_) throw_errno(errno, "open BPF skeleton xbn_gen");
  skel_->bss->gen_config = make_gen_config(traffic);
  skel_->bss->send_mode = kind_ == GeneratorKind::kXdpLoop ? XBN_GEN_SEND_LOOP : XBN_GEN_SEND_REDIRECT;
  if (int rc = xbn_gen_skel__load(skel_.get()); rc < 0) throw_errno(rc, "load BPF program xbn_gen");

  // DEVMAP entries and bpf_link ifindexes resolve in the writer's namespace.
  test::NetnsGuard inside(target_.netns_path);
  const int out = ifindex_of(target_.out_ifname, target_.netns_path);
  inject_ifindex_ = ifindex_of(target_.inject_ifname, target_.netns_path);
  const int hop = ifindex_of(target_.hop_ifname, target_.netns_path);
  const int ports_fd = bpf_map__fd(skel_->maps.gen_ports);
  const uint32_t out_key = 0, back_key = 1;
  check_errno(bpf_map_update_elem(ports_fd, &out_key, &out, 0),
              fmt::format("gen_ports[0] = {} ({})", target_.out_ifname, out));
  if (kind_ == GeneratorKind::kXdpLoop) {
    check_errno(bpf_map_update_elem(ports_fd, &back_key, &hop, 0),
                fmt::format("gen_ports[1] = {} ({})", target_.hop_ifname, hop));
    // The loop's way back: frames the hop sends to itself arrive at the
    // injection end, which must run XDP to accept them and sends them back.
    reflect_link_.reset(bpf_program__attach_xdp(skel_->progs.xbn_gen_reflect, inject_ifindex_));
    if (!reflect_link_) {
      throw_errno(errno, fmt::format("attach xbn_gen_reflect to {} in {}", target_.inject_ifname,
                                     target_.netns_path));
    }
  }
  hop_link_.reset(bpf_program__attach_xdp(skel_->progs.xbn_gen, hop));
  if (!hop_link_) {
    throw_errno(errno, fmt::format("attach xbn_gen to {} in {}", target_.hop_ifname, target_.netns_path));
  }
}

HopGenerator::~HopGenerator() = default;

bool HopGenerator::run_complete() const {
  return skel_->bss->frames_built >= skel_->bss->run_frame_limit;
}

bool HopGenerator::feed_loop(const GenRunOptions& /*options*/) {
  test::NetnsGuard inside(target_.netns_path);
  // Sends seeds only (protocol 0: receives nothing).
  UniqueFd packet(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!packet) throw_errno(errno, "socket(AF_PACKET)");
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = inject_ifindex_;
  to.sll_halen = 6;
  std::copy_n(seed_frame_.begin(), 6, to.sll_addr);
  const auto seed = [&] {
    for (int i = 0; i < kLoopSeeds; ++i) {
      if (::sendto(packet.get(), seed_frame_.data(), seed_frame_.size(), 0,
                   reinterpret_cast<const sockaddr*>(&to), sizeof(to)) < 0) {
        throw_errno(errno, fmt::format("send seed frame into {}", target_.inject_ifname));
      }
    }
  };
  UniqueFd kicker(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!kicker) throw_errno(errno, "socket(AF_INET)");

  seed();
  uint64_t last_built = skel_->bss->frames_built;
  Clock::time_point last_progress = Clock::now();
  for (uint64_t spin = 0; !run_complete(); ++spin) {
    // The loop lives in the NAPI polls of the injection pair, which softirq
    // runs on this CPU. Left alone, the kernel hands them to ksoftirqd, a
    // normal-priority thread every other process competes with (0.5-1.5
    // Mpps on a busy VM instead of 2.8). A setsockopt takes and releases the
    // socket lock with bottom halves disabled, and re-enabling them runs the
    // pending softirqs right here, in this (pinned, SCHED_FIFO) thread.
    const int mark = 0;
    // Its result does not matter, only the softirqs it runs on the way.
    (void)::setsockopt(kicker.get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
    if (spin % 256 != 0) continue;
    if (stop_requested()) return false;
    const uint64_t built = skel_->bss->frames_built;
    const Clock::time_point now = Clock::now();
    if (built != last_built) {
      last_built = built;
      last_progress = now;
    } else if (now - last_progress > kStallTimeout) {
      throw std::runtime_error(fmt::format("xdp-loop generator stalled at {} frames: the seeds sent "
                                           "into {} never reach the generator program",
                                           built, target_.inject_ifname));
    } else if (now - last_progress > kLoopReseedAfter) {
      seed();  // every seed frame was lost; this does not reset last_progress
    }
  }
  return true;
}

bool HopGenerator::feed_tc_clone(const GenRunOptions& options) {
  // bpf_clone_redirect resolves the ifindex in the namespace of the skb the
  // test run builds, i.e. the caller's.
  test::NetnsGuard inside(target_.netns_path);
  skel_->bss->clone_ifindex = static_cast<uint32_t>(inject_ifindex_);
  skel_->bss->clone_count = kClonesPerRun;
  uint64_t runs_left = (options.frames + kClonesPerRun - 1) / kClonesPerRun;
  while (runs_left > 0 && !run_complete()) {
    const auto runs = static_cast<int>(std::min(runs_left, kMaxRunsPerCall));
    LIBBPF_OPTS(bpf_test_run_opts, opts,
                .data_in = seed_frame_.data(),
                .data_size_in = static_cast<uint32_t>(seed_frame_.size()),
                .repeat = runs);
    const int rc = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.xbn_gen_clone), &opts);
    if (rc == -EINTR || (rc < 0 && errno == EINTR)) return false;
    if (rc < 0) throw_errno(rc, fmt::format("BPF_PROG_TEST_RUN xbn_gen_clone ({} runs)", runs));
    runs_left -= static_cast<uint64_t>(runs);
  }
  return !stop_requested();
}

bool HopGenerator::feed_trafgen(const GenRunOptions& options) {
  std::string bytes;
  for (uint8_t byte : seed_frame_) bytes += fmt::format("{}0x{:02x}", bytes.empty() ? "" : ", ", byte);
  const TempFile config("{ " + bytes + " }\n");
  // One worker (-P 1; "--cpu 1" in PLATFORM.md is the same option), which
  // trafgen itself pins to CPU 0 whatever this thread's affinity; -Q: leave
  // IRQ affinities alone; --no-sock-mem: leave the net.core socket memory
  // sysctls alone (trafgen 0.6.8 accepts only the long form, not -A).
  const std::string cmd = fmt::format(
      "nsenter --net={} trafgen -o {} -i {} -n {} -P 1 -Q --no-sock-mem -C 2>&1",
      test::shell_quote(target_.netns_path), test::shell_quote(target_.inject_ifname),
      test::shell_quote(config.path().string()), options.frames);
  const test::CmdResult result = test::run_cmd(cmd);
  if (stop_requested()) return false;
  if (!result.ok()) {
    throw std::runtime_error(fmt::format("{} failed (exit {}): {}", cmd, result.exit_status, result.output));
  }
  return true;
}

GenRunResult HopGenerator::run(const GenRunOptions& options) {
  if (options.rate_pps && kind_ != GeneratorKind::kXdpLoop) {
    throw std::invalid_argument(fmt::format("--rate: only the live-frames and xdp-loop generators pace"));
  }
  if (options.rate_pps && !(*options.rate_pps > 0 && *options.rate_pps <= 1e9)) {
    throw std::invalid_argument("rate must be 1..1e9 frames per second");
  }
  auto* bss = skel_->bss;
  const uint64_t first = bss->frames_built;
  const uint64_t idle_before = bss->idle_invocations;
  bss->first_frame_ns = bss->last_frame_ns = 0;
  bss->pace_ns = options.rate_pps ? std::max<uint64_t>(1, std::llround(1e9 / *options.rate_pps)) : 0;
  bss->next_send_ns = 0;
  bss->run_first_frame = first;
  // Written last: frames arriving before it are dropped as past the limit.
  bss->run_frame_limit = first + options.frames;

  GenRunResult result;
  const Clock::time_point start = Clock::now();
  bool completed = false;
  switch (kind_) {
    case GeneratorKind::kXdpLoop: completed = feed_loop(options); break;
    case GeneratorKind::kTcClone: completed = feed_tc_clone(options); break;
    case GeneratorKind::kTrafgen: completed = feed_trafgen(options); break;
    case GeneratorKind::kLiveFrames: break;
  }
  // Frames a feeder handed over may still be in a veth ring: wait until the
  // program has built all, or nothing moved for 50 ms (a feeder lost some).
  for (uint64_t last = bss->frames_built; completed && !run_complete();) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (bss->frames_built == last) break;
    last = bss->frames_built;
  }
  result.interrupted = !completed;
  // Ends a loop that is still running (interrupted): the program drops
  // every frame past the limit.
  bss->run_frame_limit = std::min(bss->run_frame_limit, bss->frames_built);
  result.wall_time = Clock::now() - start;
  result.frames_offered = bss->frames_built - first;
  result.idle_invocations = bss->idle_invocations - idle_before;
  result.frame_span = bss->last_frame_ns > bss->first_frame_ns
                          ? std::chrono::nanoseconds(bss->last_frame_ns - bss->first_frame_ns)
                          : std::chrono::duration_cast<std::chrono::nanoseconds>(result.wall_time);
  return result;
}

}  // namespace xdpgw::bench
