#include "daemon/kernel_support.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace xdpgw::daemon {

KernelSupport probe_kernel_support() {
  const probe::Report report = probe::probe_kernel(probe::DenyList::from_env());
  KernelSupport ks;
  ks.kernel_release = report.kernel_release;
  bool required_missing = false;
  for (const auto& f : report.findings) {
    const probe::Use use = f.feature->use;
    if (!f.missing() || use == probe::Use::kTests || use == probe::Use::kBenchGenerator ||
        use == probe::Use::kNothing)
      continue;
    const std::string line = f.line(report.kernel_release);
    if (f.feature->required()) {
      spdlog::error("{}", line);
      required_missing = true;
    } else {
      spdlog::warn("{}", line);
      ks.degraded.push_back(line);
    }
  }
  if (required_missing)
    throw std::runtime_error(fmt::format(
        "kernel {} lacks what the XDP datapath needs (the lines above; `xdpgw check --kernel` "
        "checks a machine without starting anything)",
        report.kernel_release));
  ks.usable = probe::usable(report);
  ks.features = (ks.usable.events ? XDPGW_FEAT_EVENTS : 0u) |
                (ks.usable.drop_capture ? XDPGW_FEAT_CAPTURE : 0u) |
                (ks.usable.fib ? XDPGW_FEAT_FIB : 0u) | (ks.usable.acl ? XDPGW_FEAT_ACL : 0u) |
                (ks.usable.steering ? XDPGW_FEAT_STEERING : 0u) |
                (ks.usable.synproxy ? XDPGW_FEAT_SYNCOOKIE : 0u);
  return ks;
}

}  // namespace xdpgw::daemon
