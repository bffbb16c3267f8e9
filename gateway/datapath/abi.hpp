// The C++ view of bpf/include/xdpgw/shared.h: the header itself is the only
// definition; this file pins its layout with static_asserts (so a change on
// one side that the other did not follow fails the build) and names the
// enums for stats output.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstddef>
#include <string_view>

#include "xdpgw/shared.h"

namespace xdpgw::abi {

static_assert(sizeof(xdpgw_counter) == 16);
static_assert(sizeof(xdpgw_pkt_meta) == 24);
static_assert(offsetof(xdpgw_pkt_meta, gen) == 16);
static_assert(offsetof(xdpgw_pkt_meta, cpu_count) == 22);
static_assert(sizeof(xdpgw_parsed) == 16 + sizeof(xdpgw_pkt_meta));
static_assert(offsetof(xdpgw_pkt_meta, l4_proto) == 8);
static_assert(offsetof(xdpgw_pkt_meta, vlan_tci) == 12);
static_assert(sizeof(xdpgw_settings) == 16);
static_assert(offsetof(xdpgw_settings, cpu_count) == 8);
static_assert(sizeof(xdpgw_port) == 16);
static_assert(offsetof(xdpgw_port, mac) == 8);
static_assert(sizeof(xdpgw_lpm_v4_key) == 8);
static_assert(sizeof(xdpgw_lpm_v6_key) == 20);
static_assert(sizeof(xdpgw_route) == 4);
static_assert(sizeof(xdpgw_nexthop) == 20);
static_assert(offsetof(xdpgw_nexthop, dmac) == 8);
static_assert(offsetof(xdpgw_nexthop, smac) == 14);
static_assert(sizeof(xdpgw_addr_key) == 20);
static_assert(XDPGW_SLOT_COUNT <= XDPGW_PROG_ARRAY_SIZE);
static_assert(sizeof(xdpgw_flow_key) == 40);
static_assert(offsetof(xdpgw_flow_key, sport) == 32);
static_assert(sizeof(xdpgw_flow) == 64);
static_assert(offsetof(xdpgw_flow, target) == 16);
static_assert(offsetof(xdpgw_flow, created_ns) == 32);
static_assert(sizeof(xdpgw_vip_key) == 20);
static_assert(sizeof(xdpgw_vip) == 16);
static_assert(sizeof(xdpgw_backend) == 20);
static_assert(sizeof(xdpgw_lb_counter) == 24);
static_assert(sizeof(xdpgw_lb_settings) == 24);
static_assert(sizeof(xdpgw_punt_rule) == 52);
static_assert(offsetof(xdpgw_punt_rule, sport_lo) == 36);
static_assert(offsetof(xdpgw_punt_rule, flags) == 44);
static_assert(sizeof(xdpgw_xsk_key) == 8);
static_assert(sizeof(xdpgw_event) == 64);
static_assert(offsetof(xdpgw_event, key) == 24);
// policy (bpf/lib/policy.h)
static_assert(sizeof(xdpgw_acl_ruleset) == 8 * XDPGW_ACL_WORDS);
static_assert(XDPGW_MAX_ACL_RULES % 64 == 0);
static_assert(sizeof(xdpgw_acl_rule) == 20);
static_assert(offsetof(xdpgw_acl_rule, rule_id) == 8);
static_assert(sizeof(xdpgw_rl_class) == 32);
static_assert(sizeof(xdpgw_rl_key) == 20);
static_assert(sizeof(xdpgw_rl_bucket) == 16);
static_assert(sizeof(xdpgw_rl_counter) == 24);
static_assert(sizeof(xdpgw_policy) == 16);

// Stable names of enum xdpgw_reason, used in `xdpgw stats` and metrics.
inline constexpr std::array<std::string_view, XDPGW_R_COUNT> kReasonNames = {
    "unspec",
    "fwd_redirect",
    "steer_cpu",
    "pass_not_ip",
    "pass_ipv4_fragment",
    "pass_ipv6_fragment",
    "pass_ipv4_options",
    "pass_ipv6_hop_by_hop",
    "pass_ttl_exceeded",
    "pass_local_dest",
    "pass_multicast",
    "pass_link_local",
    "pass_no_route",
    "pass_no_neigh",
    "pass_frag_needed",
    "pass_fwd_disabled",
    "pass_egress_not_port",
    "pass_vlan_tagged",
    "pass_routing_off",
    "pass_fib_other",
    "pass_meta_unsupported",
    "missed_tail_call",
    "drop_eth_truncated",
    "drop_vlan_truncated",
    "drop_vlan_too_deep",
    "drop_ipv4_truncated",
    "drop_ipv4_bad_version",
    "drop_ipv4_bad_ihl",
    "drop_ipv4_bad_totlen",
    "drop_ipv6_truncated",
    "drop_ipv6_bad_version",
    "drop_ipv6_bad_payload_len",
    "drop_ipv6_ext_truncated",
    "drop_ipv6_ext_too_deep",
    "drop_tcp_truncated",
    "drop_tcp_bad_doff",
    "drop_udp_truncated",
    "drop_udp_bad_len",
    "drop_icmp_truncated",
    "drop_icmpv6_truncated",
    "drop_meta_missing",
    "drop_redirect_failed",
    "fwd_lb_nat",
    "fwd_lb_dsr",
    "fwd_lb_reverse_nat",
    "drop_lb_no_backend",
    "drop_lb_encap_too_big",
    "drop_lb_encap_failed",
    "drop_acl_deny",
    "drop_rate_limited",
    "punt_xsk",
    "pass_punt_fallback",
    "drop_punt_fallback",
    "fwd_flow_verdict",
    "pass_flow_verdict",
    "drop_flow_verdict",
    "drop_ipv4_bad_checksum",
};

constexpr bool all_named(const auto& names) {
  for (auto n : names)
    if (n.empty()) return false;
  return true;
}
static_assert(all_named(kReasonNames),
              "every enum xdpgw_reason value needs a name here");

inline constexpr std::array<std::string_view, XDPGW_SLOT_COUNT> kSlotNames = {
    "tcp", "udp", "icmp", "icmpv6", "other"};
static_assert(all_named(kSlotNames));

constexpr std::string_view reason_name(unsigned reason) {
  return reason < kReasonNames.size() ? kReasonNames[reason] : "unknown";
}

// A reason whose packets left XDP as a drop, a pass to the kernel, a
// forward, or a punt to an AF_XDP socket. STEER_CPU is an intermediate
// step: the packet is counted again with its final reason on the CPU it was
// steered to.
enum class Outcome { kForward, kPass, kDrop, kPunt, kIntermediate, kOther };

constexpr Outcome reason_outcome(unsigned reason) {
  std::string_view n = reason_name(reason);
  if (reason == XDPGW_R_STEER_CPU) return Outcome::kIntermediate;
  if (n.starts_with("fwd_")) return Outcome::kForward;
  if (n.starts_with("pass_")) return Outcome::kPass;
  if (n.starts_with("drop_")) return Outcome::kDrop;
  if (n.starts_with("punt_")) return Outcome::kPunt;
  return Outcome::kOther;
}

}  // namespace xdpgw::abi
