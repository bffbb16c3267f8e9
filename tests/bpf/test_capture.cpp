// Capture of dropped frames (bpf/lib/capture.h) on the real datapath through
// BPF_PROG_TEST_RUN: with the flag off nothing is copied; with it on every
// drop (and nothing else) arrives in the perf buffers with its reason, its
// length and its first `snaplen` bytes.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <time.h>

#include <cstring>
#include <memory>
#include <vector>

#include "datapath_fixture.hpp"

namespace xdpgw::test {
namespace {

const MacAddr kGwMac = mac("02:00:00:00:01:01");
const MacAddr kHostMac = mac("02:00:00:00:01:02");
const Ipv4Fields kV4{.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")};

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

struct Sample {
  xdpgw_capture_hdr hdr{};
  std::vector<uint8_t> bytes;
};

class CaptureTest : public DatapathTest {
 protected:
  CaptureTest()
      : buffers_(perf_buffer__new(
            dp_->capture_events_fd(), 8,
            [](void* self, int, void* data, __u32 size) {
              Sample s;
              std::memcpy(&s.hdr, data, sizeof(s.hdr));
              const auto* p = static_cast<const uint8_t*>(data) + sizeof(s.hdr);
              s.bytes.assign(p, p + (size - sizeof(s.hdr)));
              static_cast<CaptureTest*>(self)->samples_.push_back(std::move(s));
            },
            nullptr, this, nullptr)) {}

  void SetUp() override { ASSERT_TRUE(buffers_) << "perf_buffer__new: " << std::strerror(errno); }

  void set_capture(uint32_t flags, uint32_t snaplen) {
    const uint32_t zero = 0;
    const xdpgw_capture_cfg cfg{.flags = flags, .snaplen = snaplen};
    ASSERT_EQ(bpf_map_update_elem(dp_->capture_cfg_fd(), &zero, &cfg, BPF_ANY), 0);
  }

  // Everything the runs so far put into the perf buffers. The samples were
  // written before BPF_PROG_TEST_RUN returned: consuming finds them all.
  std::vector<Sample> drain() {
    EXPECT_GE(perf_buffer__consume(buffers_.get()), 0);
    return std::exchange(samples_, {});
  }

  static std::vector<uint8_t> truncated_ipv4() {
    // Ten bytes short of what its IPv4 header says.
    auto f = FrameBuilder().eth(kGwMac, kHostMac).ipv4(kV4).tcp({.sport = 1, .dport = 2}).build();
    return truncate(f, f.size() - 10);
  }

  struct Deleter {
    void operator()(perf_buffer* pb) const noexcept { perf_buffer__free(pb); }
  };
  std::unique_ptr<perf_buffer, Deleter> buffers_;
  std::vector<Sample> samples_;
};

TEST_F(CaptureTest, NothingIsCopiedWhileNoCaptureRuns) {
  auto out = run(truncated_ipv4());
  EXPECT_EQ(action_name(out.action), "XDP_DROP");
  EXPECT_TRUE(drain().empty());
}

TEST_F(CaptureTest, EveryDropArrivesWithItsReasonLengthAndBytes) {
  set_capture(XDPGW_CAPTURE_DROPS, 65535);
  const auto frame = truncated_ipv4();
  const uint64_t before_ns = monotonic_ns();
  auto out = run(frame);
  const uint64_t after_ns = monotonic_ns();
  ASSERT_EQ(out.delta.reasons, Reasons({{"drop_ipv4_truncated", 1}}));
  auto samples = drain();
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].hdr.reason, XDPGW_R_DROP_IPV4_TRUNCATED);
  EXPECT_EQ(samples[0].hdr.frame_len, frame.size());
  // bpf_ktime_get_ns() is CLOCK_MONOTONIC, the clock the daemon converts
  // from (drop_capture.cpp): the stamp falls within the run.
  EXPECT_GE(samples[0].hdr.ts_ns, before_ns);
  EXPECT_LE(samples[0].hdr.ts_ns, after_ns);
  // Perf samples are padded to 8 bytes: the frame is the first frame_len.
  ASSERT_GE(samples[0].bytes.size(), frame.size());
  EXPECT_EQ(std::vector<uint8_t>(samples[0].bytes.begin(), samples[0].bytes.begin() + frame.size()), frame);
}

TEST_F(CaptureTest, SnaplenCutsTheCopyNotTheLength) {
  set_capture(XDPGW_CAPTURE_DROPS, 40);
  // An IHL of 4 is malformed whatever follows: a long frame, dropped.
  const auto frame = FrameBuilder().eth(kGwMac, kHostMac).ipv4(kV4).ipv4_ihl(4).udp({}).payload(300).build();
  auto out = run(frame);
  ASSERT_EQ(out.delta.reasons, Reasons({{"drop_ipv4_bad_ihl", 1}}));
  auto samples = drain();
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].hdr.frame_len, frame.size());
  ASSERT_GE(samples[0].bytes.size(), 40u);
  EXPECT_LT(samples[0].bytes.size(), 48u) << "more than the snaplen (plus padding) copied";
  EXPECT_EQ(std::vector<uint8_t>(samples[0].bytes.begin(), samples[0].bytes.begin() + 40),
            std::vector<uint8_t>(frame.begin(), frame.begin() + 40));
}

TEST_F(CaptureTest, PassedFramesAreNotCopied) {
  set_capture(XDPGW_CAPTURE_DROPS, 65535);
  // No route source: a valid packet goes to the kernel.
  auto out = run(FrameBuilder().eth(kGwMac, kHostMac).ipv4(kV4).udp({.sport = 1, .dport = 2}).payload(8).build());
  ASSERT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_TRUE(drain().empty());
  // The same datapath still copies the next drop.
  run(truncated_ipv4());
  EXPECT_EQ(drain().size(), 1u);
}

}  // namespace
}  // namespace xdpgw::test
