#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datapath/probe.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::daemon {

// What this kernel offers the datapath, probed at start by loading tiny
// programs (datapath/probe.hpp): one line per missing feature, the knobs the
// programs are loaded with, and what status keeps warning about.
struct KernelSupport {
  uint32_t features = XDPGW_FEAT_ALL;
  probe::Usable usable;
  std::vector<std::string> degraded;  // the line of each optional feature that is off
  std::string kernel_release;
};
// Probes this kernel; logs one line per missing feature. Throws, naming
// them, when a feature the datapath cannot run without is missing.
KernelSupport probe_kernel_support();

}  // namespace xdpgw::daemon
