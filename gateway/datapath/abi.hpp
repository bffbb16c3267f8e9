// The C++ view of bpf/include/xdpgw/shared.h: the header itself is the only
// definition; this file pins its layout with static_asserts (so a change on
// one side that the other did not follow fails the build) and gives the
// verdict reasons their names and outcomes from the header's own rows
// (XDPGW_REASONS).
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
static_assert(sizeof(xdpgw_fe_key) == 48);
static_assert(offsetof(xdpgw_fe_key, ingress_ifindex) == 40);
static_assert(sizeof(xdpgw_fe_value) == 40);
static_assert(offsetof(xdpgw_fe_value, egress_ifindex) == 32);
static_assert(offsetof(xdpgw_fe_value, tcp_flags) == 36);
static_assert(sizeof(xdpgw_fe_cfg) == 8);
static_assert(offsetof(xdpgw_fe_cfg, countdown) == 4);
static_assert(offsetof(xdpgw_settings, cpu_count) == 8);
static_assert(sizeof(xdpgw_lpm_v4_key) == 8);
static_assert(sizeof(xdpgw_lpm_v6_key) == 20);
static_assert(sizeof(xdpgw_route) == 4);
static_assert(sizeof(xdpgw_nexthop) == 24);
static_assert(offsetof(xdpgw_nexthop, mtu) == 20);
static_assert(offsetof(xdpgw_nexthop, dmac) == 8);
static_assert(offsetof(xdpgw_nexthop, smac) == 14);
static_assert(sizeof(xdpgw_addr_key) == 20);
static_assert(sizeof(xdpgw_kroute) == 8);
static_assert(sizeof(xdpgw_knexthop) == 44);
static_assert(offsetof(xdpgw_knexthop, smac) == 32);
static_assert(offsetof(xdpgw_knexthop, mtu) == 40);
static_assert(offsetof(xdpgw_knexthop, dmac) == 8);
static_assert(offsetof(xdpgw_knexthop, addr) == 16);
static_assert(XDPGW_SLOT_COUNT <= XDPGW_PROG_ARRAY_SIZE);
static_assert(sizeof(xdpgw_flow_key) == 40);
static_assert(offsetof(xdpgw_flow_key, sport) == 32);
static_assert(sizeof(xdpgw_flow) == 64);
static_assert(offsetof(xdpgw_flow, target) == 16);
static_assert(offsetof(xdpgw_flow, created_ns) == 32);
static_assert(sizeof(xdpgw_lb_cache_slot) == 104);
static_assert(sizeof(xdpgw_embryonic) == 72);
static_assert(offsetof(xdpgw_embryonic, server_isn) == 64);
static_assert(sizeof(xdpgw_prefix_key) == 8);
static_assert(sizeof(xdpgw_new_flow_window) == 16);
static_assert(offsetof(xdpgw_lb_cache_slot, flow) == 40);
static_assert(sizeof(xdpgw_vip_key) == 20);
static_assert(sizeof(xdpgw_vip) == 20);
static_assert(offsetof(xdpgw_vip, syn_rate_limit) == 16);
static_assert(sizeof(xdpgw_backend) == 20);
static_assert(sizeof(xdpgw_lb_counter) == 24);
static_assert(sizeof(xdpgw_lb_settings) == 32);
static_assert(sizeof(xdpgw_synproxy_flow) == 32);
static_assert(sizeof(xdpgw_synproxy_counter) == 48);
static_assert(sizeof(xdpgw_punt_rule) == 52);
static_assert(sizeof(xdpgw_snat_match_key) == 16);
static_assert(offsetof(xdpgw_snat_match_key, addr) == 9);
static_assert(sizeof(xdpgw_snat_rule) == 16 + 4 * XDPGW_SNAT_MAX_ADDRS);
static_assert(sizeof(xdpgw_snat_port_key) == 8);
static_assert(sizeof(xdpgw_snat_flow) == 48);
static_assert(offsetof(xdpgw_snat_flow, last_seen_ns) == 24);
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

// A reason whose packets left XDP as a drop, a pass to the kernel, a
// forward, or a punt to an AF_XDP socket; kIntermediate is a step after
// which the packet is counted again (STEER_CPU). The values are the header's
// enum xdpgw_outcome, which the XDPGW_REASONS rows name.
enum class Outcome {
  kOther = XDPGW_OUTCOME_OTHER,
  kForward = XDPGW_OUTCOME_FORWARD,
  kPass = XDPGW_OUTCOME_PASS,
  kDrop = XDPGW_OUTCOME_DROP,
  kPunt = XDPGW_OUTCOME_PUNT,
  kIntermediate = XDPGW_OUTCOME_INTERMEDIATE,
};

// One row of XDPGW_REASONS.
struct ReasonInfo {
  std::string_view name;        // stable: `xdpgw stats`, metrics, events
  std::string_view identifier;  // the enumerator without XDPGW_R_
  Outcome outcome = Outcome::kOther;
  bool parse_error = false;
};

// Every enum xdpgw_reason value, indexed by value, built from the header's
// rows: a reason added there is named here without a second list.
inline constexpr std::array<ReasonInfo, XDPGW_R_COUNT> kReasons = [] {
  std::array<ReasonInfo, XDPGW_R_COUNT> out{};
#define XDPGW_ABI_REASON_(ident, value, str, outcome, parse_error) \
  out[value] = {str, #ident, static_cast<Outcome>(XDPGW_OUTCOME_##outcome), (parse_error) != 0};
  XDPGW_REASONS(XDPGW_ABI_REASON_)
#undef XDPGW_ABI_REASON_
  return out;
}();

namespace detail {

#define XDPGW_ABI_ROW_(...) +1
inline constexpr std::size_t kReasonRows = 0 XDPGW_REASONS(XDPGW_ABI_ROW_);
#undef XDPGW_ABI_ROW_

constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

constexpr bool name_matches_identifier(const ReasonInfo& r) {
  if (r.name.size() != r.identifier.size()) return false;
  for (std::size_t i = 0; i < r.name.size(); ++i)
    if (r.name[i] != to_lower(r.identifier[i])) return false;
  return true;
}

// The exported names predate the outcome column: a name's prefix says where
// its packets went, and the column must agree with it.
constexpr bool outcome_matches_prefix(const ReasonInfo& r) {
  if (r.name.starts_with("fwd_")) return r.outcome == Outcome::kForward;
  // Answered by XDP out of the port it came in (XDP_TX): it left by XDP.
  if (r.name.starts_with("tx_")) return r.outcome == Outcome::kForward;
  if (r.name.starts_with("pass_")) return r.outcome == Outcome::kPass;
  if (r.name.starts_with("drop_")) return r.outcome == Outcome::kDrop;
  if (r.name.starts_with("punt_")) return r.outcome == Outcome::kPunt;
  return r.outcome == Outcome::kOther || r.outcome == Outcome::kIntermediate;
}

constexpr bool reasons_consistent() {
  for (const ReasonInfo& r : kReasons) {
    // An empty row is a value no X() line set: rows == count then means a
    // duplicate value somewhere.
    if (r.name.empty() || !name_matches_identifier(r) || !outcome_matches_prefix(r)) return false;
    // A malformed frame is dropped.
    if (r.parse_error && r.outcome != Outcome::kDrop) return false;
  }
  return true;
}

}  // namespace detail

static_assert(detail::kReasonRows == XDPGW_R_COUNT,
              "XDPGW_REASONS values must be 0..n-1, each once (retired ones keep their row)");
static_assert(detail::reasons_consistent(),
              "each XDPGW_REASONS row: a name, lower-case of its identifier, an outcome its "
              "prefix agrees with, parse errors dropped");

constexpr bool all_named(const auto& names) {
  for (auto n : names)
    if (n.empty()) return false;
  return true;
}

#define XDPGW_SLOT_NAME_(name, value, str) str,
inline constexpr std::array<std::string_view, XDPGW_SLOT_COUNT> kSlotNames = {
    XDPGW_SLOTS(XDPGW_SLOT_NAME_)};
#undef XDPGW_SLOT_NAME_
static_assert(all_named(kSlotNames));
namespace detail {
constexpr bool slots_dense() {
  unsigned next = 0;
#define XDPGW_SLOT_CHECK_(name, value, str) \
  if ((value) != next++) return false;
  XDPGW_SLOTS(XDPGW_SLOT_CHECK_)
#undef XDPGW_SLOT_CHECK_
  return next == XDPGW_SLOT_COUNT;
}
}  // namespace detail
static_assert(detail::slots_dense(), "XDPGW_SLOTS values must be 0..n-1 in order: kSlotNames is "
                                     "indexed by slot");

constexpr std::string_view reason_name(unsigned reason) {
  return reason < kReasons.size() ? kReasons[reason].name : "unknown";
}

constexpr Outcome reason_outcome(unsigned reason) {
  return reason < kReasons.size() ? kReasons[reason].outcome : Outcome::kOther;
}

constexpr bool reason_is_parse_error(unsigned reason) {
  return reason < kReasons.size() && kReasons[reason].parse_error;
}

}  // namespace xdpgw::abi
