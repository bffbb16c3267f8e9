// Forwarding paths: the ways a frame can go from the generator to the sink
// in the benchmark topology, each with its sink and whatever runs on its
// gateway. A scenario measures several paths with the same traffic; their
// roles say which are the references the others are compared with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/addr.hpp"
#include "runner/bpf_programs.hpp"
#include "runner/gateway_daemon.hpp"
#include "runner/prog_stats.hpp"
#include "runner/topology.hpp"

namespace xdpgw::bench {

struct TrafficCase;  // measure.hpp
struct Sample;

enum class PathRole {
  kGeneratorCeiling,  // generator straight into an XDP_DROP sink: nothing to forward
  kXdpCeiling,        // a minimal XDP forwarder doing the same redirect
  kFibReference,      // the minimal XDP router (bpf_fib_lookup), for program cost
  kKernel,            // Linux doing the same job without XDP
  kSubject,           // what is being measured (xdpgw)
};
std::string_view to_string(PathRole role);

// Counters a path keeps of its own, by name; measurements report their
// change over a run to explain where lost frames went.
using Counters = std::map<std::string, uint64_t>;

// What every path needs to set itself up.
struct PathContext {
  const BenchTopology& topology;
  uint16_t dst_port;                    // the generator's UDP port, which the sink counts
  std::filesystem::path xdpgw_binary;
  std::filesystem::path work_dir;       // configs and logs
};

class ForwardingPath {
 public:
  virtual ~ForwardingPath() = default;
  ForwardingPath(const ForwardingPath&) = delete;
  ForwardingPath& operator=(const ForwardingPath&) = delete;

  const std::string& name() const noexcept { return name_; }  // in the topology: "fib"
  const std::string& label() const noexcept { return label_; }  // for tables
  PathRole role() const noexcept { return role_; }
  // One sentence: what runs where.
  virtual std::string description() const = 0;

  // Namespace and interface the generator sends from, and the MAC its
  // frames go to (the gateway's ingress port, or the sink for `direct`).
  std::string gen_netns() const;
  std::string gen_ifname() const;
  const test::MacAddr& gen_mac() const noexcept { return gen_mac_; }
  const test::MacAddr& next_hop_mac() const noexcept { return next_hop_mac_; }

  // Generator frames that reached the sink, and everything else it saw.
  uint64_t delivered() const { return sink_.matched().packets; }
  uint64_t sink_other() const { return sink_.other().packets; }
  // Frames the path has dropped on purpose so far, by its own count (ACL
  // deny and rate-limit verdicts, an nftables drop rule's counter, a
  // minimal XDP_DROP program's): handled, not lost. nullopt for paths whose
  // job is forwarding, where every dropped frame is a loss.
  virtual std::optional<uint64_t> intended_drops() const { return std::nullopt; }
  // Share of a readiness probe that must be handled before the path counts
  // as working. Paths that lose frames by design under a full-speed
  // generator (an AF_XDP loop on another CPU) lower it.
  virtual double min_probe_share() const { return 0.999; }

  // The path's own counters; the default reads the gateway ports' kernel
  // counters (veth drops show on the receiving port).
  virtual Counters counters() const;
  // Whether the frames of a measurement went the way this path claims
  // (xdpgw's LB path: its load-balancing verdicts counted them; an xdpgw
  // path in a case with TrafficCase::xdpgw_verdicts: those verdicts counted
  // every handled frame), given the sample with the change of counters()
  // over it. An explanation when they did not.
  virtual std::optional<std::string> check(const TrafficCase& traffic, const Sample& sample) const;
  // Facts about the path worth reporting once, after its last measurement
  // (xdpgw: connection-table memory, daemon RSS). A JSON object, maybe empty.
  virtual nlohmann::json details() const;
  // XDP attach mode on the port the generator sends to.
  std::string ingress_attach_mode() const;
  // Run-time stats of the XDP program on that port (for xdpgw its
  // dispatcher, whose figure includes the handlers it tail-calls; for the
  // direct path the sink); nullopt when none is attached (kernel paths).
  std::optional<ProgStats> ingress_prog_stats() const;
  // Why the path could not be set up (an xdpgw daemon that did not start);
  // such a path is reported, never measured.
  virtual std::optional<std::string> setup_error() const { return std::nullopt; }

 protected:
  ForwardingPath(const PathContext& context, std::string name, std::string label, PathRole role);
  bool has_gateway() const { return name_ != kDirectPath; }
  std::string gateway_netns_path() const;

  const BenchTopology& topology_;
  test::MacAddr gateway_egress_mac_{};  // xgw1, the source MAC towards the sink
  test::MacAddr sink_mac_{};

 private:
  std::string name_;
  std::string label_;
  PathRole role_;
  test::MacAddr gen_mac_{};
  test::MacAddr next_hop_mac_{};
  Sink sink_;
};

// (a) The generator's own ceiling: no gateway, frames go straight to the sink.
std::unique_ptr<ForwardingPath> make_direct_path(const PathContext& context);
// (b) Minimal XDP forwarder on the gateway: rewrite MACs, DEVMAP redirect.
std::unique_ptr<ForwardingPath> make_xdp_redirect_path(const PathContext& context, std::string name);
// (c) Linux IP forwarding on the gateway, no XDP there.
std::unique_ptr<ForwardingPath> make_kernel_forwarding_path(const PathContext& context,
                                                            std::string name);
// The minimal XDP router on the gateway (bench/bpf/fib_min.bpf.c): the
// reference of per-packet program cost for paths that route. `setup`: shell
// commands run once inside the gateway namespace first (routes for a VIP).
std::unique_ptr<ForwardingPath> make_xdp_fib_path(const PathContext& context, std::string name,
                                                  const std::vector<std::string>& setup = {});
struct KernelPathOptions {
  // nftables named counters ("ip xbn_acl acl_deny": family, table, name)
  // whose packets the path dropped on purpose (intended_drops); read with
  // `nft -j list counters` in the gateway namespace. Empty: a forwarding
  // path.
  std::vector<std::string> nft_drop_counters;
  // details() reports the gateway namespace's conntrack entries and the
  // kernel memory each takes (the job keeps per-flow state in conntrack).
  bool conntrack_memory = false;
};

// Linux doing a job described by `description` on the gateway, no XDP there:
// kernel forwarding after `setup`, shell commands run once inside the
// gateway namespace (routes, an nftables ruleset).
std::unique_ptr<ForwardingPath> make_kernel_path(const PathContext& context, std::string name,
                                                 std::string label, std::string description,
                                                 const std::vector<std::string>& setup,
                                                 KernelPathOptions options = {});

// (b) for dropping paths: bench/bpf/drop_min.bpf.c on the gateway's ingress
// port counts and drops every frame.
std::unique_ptr<ForwardingPath> make_xdp_drop_path(const PathContext& context, std::string name);

// (b) for punt paths: every frame into an AF_XDP socket on the gateway's
// ingress (bench/bpf/xsk_min.bpf.c), a minimal rx -> MAC rewrite -> tx loop
// in this process out of the egress port (runner/xsk_forwarder.hpp).
std::unique_ptr<ForwardingPath> make_xsk_forward_path(const PathContext& context, std::string name);

struct XdpgwPathOptions {
  // The verdict reason every generator frame must get ("fwd_lb_nat"): a
  // measurement where fewer frames got it than reached the sink fails the
  // path (the frames were forwarded some other way). Empty: no check.
  std::string expect_verdict;
  // Verdict reasons whose frames the path dropped on purpose
  // ("drop_acl_deny", "drop_rate_limited"): its intended_drops().
  std::vector<std::string> drop_verdicts;
  // The config has a [punt] section: counters() adds the AF_XDP pipeline's
  // own ("pipeline.rx", "pipeline.forwarded", ...) from `xdpgw status --json`.
  bool pipeline = false;
  // ForwardingPath::min_probe_share, when not the default: a path through
  // the pipeline, whose thread on the other CPU cannot keep up with the
  // generator, is ready once some frames arrive.
  std::optional<double> min_probe_share;
  // Keys added to the egress port's [[port]] table ("inbound = ...").
  std::string egress_port_toml;
  // Pinned maps whose kernel memory details() reports, by pin name.
  std::vector<std::string> memory_tables = {"conn_table"};
};

// The xdpgw daemon on the gateway with a config whose [routing] (and [lb],
// [[vip]], later [acl], ...) sections are `routing_toml`; ports, instance and
// control socket are filled in. Its counters include the connection-table
// inserts; its details the kernel memory of the maps in
// options.memory_tables (map info) and the daemon's RSS. A daemon that does
// not start gives a path whose setup_error() says why (the scenario's other
// paths are still measured).
std::unique_ptr<ForwardingPath> make_xdpgw_path(const PathContext& context, std::string name,
                                                std::string label, std::string routing_toml,
                                                XdpgwPathOptions options = {});

}  // namespace xdpgw::bench
