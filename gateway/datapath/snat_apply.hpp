// [[snat]] into a generation's match trie (cfg_snat, bpf/lib/snat.h).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "datapath/abi.hpp"

namespace xdpgw {

struct ConfigTables;

// The gateway's primary IPv4 address on a port, for masquerade.
using PrimaryAddress = std::function<std::optional<std::array<uint8_t, 4>>(std::string_view port)>;

// The datapath value of each rule (index = rule), masquerade resolved
// through `primary`. A masquerade port without an IPv4 address gets no
// address (addr_count 0): its new flows are refused by the rule's
// when_full policy until the port has one (the daemon re-applies on
// address changes).
std::vector<xdpgw_snat_rule> snat_rule_values(const config::Nat& nat, const PrimaryAddress& primary);

// Throws std::runtime_error naming the rule when a `to` address is not one
// of `local` (the gateway's own IPv4 addresses): replies to an address the
// gateway does not own would never reach it.
void check_snat_addresses_owned(const config::Nat& nat,
                                const std::vector<std::array<uint8_t, 4>>& local);

// The IPv4 addresses of the current network namespace.
std::vector<std::array<uint8_t, 4>> local_ipv4_addresses();

// Fills `t.snat` from the config, with addresses from the kernel of the
// current network namespace.
void fill_snat(const ConfigTables& t, const config::Nat& nat);

// Fills `t.inbound` with the ports whose inbound is "established-only".
void fill_inbound(const ConfigTables& t, const std::vector<config::Port>& ports);

}  // namespace xdpgw
