#include "runner/prog_stats.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::bench {
namespace {

constexpr const char* kStatsSysctl = "/proc/sys/kernel/bpf_stats_enabled";

std::string read_sysctl() {
  std::ifstream in(kStatsSysctl);
  std::string value;
  if (!(in >> value)) throw std::runtime_error(fmt::format("cannot read {}", kStatsSysctl));
  return value;
}

void write_sysctl(const std::string& value) {
  std::ofstream out(kStatsSysctl);
  out << value << '\n';
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("cannot write {} to {}", value, kStatsSysctl));
}

}  // namespace

std::optional<ProgStats> read_prog_stats(uint32_t id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno(errno, fmt::format("bpf_prog_get_fd_by_id {}", id));
  }
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  check_errno(bpf_obj_get_info_by_fd(fd.get(), &info, &length), fmt::format("bpf_obj_get_info_by_fd prog {}", id));
  return ProgStats{.id = id, .name = info.name, .run_time_ns = info.run_time_ns, .run_cnt = info.run_cnt};
}

BpfStatsEnabled::BpfStatsEnabled() { enable(); }

void BpfStatsEnabled::enable() {
  const int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd >= 0) {
    stats_fd_ = UniqueFd(fd);
    return;
  }
  const int enable_errno = errno;
  const std::string previous = read_sysctl();
  try {
    write_sysctl("1");
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("BPF run-time stats: BPF_ENABLE_STATS failed ({}), and {}",
                                         std::generic_category().message(enable_errno), e.what()));
  }
  previous_sysctl_ = previous;
}

BpfStatsEnabled::~BpfStatsEnabled() { disable(); }

void BpfStatsEnabled::disable() noexcept {
  stats_fd_.reset();
  if (!previous_sysctl_) return;
  try {
    write_sysctl(*previous_sysctl_);
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-bench: could not restore kernel.bpf_stats_enabled: " << e.what() << '\n';
  }
  previous_sysctl_.reset();
}

BpfStatsEnabled::Paused::Paused(BpfStatsEnabled& stats) : stats_(stats) { stats_.disable(); }

BpfStatsEnabled::Paused::~Paused() {
  try {
    stats_.enable();
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-bench: could not switch BPF run-time stats on again: " << e.what() << '\n';
  }
}

std::string BpfStatsEnabled::method() const {
  return previous_sysctl_
             ? fmt::format("sysctl kernel.bpf_stats_enabled=1 (was {}, restored afterwards)", *previous_sysctl_)
             : "BPF_ENABLE_STATS(BPF_STATS_RUN_TIME) fd held for the run, closed only during the "
               "rate measurements of scenarios that take them without stats (same effect as "
               "kernel.bpf_stats_enabled=1; off again when the fd closes, even if the run is killed)";
}

}  // namespace xdpgw::bench
