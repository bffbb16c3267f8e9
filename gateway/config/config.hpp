// The gateway configuration: typed, defaults filled in, references resolved.
//
//   parse    (raw_config.hpp)  text -> RawConfig: syntax, types, key names
//   validate (here)            RawConfig -> Config: ranges, formats,
//                              references, interfaces; every error, in
//                              source order
//   apply    (datapath/)       diffs a Config against what runs
//
// Nothing here touches the kernel: the one thing validate needs from the
// system, interface indexes, comes through Environment, so tests and
// `xdpgw check` run unprivileged. Config is comparable so a reload can diff.
//
// The enums below are the user's choices, not map values: apply translates
// them into the shared header's values (e.g. RouteSource -> enum
// xdpgw_route_source), keeping this module free of the datapath ABI. Only
// the limits come from that header (bpf/include/xdpgw/shared.h, constants
// and fixed-width types, no libbpf): a config is refused where a table
// would overflow, with the table's own size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xdpgw/shared.h"
#include "xdpgw/proxy.h"

#include "config/error.hpp"
#include "config/ip.hpp"
#include "config/raw_config.hpp"

namespace xdpgw::config {

// ---- limits and defaults --------------------------------------------------

inline constexpr std::size_t kMaxInstanceLength = 32;
inline constexpr std::size_t kMaxPortNameLength = 15;  // IFNAMSIZ - 1
// Steering CPUs are distinct, so ids below XDPGW_MAX_CPUS fit cpu_targets.
inline constexpr uint32_t kMaxCpuId = XDPGW_MAX_CPUS - 1;
inline constexpr uint32_t kMaxQueueSize = 16384;
inline constexpr uint32_t kDefaultQueueSize = 2048;
inline constexpr std::string_view kDefaultSocketDir = "/run/xdpgw";
// Not 9100 (node_exporter's, and every other port from 9100 to 9999 is on
// Prometheus' default port allocations list): see docs/operations.md.
inline constexpr std::string_view kDefaultMetrics = "127.0.0.1:10170";
// [control] log_level: spdlog's level names, least to most severe.
inline constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn",
                                                  "error", "critical", "off"};
inline constexpr std::string_view kDefaultLogLevel = "info";
// sizeof(sockaddr_un::sun_path) - 1 for the terminating NUL.
inline constexpr std::size_t kMaxSocketPathLength = 107;

// policy ([policy], [[acl]], [ratelimit])
inline constexpr std::size_t kMaxAclRules = XDPGW_MAX_ACL_RULES;
// Distinct prefixes per ACL trie (side x family), /0 included.
inline constexpr std::size_t kMaxAclPrefixes = XDPGW_MAX_ACL_PREFIXES;
inline constexpr std::size_t kMaxPrefixSets = 64;
inline constexpr std::size_t kMaxRateClasses = XDPGW_MAX_RL_CLASSES;
inline constexpr std::size_t kMaxRateSourcesPerFamily = XDPGW_MAX_RL_PREFIXES;
inline constexpr int64_t kMaxPacketsPerSecond = 100'000'000;
inline constexpr int64_t kMaxBurst = 10'000'000;
inline constexpr std::size_t kMaxClassNameLength = 32;
inline constexpr int64_t kMinBytesPerSecond = 1000;
inline constexpr int64_t kMaxBytesPerSecond = 100'000'000'000;
inline constexpr int64_t kMinBurstBytes = 1500;
inline constexpr int64_t kMaxBurstBytes = 1'000'000'000;
// Load balancer: the datapath's map sizes.
inline constexpr std::size_t kMaxVips = XDPGW_MAX_VIPS;
inline constexpr std::size_t kMaxBackendsTotal = XDPGW_MAX_BACKENDS;  // distinct address:port pairs
inline constexpr std::size_t kMaxVipNameLength = 64;
inline constexpr uint32_t kDefaultConnTableSize = XDPGW_CONN_TABLE_DEFAULT_SIZE;
inline constexpr uint32_t kMinConnTableSize = 1024;
inline constexpr uint32_t kMaxConnTableSize = XDPGW_CONN_TABLE_MAX_SIZE;
// Embryonic TCP flows (a SYN and nothing else) live apart from the
// connection table, in a table of their own (shared.h, xdpgw_embryonic).
inline constexpr uint32_t kDefaultEmbryonicTableSize = XDPGW_EMBRYONIC_TABLE_DEFAULT_SIZE;
inline constexpr uint32_t kMinEmbryonicTableSize = 1024;
inline constexpr uint32_t kMaxEmbryonicTableSize = XDPGW_CONN_TABLE_MAX_SIZE;
// UDP new flows per source prefix (IPv4 /24, IPv6 /48) per second per CPU.
inline constexpr uint32_t kDefaultUdpNewFlowsPerPrefix = XDPGW_UDP_NEW_FLOWS_DEFAULT;
inline constexpr uint32_t kMaxUdpNewFlowsPerPrefix = 100'000'000;
inline constexpr uint32_t kDefaultMaglevTableSize = XDPGW_MAGLEV_DEFAULT_SIZE;
inline constexpr uint32_t kMaxMaglevTableSize = XDPGW_MAGLEV_MAX_SIZE;  // prime
inline constexpr uint32_t kMaxBackendWeight = 65535;
inline constexpr uint32_t kDefaultHealthIntervalMs = 2000;
inline constexpr uint32_t kDefaultHealthTimeoutMs = 1000;
inline constexpr uint32_t kMinHealthIntervalMs = 10;
inline constexpr uint32_t kMaxHealthIntervalMs = 3600000;
inline constexpr uint32_t kMaxRiseFall = 100;
inline constexpr std::size_t kMaxHealthPathLength = 1024;
// mode = "proxy" (gateway/proxy/).
inline constexpr uint32_t kDefaultProxyMaxConnections = 10000;
inline constexpr uint32_t kMaxProxyMaxConnections = XDPGW_PROXY_MAX_CONNECTIONS;
inline constexpr uint32_t kDefaultProxyIdleTimeoutMs = 300'000;
inline constexpr uint32_t kDefaultProxyConnectTimeoutMs = 2000;
inline constexpr uint32_t kDefaultProxyConnectTries = 3;
inline constexpr uint32_t kMaxProxyConnectTries = 16;
inline constexpr uint32_t kDefaultProxyStopGraceMs = 10'000;
// `xdpgw stop` waits 30 s for the daemon; the drain must fit well inside.
inline constexpr uint32_t kMaxProxyStopGraceMs = 20'000;

// ---- typed configuration --------------------------------------------------

enum class AttachMode : uint8_t { kNative, kGeneric };
// What the dispatcher does when a handler slot is empty.
enum class MissedTailCall : uint8_t { kDrop, kPass };
enum class RouteSource : uint8_t { kFib, kStatic, kNone, kKernel };
enum class L4Protocol : uint8_t { kTcp, kUdp };
// kProxy: TCP terminated by the daemon and spliced to the backend in the
// kernel (gateway/proxy/); XDP leaves its packets to the kernel stack.
enum class LbMode : uint8_t { kNat, kDsr, kProxy };
// [vip.synproxy] mode: SYN cookies in XDP never, always, or above a SYN rate.
enum class SynproxyMode : uint8_t { kOff, kOn, kAuto };
inline constexpr uint32_t kDefaultSynproxyThreshold = 1000;  // SYNs a second to a VIP
inline constexpr uint32_t kMaxSynproxyThreshold = 100'000'000;
inline constexpr uint16_t kDefaultSynproxyMss4 = XDPGW_SP_MSS_DEFAULT4;
inline constexpr uint16_t kDefaultSynproxyMss6 = XDPGW_SP_MSS_DEFAULT6;
inline constexpr uint8_t kDefaultSynproxyWscale = XDPGW_SP_WSCALE_DEFAULT;
inline constexpr uint8_t kMaxSynproxyWscale = XDPGW_SP_WSCALE_MAX;

struct Synproxy {
  SynproxyMode mode = SynproxyMode::kOff;
  // auto: cookies from this many SYNs a second to the VIP (all CPUs), until
  // the rate stays below it for a few seconds.
  uint32_t threshold_syn_per_second = kDefaultSynproxyThreshold;
  bool operator==(const Synproxy&) const = default;
};
enum class HealthCheckKind : uint8_t { kTcp, kHttp };

enum class AclAction : uint8_t { kAllow, kDeny };
enum class AclProtocol : uint8_t { kAny, kTcp, kUdp, kIcmp, kIcmpv6 };
// [[acl]] state: kEstablished is a packet of a flow [[snat]] translates
// (either direction); kNew everything else.
enum class AclState : uint8_t { kAny, kNew, kEstablished };

// The spelling used in the config file ("native", "drop", "static", ...).
std::string_view to_string(AttachMode mode);
std::string_view to_string(MissedTailCall action);
std::string_view to_string(RouteSource source);
std::string_view to_string(AclAction action);
std::string_view to_string(AclProtocol protocol);
std::string_view to_string(L4Protocol protocol);
std::string_view to_string(LbMode mode);
std::string_view to_string(SynproxyMode mode);
std::string_view to_string(HealthCheckKind kind);

// [gateway] resync_interval_ms: the daemon follows its ports, their
// addresses and neighbours by rtnetlink events; a full comparison with the
// kernel at this interval is the safety net for anything an event missed.
inline constexpr uint32_t kDefaultKernelResyncIntervalMs = 30'000;

struct GatewaySettings {
  std::string instance;  // [a-z0-9_-]{1,32}; pins live in /sys/fs/bpf/xdpgw/<instance>
  AttachMode attach_mode = AttachMode::kNative;
  MissedTailCall missed_tail_call = MissedTailCall::kDrop;
  std::optional<std::string> netns;  // name under /run/netns; nullopt = current
  uint32_t resync_interval_ms = kDefaultKernelResyncIntervalMs;

  bool operator==(const GatewaySettings&) const = default;
};

struct Port {
  std::string name;
  uint32_t ifindex = 0;
  // inbound = "established-only": IPv4 packets arriving here are forwarded
  // only when they answer a flow translated by [[snat]] (or are an ICMP
  // error about one). Default "any".
  bool inbound_established_only = false;

  bool operator==(const Port&) const = default;
};

struct Route {
  IpPrefix prefix;  // host bits are zero
  IpAddr via;       // same family as prefix
  std::string port;
  uint32_t ifindex = 0;  // of `port`

  bool operator==(const Route&) const = default;
};

// routing.source = "kernel": how often the route mirror compares its tables
// with a full dump of the kernel's (a safety net under the netlink events).
inline constexpr uint32_t kDefaultResyncIntervalMs = 60'000;
inline constexpr uint32_t kMinResyncIntervalMs = 1'000;
inline constexpr uint32_t kMaxResyncIntervalMs = 86'400'000;

struct Routing {
  RouteSource source = RouteSource::kFib;
  std::vector<Route> routes;  // non-empty only with kStatic; file order
  uint32_t resync_interval_ms = kDefaultResyncIntervalMs;  // used with kKernel

  bool operator==(const Routing&) const = default;
};

struct Steering {
  std::vector<uint32_t> cpus;  // file order; empty = steering off
  uint32_t queue_size = kDefaultQueueSize;

  bool enabled() const { return !cpus.empty(); }
  bool operator==(const Steering&) const = default;
};

struct Control {
  std::string socket;  // absolute; default /run/xdpgw/<instance>.sock
  std::optional<Endpoint> metrics;  // default 127.0.0.1:10170; nullopt: metrics = "off"
  std::string log_level{kDefaultLogLevel};  // one of kLogLevels

  bool operator==(const Control&) const = default;
};

struct PortRange {
  uint16_t first = 0;  // inclusive
  uint16_t last = 65535;

  bool operator==(const PortRange&) const = default;
};

// A [[prefix_set]]: sorted, duplicates merged, host bits zero; IPv4 and
// IPv6 may mix.
struct PrefixSet {
  std::string name;
  std::vector<IpPrefix> prefixes;

  bool operator==(const PrefixSet&) const = default;
};

// One [[acl]] rule. Unset prefixes/sets/ports/in_port match anything. Each
// side is one prefix or one named set, never both.
struct AclRule {
  // What metrics and `xdpgw stats` call it: the `name` written in the file
  // ([a-z0-9_-], at most kMaxClassNameLength), or else derived from its
  // content (describe(rule), " #2" on for an identical rule after it), never
  // from its position, so a rule that moves keeps its name. Unique.
  std::string name;
  bool named = false;  // `name` was written in the file
  AclAction action = AclAction::kDeny;
  std::optional<IpPrefix> src;  // host bits zero
  std::optional<IpPrefix> dst;
  std::string src_set;          // a PrefixSet name ("@name" in the file); "" = none
  std::string dst_set;
  // The families this rule can match: each constrained side names a prefix
  // of the family (a rule whose sets are empty matches nothing).
  bool matches_v4 = true;
  bool matches_v6 = true;
  AclProtocol protocol = AclProtocol::kAny;
  std::optional<PortRange> src_ports;  // only with tcp/udp
  std::optional<PortRange> dst_ports;
  AclState state = AclState::kAny;
  std::string in_port;    // empty = any ingress port
  uint32_t in_ifindex = 0;
  uint32_t line = 0;      // where it was written, for stats labels
  // The acl_stats slot its hits are counted in (XDP's rule_id): its
  // position in the file, unless keep_acl_stats_slots() gave it the slot of
  // a running rule of the same name.
  uint32_t stats_slot = 0;

  bool matches(IpFamily family) const {
    return family == IpFamily::kV4 ? matches_v4 : matches_v6;
  }
  bool operator==(const AclRule&) const = default;
};

// An ACL rule as text: "deny src 10.0.0.0/8 tcp dport 23", "allow any" (its
// action and match; the default name of an unnamed rule).
std::string describe(const AclRule& rule);

// Gives each rule of `next` whose name a rule of `running` has that rule's
// stats_slot, so its hit counter goes on across a reload that moves it; the
// others get slots neither kept nor used by `running` where there are enough
// (the running generation may still count into its own until the switch).
// Returns the slots given to rules that did not have them before: their
// counters must be zeroed before `next` is applied.
std::vector<uint32_t> keep_acl_stats_slots(const std::vector<AclRule>& running, std::vector<AclRule>& next);

struct RateClass {
  std::string name;
  uint64_t packets_per_second = 0;
  uint64_t burst = 0;
  uint64_t bytes_per_second = 0;  // 0 = no byte limit; else burst_bytes too
  uint64_t burst_bytes = 0;
  std::vector<IpPrefix> sources;  // host bits zero, unique over all classes

  bool operator==(const RateClass&) const = default;
};

struct RateLimit {
  std::vector<RateClass> classes;           // file order = class id
  std::optional<uint32_t> default_class;   // index into classes

  bool enabled() const { return !classes.empty(); }
  bool operator==(const RateLimit&) const = default;
};

struct Policy {
  AclAction acl_default = AclAction::kAllow;
  std::vector<PrefixSet> prefix_sets;  // file order
  std::vector<AclRule> acl;  // file order

  const PrefixSet* find_set(std::string_view name) const {
    for (const auto& set : prefix_sets)
      if (set.name == name) return &set;
    return nullptr;
  }
  RateLimit ratelimit;

  bool operator==(const Policy&) const = default;
};

struct HealthCheck {
  HealthCheckKind kind = HealthCheckKind::kTcp;
  uint16_t port = 0;        // 0 = the backend's port
  std::string path = "/";   // http only
  uint32_t interval_ms = kDefaultHealthIntervalMs;
  uint32_t timeout_ms = kDefaultHealthTimeoutMs;  // < interval_ms
  uint32_t rise = 2;        // consecutive successes to come back
  uint32_t fall = 3;        // consecutive failures to leave
  uint16_t status_min = 200;  // http: accepted status range
  uint16_t status_max = 399;
  bool operator==(const HealthCheck&) const = default;
};

struct Backend {
  IpAddr addr;
  uint16_t port = 0;    // 0 = the client's destination port
  uint32_t weight = 1;  // 0 = in the pool, but no new flows
  // "198.18.3.2:8080", "[2001:2::3]:8080" ("...:*" for port 0): the
  // backend's identity in Maglev, the CLI and metrics.
  std::string id() const;
  bool operator==(const Backend&) const = default;
};

struct Vip {
  std::string name;
  IpAddr addr;
  L4Protocol protocol = L4Protocol::kTcp;
  uint16_t port = 0;  // 0 = every port of the protocol
  LbMode mode = LbMode::kNat;
  uint32_t table_size = kDefaultMaglevTableSize;  // prime
  // TCP: SYNs a second, per CPU, that may start flows; 0 = no limit. What
  // a DSR VIP has against a SYN flood (its answers bypass the gateway).
  uint32_t syn_rate_limit = 0;
  // TCP nat VIPs: SYN cookies answered in XDP (bpf/synproxy.bpf.c).
  Synproxy synproxy;
  std::vector<Backend> backends;  // file order, at least one
  std::optional<HealthCheck> health_check;
  // mode = "proxy" only: PROXY protocol v2 header to the backend; live
  // proxied connections at most (accepting pauses at the limit); a
  // connection with no byte either way for idle_timeout_ms is closed (0 =
  // never); each connect attempt's timeout and how many backends to try.
  bool proxy_protocol = false;
  uint32_t max_connections = kDefaultProxyMaxConnections;
  uint32_t idle_timeout_ms = kDefaultProxyIdleTimeoutMs;
  uint32_t connect_timeout_ms = kDefaultProxyConnectTimeoutMs;
  uint32_t connect_tries = kDefaultProxyConnectTries;
  bool operator==(const Vip&) const = default;
};

struct LoadBalancer {
  std::optional<IpAddr> tunnel_source_v4;  // DSR to IPv4 backends
  std::optional<IpAddr> tunnel_source_v6;  // DSR to IPv6 backends
  uint32_t conn_table_size = kDefaultConnTableSize;
  uint32_t embryonic_table_size = kDefaultEmbryonicTableSize;
  uint32_t udp_new_flows_per_prefix = kDefaultUdpNewFlowsPerPrefix;  // 0: no cap
  // What a cookie SYN-ACK announces: set them to what the backends announce.
  uint16_t synproxy_mss4 = kDefaultSynproxyMss4;
  uint16_t synproxy_mss6 = kDefaultSynproxyMss6;
  uint8_t synproxy_wscale = kDefaultSynproxyWscale;
  // On stop, proxied connections get this long to finish (mode = "proxy").
  uint32_t proxy_stop_grace_ms = kDefaultProxyStopGraceMs;
  std::vector<Vip> vips;  // file order
  bool operator==(const LoadBalancer&) const = default;
};

// [punt]: flows the AF_XDP pipeline decides (gateway/pipeline).
enum class PuntProtocol : uint8_t { kAny, kTcp, kUdp };
enum class PuntAction : uint8_t { kForward, kPass, kDrop };
// first-packet: the pipeline decides on a flow's first packet and offloads
// the verdict into the connection table; every-packet: it sees them all.
enum class PuntMode : uint8_t { kFirstPacket, kEveryPacket };
enum class PuntWait : uint8_t { kIoUring, kBusyPoll };
enum class PuntBind : uint8_t { kAuto, kCopy, kZeroCopy };
inline constexpr std::size_t kMaxPuntRules = XDPGW_MAX_PUNT_RULES;
inline constexpr uint32_t kDefaultPuntFrames = 8192;
inline constexpr uint32_t kMaxPuntFrames = 1u << 20;
inline constexpr uint32_t kDefaultPuntBatch = 64;
inline constexpr uint32_t kMaxPuntBatch = 1024;

struct PuntRule {
  PuntProtocol protocol = PuntProtocol::kAny;
  std::optional<IpPrefix> src;  // host bits zero; same family as dst when both set
  std::optional<IpPrefix> dst;
  PortRange sport;
  PortRange dport;
  PuntAction action = PuntAction::kPass;
  std::string out_port;  // kForward only: one of Punt::ports
  PuntMode mode = PuntMode::kFirstPacket;
  bool fallback_drop = false;  // no pipeline socket: drop instead of pass
  bool operator==(const PuntRule&) const = default;
};

struct Punt {
  std::vector<std::string> ports;  // default: every [[port]]
  std::string tap;                 // default: "xgwp-<instance>" (15 chars at most)
  uint32_t frames = kDefaultPuntFrames;
  uint32_t batch = kDefaultPuntBatch;
  PuntWait wait = PuntWait::kIoUring;
  PuntBind bind = PuntBind::kAuto;
  std::vector<PuntRule> rules;  // file order = match order
  bool enabled() const { return !rules.empty(); }
  bool operator==(const Punt&) const = default;
};

// [announce]: the VIPs this instance serves, announced over BGP by a local
// BIRD 2 (gateway/announce). Present = on.
inline constexpr std::string_view kDefaultBirdSocket = "/run/bird/bird.ctl";
inline constexpr std::string_view kDefaultBirdIncludeDir = "/run/xdpgw/bird";
inline constexpr uint32_t kDefaultWithdrawGraceMs = 2000;
// `xdpgw stop` waits 30 s for the daemon; the grace must fit well inside.
inline constexpr uint32_t kMaxWithdrawGraceMs = 20000;
inline constexpr std::size_t kMaxBirdProtocolLength = 60;

struct Announce {
  bool enabled = false;
  std::string include;      // absolute; default <kDefaultBirdIncludeDir>/<instance>.conf
  std::string bird_socket;  // absolute; BIRD's control socket
  // BIRD protocol names are <protocol>_v4 and <protocol>_v6; default
  // "xdpgw_<instance>" with '-' written as '_'.
  std::string protocol;
  // On shutdown: VIPs are withdrawn, then XDP keeps serving this long
  // before the daemon exits, while the upstream router converges.
  uint32_t withdraw_grace_ms = kDefaultWithdrawGraceMs;
  bool operator==(const Announce&) const = default;
};

// [flow_export]: IPFIX / NetFlow v9 records of routed flows
// (gateway/flow_export). Present with at least one collector = on.
enum class FlowFormat : uint8_t { kIpfix, kNetflow9 };
std::string_view to_string(FlowFormat format);
inline constexpr uint16_t kDefaultIpfixPort = 4739;  // IANA "ipfix"
inline constexpr std::size_t kMaxFlowCollectors = 8;
inline constexpr uint32_t kDefaultActiveTimeoutS = 60;
inline constexpr uint32_t kDefaultInactiveTimeoutS = 15;
// RFC 7011 10.3.6: templates over UDP are resent periodically; 10 minutes
// is the usual default of exporters (and nfcapd keeps them longer).
inline constexpr uint32_t kDefaultTemplateRefreshS = 600;
inline constexpr uint32_t kMaxFlowTimeoutS = 86400;
inline constexpr uint32_t kMaxSamplingInterval = 1u << 24;
inline constexpr uint32_t kDefaultFlowRecordsPerSecond = 100000;

struct FlowCollector {
  IpAddr address;
  uint16_t port = kDefaultIpfixPort;
  FlowFormat format = FlowFormat::kIpfix;
  std::string to_string() const;  // "ipfix://198.18.0.2:4739"
  bool operator==(const FlowCollector&) const = default;
};

struct FlowExport {
  std::vector<FlowCollector> collectors;  // empty = off
  uint32_t active_timeout_s = kDefaultActiveTimeoutS;
  uint32_t inactive_timeout_s = kDefaultInactiveTimeoutS;
  uint32_t template_refresh_s = kDefaultTemplateRefreshS;
  uint32_t sampling = 1;  // 1 in N packets accounted; 1 = every packet
  uint32_t observation_domain_id = 0;
  // Records per second the exporter sends at most (per collector); up to
  // two seconds' worth wait in its queue, the rest is dropped and counted.
  uint32_t max_records_per_s = kDefaultFlowRecordsPerSecond;
  bool enabled() const { return !collectors.empty(); }
  bool operator==(const FlowExport&) const = default;
};

// [[snat]] and [nat]: source NAT / masquerade of IPv4 flows (bpf/lib/snat.h).
// NAT66 / NPTv6 are not done: IPv6 sources are refused.
enum class SnatProtocol : uint8_t { kAny, kTcp, kUdp, kIcmp };
enum class SnatWhenFull : uint8_t { kDrop, kPass };
inline constexpr std::size_t kMaxSnatAddrs = XDPGW_SNAT_MAX_ADDRS;
inline constexpr std::size_t kMaxSnatMatches = XDPGW_SNAT_MAX_MATCHES;

struct SnatRule {
  std::vector<IpPrefix> sources;  // IPv4, host bits zero; sets expanded; sorted, unique
  std::string out_port;
  uint32_t out_ifindex = 0;
  SnatProtocol protocol = SnatProtocol::kAny;
  bool masquerade = false;      // out_port's primary IPv4 address, followed
  std::vector<IpAddr> to;       // IPv4; empty with masquerade
  PortRange ports{.first = XDPGW_SNAT_PORT_MIN_DEFAULT, .last = XDPGW_SNAT_PORT_MAX_DEFAULT};
  SnatWhenFull when_full = SnatWhenFull::kDrop;
  uint32_t line = 0;

  bool operator==(const SnatRule&) const = default;
};

// Seconds a translation lives after its last packet, by what the flow has
// shown (the daemon's expiry, gateway/daemon/snat_expiry).
struct NatTimeouts {
  uint32_t tcp_established_s = 7200;  // both SYNs seen, no FIN/RST
  uint32_t tcp_transitory_s = 120;    // handshake not done, or one FIN
  uint32_t tcp_closed_s = 10;         // RST, or FIN both ways
  uint32_t udp_s = 30;
  uint32_t udp_replied_s = 120;       // once a reply came back
  uint32_t icmp_s = 30;
  uint32_t expiry_interval_ms = 1000; // how often the table is walked

  bool operator==(const NatTimeouts&) const = default;
};

struct Nat {
  std::vector<SnatRule> rules;  // file order
  NatTimeouts timeouts;
  bool enabled() const { return !rules.empty(); }
  bool operator==(const Nat&) const = default;
};

// One entry of the datapath's match trie: a rule expanded to one protocol
// and one source prefix (`rule` indexes Nat::rules).
struct SnatMatch {
  uint32_t ifindex = 0;
  uint8_t proto = 0;  // IPPROTO_TCP / IPPROTO_UDP / IPPROTO_ICMP
  IpPrefix source;
  std::size_t rule = 0;
};
std::vector<SnatMatch> snat_matches(const Nat& nat);

struct Config {
  GatewaySettings gateway;
  std::vector<Port> ports;  // file order, at least one
  Routing routing;
  Steering steering;
  Control control;
  Policy policy;
  LoadBalancer lb;
  Punt punt;
  Announce announce;
  FlowExport flow_export;
  Nat nat;

  bool operator==(const Config&) const = default;
};

// ---- validation -------------------------------------------------------------

// What validate needs to know about the system it will run on. The daemon
// answers with if_nametoindex inside the configured netns; tests with a map.
class Environment {
 public:
  virtual ~Environment() = default;
  // ifindex of the interface called `name`, or nullopt if there is none.
  virtual std::optional<uint32_t> ifindex(std::string_view name) const = 0;
};

// Checks everything parse does not and resolves it into a Config, or returns
// every error found, sorted by position in the file.
Result<Config> validate(const RawConfig& raw, const Environment& env);

// parse + validate; throws ConfigException with the errors of the first stage
// that failed (validate does not run on a file that did not parse).
Config load(const std::filesystem::path& path, const Environment& env);

}  // namespace xdpgw::config
