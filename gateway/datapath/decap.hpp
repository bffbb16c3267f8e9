// The backend side of DSR: attaches bpf/decap.bpf.c to an interface of the
// current network namespace through a pinned bpf_link, so it stays attached
// after `xdpgw decap attach` exits, and removes it again.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "xdpgw/shared.h"

namespace xdpgw::decap {

// Where an attachment's link and counters are pinned. `scope` names the
// network namespace ("host" or its /run/netns name) so the same interface
// name in two namespaces gets two pin dirs.
std::filesystem::path pin_dir(const std::string& scope, const std::string& ifname);

// Loads the decap program and attaches it to `ifname` (native XDP, or
// generic); pins link and counters in pin_dir(scope, ifname). Throws if the
// interface is missing or already has an XDP program.
void attach(const std::string& scope, const std::string& ifname, bool generic);

// Detaches and removes the pins. False if nothing was attached.
bool detach(const std::string& scope, const std::string& ifname);

struct Counters {
  xdpgw_counter decapsulated{};
  xdpgw_counter not_tunnel{};
  xdpgw_counter malformed{};
};
Counters read_counters(const std::string& scope, const std::string& ifname);

}  // namespace xdpgw::decap
