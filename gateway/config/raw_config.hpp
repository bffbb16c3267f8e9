// Stage 1 of the config pipeline: TOML text -> RawConfig.
//
// parse checks syntax, value types and key names, nothing else: every value
// is kept as written, with the place it was written, so validate can point at
// it. A key the schema does not know is an error (at any level), because a
// misspelt optional key would otherwise be ignored and its default used
// without anyone noticing.
//
// RawConfig mirrors the file: one Raw* struct per table, std::optional for
// every key (absent is not an error here; validate knows what is required).
// A new section (lb, acl, ...) gets a Raw* struct here, one read function in
// parse.cpp and one check function in a validate_<section>.cpp (listed in
// validate_detail.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/error.hpp"

namespace xdpgw::config {

template <typename T>
struct Located {
  T value;
  SourcePos pos;  // where the value starts
};

using RawString = std::optional<Located<std::string>>;
using RawInteger = std::optional<Located<int64_t>>;
using RawBool = std::optional<Located<bool>>;

// `pos` of a table is its header ("[gateway]", "[[port]]"), where errors
// about a missing key point.

struct RawGateway {
  SourcePos pos;
  RawString instance;
  RawString attach_mode;
  RawString missed_tail_call;
  RawString netns;
  RawInteger resync_interval_ms;
};

struct RawPort {
  SourcePos pos;
  RawString name;
  RawString inbound;
};

struct RawRoute {
  SourcePos pos;
  RawString prefix;
  RawString via;
  RawString port;
};

struct RawRouting {
  SourcePos pos;
  RawString source;
  std::vector<RawRoute> routes;
  RawInteger resync_interval_ms;
};

struct RawSteering {
  SourcePos pos;
  std::vector<Located<int64_t>> cpus;  // absent and empty mean the same: off
  RawInteger queue_size;
};

struct RawControl {
  SourcePos pos;
  RawString socket;
  RawString metrics;
  RawString log_level;
};

// ---- policy: [policy], [[acl]], [ratelimit] ----

struct RawPolicy {
  SourcePos pos;
  RawString acl_default;
};

// [[prefix_set]]: a named list of prefixes for [[acl]] src/dst ("@name"),
// written inline (`prefixes`) and/or read from `file`, one prefix per line.
struct RawPrefixSet {
  SourcePos pos;
  RawString name;
  std::vector<Located<std::string>> prefixes;
  RawString file;  // as written; relative to the config file's directory
  // The lines of `file` that hold an entry (comments and blanks dropped),
  // positioned in that file; errors about them name `file_path`.
  std::string file_path;
  std::vector<Located<std::string>> file_entries;
};

struct RawAclRule {
  SourcePos pos;
  RawString name;
  RawString action;
  RawString src;
  RawString dst;
  RawString protocol;
  RawString src_ports;
  RawString dst_ports;
  RawString in_port;
  RawString state;
};

struct RawRateClass {
  SourcePos pos;
  RawString name;
  RawInteger packets_per_second;
  RawInteger burst;
  RawInteger bytes_per_second;
  RawInteger burst_bytes;
  std::vector<Located<std::string>> sources;
};

struct RawRateLimit {
  SourcePos pos;
  RawString default_class;
  std::vector<RawRateClass> classes;
};

struct RawLb {
  SourcePos pos;
  RawString tunnel_source_v4;
  RawString tunnel_source_v6;
  RawInteger conn_table_size;
  RawInteger embryonic_table_size;
  RawInteger udp_new_flows_per_prefix;
  RawInteger proxy_stop_grace_ms;
  RawInteger synproxy_mss4;
  RawInteger synproxy_mss6;
  RawInteger synproxy_wscale;
};

struct RawSynproxy {
  SourcePos pos;
  RawString mode;
  RawInteger threshold_syn_per_second;
};

struct RawBackend {
  SourcePos pos;
  RawString address;
  RawInteger port;
  RawInteger weight;
};

struct RawHealthCheck {
  SourcePos pos;
  RawString kind;
  RawInteger port;
  RawString path;
  RawInteger interval_ms;
  RawInteger timeout_ms;
  RawInteger rise;
  RawInteger fall;
  RawInteger status_min;
  RawInteger status_max;
};

struct RawVip {
  SourcePos pos;
  RawString name;
  RawString address;
  RawString protocol;
  RawInteger port;
  RawString mode;
  RawInteger table_size;
  RawInteger syn_rate_limit;
  std::vector<RawBackend> backends;
  std::optional<RawHealthCheck> health_check;
  std::optional<RawSynproxy> synproxy;
  // mode = "proxy" only (gateway/proxy/)
  RawBool proxy_protocol;
  RawInteger max_connections;
  RawInteger idle_timeout_ms;
  RawInteger connect_timeout_ms;
  RawInteger connect_tries;
};

struct RawPuntRule {
  SourcePos pos;
  RawString protocol;
  RawString src;
  RawString dst;
  RawString sport;  // "N" or "LO-HI" (an integer is read as "N")
  RawString dport;
  RawString action;
  RawString out_port;
  RawString mode;
  RawString fallback;
};
struct RawPunt {
  SourcePos pos;
  std::vector<Located<std::string>> ports;  // absent: every [[port]]
  RawString tap;
  RawInteger frames;
  RawInteger batch;
  RawString wait;
  RawString bind;
  std::vector<RawPuntRule> rules;
};
// [announce]: VIPs announced over BGP by a local BIRD (gateway/announce).
struct RawAnnounce {
  SourcePos pos;
  RawString include;
  RawString bird_socket;
  RawString protocol;
  RawInteger withdraw_grace_ms;
};

// [flow_export]: IPFIX / NetFlow v9 (gateway/flow_export).
struct RawFlowCollector {
  SourcePos pos;
  RawString address;
  RawInteger port;
  RawString format;
};
struct RawFlowExport {
  SourcePos pos;
  std::vector<RawFlowCollector> collectors;
  RawInteger active_timeout_s;
  RawInteger inactive_timeout_s;
  RawInteger template_refresh_s;
  RawInteger sampling;
  RawInteger observation_domain_id;
  RawInteger max_records_per_s;
};

// [[snat]]: source NAT rules; [nat]: their timeouts.
struct RawSnatRule {
  SourcePos pos;
  std::vector<Located<std::string>> src;  // prefixes and "@set" names
  RawString out_port;
  RawString protocol;
  std::vector<Located<std::string>> to;   // addresses, or the one word "masquerade"
  SourcePos to_pos;                       // where `to` was written (when it was)
  bool has_to = false;
  RawString ports;                        // "LO-HI"
  RawString when_full;
};
struct RawNat {
  SourcePos pos;
  RawInteger tcp_established_s;
  RawInteger tcp_transitory_s;
  RawInteger tcp_closed_s;
  RawInteger udp_s;
  RawInteger udp_replied_s;
  RawInteger icmp_s;
  RawInteger expiry_interval_ms;
};

struct RawConfig {
  std::string source_name;  // file name used in every error
  std::optional<RawGateway> gateway;
  std::vector<RawPort> ports;
  std::optional<RawRouting> routing;
  std::optional<RawSteering> steering;
  std::optional<RawControl> control;
  std::optional<RawPolicy> policy;
  std::vector<RawPrefixSet> prefix_sets;
  std::vector<RawAclRule> acl;
  std::optional<RawRateLimit> ratelimit;
  std::optional<RawLb> lb;
  std::vector<RawVip> vips;
  std::optional<RawPunt> punt;
  std::optional<RawAnnounce> announce;
  std::optional<RawFlowExport> flow_export;
  std::vector<RawSnatRule> snat;
  std::optional<RawNat> nat;
};

// Reads and parses the file; errors name it as `path` was given.
Result<RawConfig> parse(const std::filesystem::path& path);

// Parses `text`; errors name it `source_name`.
Result<RawConfig> parse_string(std::string_view text, std::string_view source_name);

}  // namespace xdpgw::config
