#include "daemon/drop_capture.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "datapath/abi.hpp"
#include "datapath/datapath.hpp"
#include "pipeline/pcap.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::daemon {

namespace {

// Pages per CPU of each perf ring (a power of two): 256 KiB, room for a
// burst of ~170 full-size frames per CPU between two polls.
constexpr size_t kPagesPerCpu = 64;
constexpr int kPollMs = 100;

// bpf_ktime_get_ns() is CLOCK_MONOTONIC; pcapng wants wall-clock time.
uint64_t wall_clock_of(uint64_t monotonic_ns) {
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  const int64_t now_mono = int64_t{mono.tv_sec} * 1'000'000'000 + mono.tv_nsec;
  const int64_t now_real = int64_t{real.tv_sec} * 1'000'000'000 + real.tv_nsec;
  return static_cast<uint64_t>(now_real - (now_mono - static_cast<int64_t>(monotonic_ns)));
}

}  // namespace

void DropCapture::PerfBufferDeleter::operator()(perf_buffer* pb) const noexcept { perf_buffer__free(pb); }

DropCapture::DropCapture(const Datapath& dp, std::unique_ptr<pipeline::PcapngWriter> writer, uint64_t count,
                         uint32_t snaplen)
    : cfg_fd_(dp.capture_cfg_fd()), limit_(count), writer_(std::move(writer)), stats_fd_(dp.capture_stats_fd()) {
  failed_at_start_ = failed_outputs();
  if (snaplen == 0 || snaplen > XDPGW_CAPTURE_MAX_SNAPLEN)
    throw std::invalid_argument(fmt::format("snaplen {} out of range 1..{}", snaplen, XDPGW_CAPTURE_MAX_SNAPLEN));
  buffers_.reset(perf_buffer__new(
      dp.capture_events_fd(), kPagesPerCpu,
      [](void* self, int, void* data, __u32 size) { static_cast<DropCapture*>(self)->on_sample(data, size); },
      [](void* self, int, __u64 lost) { static_cast<DropCapture*>(self)->lost_ += lost; }, this, nullptr));
  if (!buffers_) throw_errno(errno, "perf buffers for the drop capture");
  set_flag(XDPGW_CAPTURE_DROPS, snaplen);
  thread_ = std::thread([this] { run(); });
}

DropCapture::~DropCapture() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  try {
    set_flag(0, 0);
  } catch (const std::exception& e) {
    spdlog::error("drop capture: {}", e.what());
  }
}

void DropCapture::set_flag(uint32_t flags, uint32_t snaplen) const {
  const uint32_t zero = 0;
  const xdpgw_capture_cfg cfg{.flags = flags, .snaplen = snaplen};
  check_errno(bpf_map_update_elem(cfg_fd_, &zero, &cfg, BPF_ANY), "write capture_cfg");
}

void DropCapture::run() {
  try {
    while (!stop_ && running_) {
      const int n = perf_buffer__poll(buffers_.get(), kPollMs);
      if (n < 0 && n != -EINTR) throw_errno(-n, "poll the drop capture's perf buffers");
    }
    // Enough frames: stop copying before the buffers are drained for good.
    set_flag(0, 0);
    writer_->flush();
    // Closes the output: a reader of a pipe (`capture -w -`) sees its end.
    writer_.reset();
  } catch (const std::exception& e) {
    spdlog::error("drop capture stopped: {}", e.what());
    {
      std::lock_guard lock(mu_);
      if (error_.empty()) error_ = e.what();
    }
    try {
      set_flag(0, 0);
    } catch (...) {
      // reported above; the destructor tries again
    }
    writer_.reset();  // its destructor logs what it could not write
  }
  running_ = false;
  finished_ = true;
}

void DropCapture::on_sample(const void* data, uint32_t size) {
  if (!running_ || size < sizeof(xdpgw_capture_hdr)) return;
  xdpgw_capture_hdr hdr;
  std::memcpy(&hdr, data, sizeof(hdr));
  const auto* bytes = static_cast<const uint8_t*>(data) + sizeof(hdr);
  // Samples are padded to 8 bytes: the frame's own bytes are the first
  // min(frame_len, snaplen) after the header.
  uint32_t captured = size - static_cast<uint32_t>(sizeof(hdr));
  if (captured > hdr.frame_len) captured = hdr.frame_len;
  // Called from inside libbpf's C code: nothing may propagate through it.
  try {
    const std::string_view reason = abi::reason_name(hdr.reason);
    writer_->write({.captured = std::span(bytes, captured),
                    .orig_len = hdr.frame_len,
                    .wall_ns = wall_clock_of(hdr.ts_ns),
                    .ifindex = hdr.ifindex,
                    .rx_queue = hdr.rx_queue,
                    .comment = fmt::format("drop_reason={}", reason)});
    std::lock_guard lock(mu_);
    ++records_;
    ++reasons_[std::string(reason)];
    if (limit_ && records_ >= limit_) running_ = false;
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    error_ = fmt::format("writing the capture file: {}", e.what());
    running_ = false;
  }
}

uint64_t DropCapture::failed_outputs() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  const uint32_t key = XDPGW_CAPSTAT_FAILED;
  if (bpf_map_lookup_elem(stats_fd_, &key, per_cpu.data())) return 0;
  uint64_t sum = 0;
  for (uint64_t v : per_cpu) sum += v;
  return sum;
}

DropCapture::Status DropCapture::status() const {
  const uint64_t failed = failed_outputs() - failed_at_start_;
  std::lock_guard lock(mu_);
  return {.running = !finished_, .records = records_, .lost = lost_, .failed = failed, .error = error_,
          .reasons = reasons_};
}

}  // namespace xdpgw::daemon
