#include "runner/paths.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gen/system.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "runner/measure.hpp"
#include "runner/xsk_forwarder.hpp"

namespace xdpgw::bench {
namespace {

// Kernel counters of one interface (`ip -s -j link`), as "IF.rx_dropped" etc.
void add_link_counters(Counters& out, const std::string& netns, const std::string& ifname) {
  const std::string json = test::run_ok(fmt::format("ip -n {} -s -j link show dev {}",
                                                    test::shell_quote(netns), test::shell_quote(ifname)));
  const nlohmann::json links = nlohmann::json::parse(json);
  if (links.empty()) return;
  const nlohmann::json& stats = links.at(0).at("stats64");
  for (const char* direction : {"rx", "tx"}) {
    for (const char* field : {"packets", "dropped", "errors"}) {
      out[fmt::format("{}.{}_{}", ifname, direction, field)] =
          stats.at(direction).at(field).get<uint64_t>();
    }
  }
}

// Selected /proc/net/snmp and /proc/net/snmp6 counters of the namespace
// (what `nstat` shows): forwarded, discarded, misaddressed packets.
void add_snmp_counters(Counters& out, const std::string& netns_path) {
  test::NetnsGuard inside(netns_path);
  // thread-self: /proc/self/net would follow the process's main thread.
  std::ifstream snmp("/proc/thread-self/net/snmp");
  std::string names_line, values_line;
  while (std::getline(snmp, names_line) && std::getline(snmp, values_line)) {
    if (!names_line.starts_with("Ip: ")) continue;
    std::istringstream names(names_line.substr(4)), values(values_line.substr(4));
    std::string name;
    uint64_t value = 0;
    while (names >> name && values >> value) {
      if (name == "ForwDatagrams" || name == "InDiscards" || name == "OutDiscards" ||
          name == "InAddrErrors" || name == "OutNoRoutes" || name == "InHdrErrors") {
        out["Ip" + name] = value;
      }
    }
  }
  std::ifstream snmp6("/proc/thread-self/net/snmp6");
  std::string name;
  uint64_t value = 0;
  while (snmp6 >> name >> value) {
    if (name == "Ip6OutForwDatagrams" || name == "Ip6InDiscards" || name == "Ip6OutDiscards" ||
        name == "Ip6InAddrErrors" || name == "Ip6InNoRoutes" || name == "Ip6InHdrErrors") {
      out[name] = value;
    }
  }
}

class DirectPath final : public ForwardingPath {
 public:
  explicit DirectPath(const PathContext& context)
      : ForwardingPath(context, std::string(kDirectPath), "generator -> XDP_DROP sink",
                       PathRole::kGeneratorCeiling) {}
  std::string description() const override {
    return "no gateway: the generator's veth is cabled to the sink, which counts and drops "
           "(the generator's own ceiling)";
  }
};

class XdpRedirectPath final : public ForwardingPath {
 public:
  XdpRedirectPath(const PathContext& context, std::string name)
      : ForwardingPath(context, std::move(name), "minimal XDP: MAC rewrite + DEVMAP redirect",
                       PathRole::kXdpCeiling),
        forwarder_(gateway_netns_path(), std::string(kGatewayIngress), std::string(kGatewayEgress),
                   sink_mac_, gateway_egress_mac_) {}
  std::string description() const override {
    return "bench/bpf/redirect_min.bpf.c on the gateway's ingress port: writes both MACs and "
           "redirects through a DEVMAP, no parsing or lookup (the XDP ceiling of this path)";
  }

 private:
  MinimalRedirect forwarder_;
};

class XdpFibPath final : public ForwardingPath {
 public:
  XdpFibPath(const PathContext& context, std::string name, const std::vector<std::string>& setup)
      : ForwardingPath(context, std::move(name), "minimal XDP router: bpf_fib_lookup + TTL + DEVMAP",
                       PathRole::kFibReference),
        router_([&] {
          const std::string netns = test::shell_quote(topology_.gateway_netns(this->name()));
          for (const std::string& command : setup) {
            test::run_ok(fmt::format("ip netns exec {} {}", netns, command));
          }
          return MinimalFib(gateway_netns_path(), std::string(kGatewayIngress),
                            std::string(kGatewayEgress));
        }()),
        setup_(setup) {}
  std::string description() const override {
    std::string out =
        "bench/bpf/fib_min.bpf.c on the gateway's ingress port: parses Ethernet + IPv4/IPv6, "
        "checks the TTL, bpf_fib_lookup, rewrites both MACs, decrements the TTL (incremental "
        "IPv4 checksum), redirects through a DEVMAP_HASH (samples/bpf/xdp_fwd's shape)";
    if (!setup_.empty()) out += fmt::format("; on the gateway first: {}", fmt::join(setup_, "; "));
    return out;
  }

 private:
  MinimalFib router_;
  std::vector<std::string> setup_;
};

// An xdpgw path whose daemon did not start: still a path of the topology
// (its sink is attached), reported with the reason, never measured.
class UnavailablePath final : public ForwardingPath {
 public:
  UnavailablePath(const PathContext& context, std::string name, std::string label, PathRole role,
                  std::string error)
      : ForwardingPath(context, std::move(name), std::move(label), role), error_(std::move(error)) {}
  std::string description() const override { return "could not be set up: " + error_; }
  std::optional<std::string> setup_error() const override { return error_; }

 private:
  std::string error_;
};

class KernelForwardingPath final : public ForwardingPath {
 public:
  KernelForwardingPath(const PathContext& context, std::string name, std::string label,
                       std::string description, const std::vector<std::string>& setup,
                       KernelPathOptions options)
      : ForwardingPath(context, std::move(name), std::move(label), PathRole::kKernel),
        description_(std::move(description)),
        options_(std::move(options)) {
    const std::string netns = test::shell_quote(topology_.gateway_netns(this->name()));
    // A veth accepts frames another device XDP-sent to it only when its NAPI
    // is on, which an XDP program or GRO turns on (PLATFORM.md). GRO keeps
    // the gateway free of XDP; UDP is not aggregated on forwarding paths.
    test::run_ok(fmt::format("ip netns exec {} ethtool -K {} gro on", netns, kGatewayIngress));
    for (const std::string& command : setup) {
      test::run_ok(fmt::format("ip netns exec {} {}", netns, command));
    }
  }
  std::string description() const override { return description_; }
  Counters counters() const override {
    Counters out = ForwardingPath::counters();
    add_snmp_counters(out, gateway_netns_path());
    for (const auto& [name, packets] : nft_counters()) out["nft." + name] = packets;
    return out;
  }
  std::optional<uint64_t> intended_drops() const override {
    if (options_.nft_drop_counters.empty()) return std::nullopt;
    uint64_t total = 0;
    for (const auto& [name, packets] : nft_counters()) {
      if (std::ranges::find(options_.nft_drop_counters, name) != options_.nft_drop_counters.end()) {
        total += packets;
      }
    }
    return total;
  }
  nlohmann::json details() const override {
    if (!options_.conntrack_memory) return nlohmann::json::object();
    const std::string count = test::run_ok(
        fmt::format("ip netns exec {} cat /proc/sys/net/netfilter/nf_conntrack_count",
                    test::shell_quote(topology_.gateway_netns(name()))));
    return {{"conntrack",
             {{"entries_in_use", std::stoull(count)},
              {"nf_conn_object_bytes", conntrack_object_bytes()},
              {"source", "nf_conntrack_count of the gateway namespace; the object size of the "
                         "nf_conntrack slab (/proc/slabinfo), one object per connection. The "
                         "extensions a NAT entry carries (nf_ct_ext: nat, ecache) are a separate "
                         "kmalloc and not included: a lower bound"}}}};
  }

 private:
  // objsize of the nf_conntrack slab cache: "nf_conntrack ACTIVE NUM OBJSIZE ...".
  static uint64_t conntrack_object_bytes() {
    std::ifstream slabinfo("/proc/slabinfo");
    std::string line;
    while (std::getline(slabinfo, line)) {
      std::istringstream fields(line);
      std::string name;
      uint64_t active = 0, total = 0, objsize = 0;
      if (fields >> name >> active >> total >> objsize && name == "nf_conntrack") return objsize;
    }
    throw std::runtime_error("/proc/slabinfo has no nf_conntrack cache (conntrack not in use?)");
  }

  // Packets of every nftables named counter in the gateway namespace, as
  // "FAMILY TABLE NAME". One `nft` process per call (~10 ms): read between
  // measurements, never during one.
  std::map<std::string, uint64_t> nft_counters() const {
    std::map<std::string, uint64_t> out;
    if (options_.nft_drop_counters.empty()) return out;
    const nlohmann::json listing = nlohmann::json::parse(test::run_ok(
        fmt::format("ip netns exec {} nft -j list counters",
                    test::shell_quote(topology_.gateway_netns(name())))));
    for (const nlohmann::json& item : listing.at("nftables")) {
      if (!item.contains("counter")) continue;
      const nlohmann::json& c = item.at("counter");
      out[fmt::format("{} {} {}", c.at("family").get<std::string>(), c.at("table").get<std::string>(),
                      c.at("name").get<std::string>())] = c.at("packets").get<uint64_t>();
    }
    return out;
  }

  std::string description_;
  KernelPathOptions options_;
};

class XdpDropPath final : public ForwardingPath {
 public:
  XdpDropPath(const PathContext& context, std::string name)
      : ForwardingPath(context, std::move(name), "minimal XDP: count + XDP_DROP",
                       PathRole::kXdpCeiling),
        dropper_(gateway_netns_path(), std::string(kGatewayIngress)) {}
  std::string description() const override {
    return "bench/bpf/drop_min.bpf.c on the gateway's ingress port: counts every frame in a "
           "per-CPU counter and drops it, no parsing or lookup (the XDP ceiling of dropping)";
  }
  std::optional<uint64_t> intended_drops() const override { return dropper_.dropped().packets; }

 private:
  MinimalDrop dropper_;
};

class XskForwardPath final : public ForwardingPath {
 public:
  XskForwardPath(const PathContext& context, std::string name)
      : ForwardingPath(context, std::move(name),
                       "minimal AF_XDP: XSKMAP redirect + rx/tx loop", PathRole::kXdpCeiling),
        forwarder_(gateway_netns_path(), std::string(kGatewayIngress), std::string(kGatewayEgress),
                   sink_mac_, gateway_egress_mac_) {}
  std::string description() const override {
    return "bench/bpf/xsk_min.bpf.c on the gateway's ingress port redirects every frame into an "
           "AF_XDP socket (copy mode: veth has no zero-copy); one thread of xdpgw-bench writes both "
           "MACs and transmits it from the same UMEM out of an AF_XDP socket on the egress port, "
           "batches of 64, io_uring wait and tx kicks, the rings of xdpgw's pipeline (the AF_XDP "
           "ceiling of this path)";
  }
  Counters counters() const override {
    Counters out = ForwardingPath::counters();
    const XskForwarderStats stats = forwarder_.stats();
    out["xsk.punted"] = stats.punted;
    out["xsk.received"] = stats.received;
    out["xsk.transmitted"] = stats.transmitted;
    out["xsk.tx_ring_full"] = stats.tx_ring_full;
    out["xsk.rx_dropped"] = stats.rx_socket.rx_dropped;
    out["xsk.rx_ring_full"] = stats.rx_socket.rx_ring_full;
    out["xsk.rx_fill_ring_empty"] = stats.rx_socket.rx_fill_ring_empty;
    return out;
  }
  std::optional<std::string> check(const TrafficCase& /*traffic*/,
                                   const Sample& /*sample*/) const override {
    if (std::optional<std::string> error = forwarder_.error()) {
      return "the AF_XDP loop stopped: " + *error;
    }
    return std::nullopt;
  }
  double min_probe_share() const override { return 0.01; }

 private:
  MinimalXskForwarder forwarder_;
};

class XdpgwPath final : public ForwardingPath {
 public:
  XdpgwPath(const PathContext& context, std::string name, std::string label,
            const std::string& routing_toml, XdpgwPathOptions options)
      : ForwardingPath(context, std::move(name), std::move(label), PathRole::kSubject),
        daemon_(context.xdpgw_binary, topology_.gateway_netns(this->name()),
                topology_.prefix() + "-" + this->name(), config(routing_toml, options.egress_port_toml),
                context.work_dir),
        routing_toml_(routing_toml),
        options_(std::move(options)) {}

  std::string description() const override {
    return fmt::format("xdpgw daemon (`xdpgw run --netns`) on the gateway, both ports{}, config: {}",
                       options_.egress_port_toml.empty()
                           ? ""
                           : fmt::format(" (egress port: {})", options_.egress_port_toml),
                       routing_summary());
  }
  Counters counters() const override {
    Counters out = ForwardingPath::counters();
    add_snmp_counters(out, gateway_netns_path());
    for (const auto& [reason, packets] : daemon_.verdicts()) out["xdpgw." + reason] = packets;
    if (options_.pipeline) {
      for (const auto& [name, packets] : daemon_.pipeline_packets()) out["pipeline." + name] = packets;
    }
    if (const std::optional<ConnStats> conn = daemon_.conn_stats()) {
      out["xdpgw.conn_inserted"] = conn->inserted;
      out["xdpgw.conn_insert_raced"] = conn->insert_raced;
    }
    return out;
  }
  std::optional<uint64_t> intended_drops() const override {
    if (options_.drop_verdicts.empty()) return std::nullopt;
    const std::map<std::string, uint64_t> verdicts = daemon_.verdicts();
    uint64_t total = 0;
    for (const std::string& reason : options_.drop_verdicts) {
      if (const auto it = verdicts.find(reason); it != verdicts.end()) total += it->second;
    }
    return total;
  }
  double min_probe_share() const override {
    return options_.min_probe_share.value_or(ForwardingPath::min_probe_share());
  }
  std::optional<std::string> check(const TrafficCase& traffic, const Sample& sample) const override {
    const auto counted = [&](const std::string& reason) {
      const auto it = sample.counters.find("xdpgw." + reason);
      return it == sample.counters.end() ? uint64_t{0} : it->second;
    };
    const auto counters = [&] {
      std::string out;
      for (const auto& [name, value] : sample.counters) out += fmt::format(" {}={}", name, value);
      return out;
    };
    if (!options_.expect_verdict.empty()) {
      const uint64_t verdicts = counted(options_.expect_verdict);
      if (verdicts < sample.forwarded) {
        return fmt::format(
            "only {} of the {} frames that reached the sink got xdpgw verdict {}: the rest went "
            "another way; path counters:{}",
            verdicts, sample.forwarded, options_.expect_verdict, counters());
      }
    }
    if (!traffic.xdpgw_verdicts.empty()) {
      uint64_t verdicts = 0;
      for (const std::string& reason : traffic.xdpgw_verdicts) verdicts += counted(reason);
      if (verdicts < sample.handled()) {
        return fmt::format(
            "only {} of the {} frames handled got the verdicts this case is for ({}): the rest "
            "went another way; path counters:{}",
            verdicts, sample.handled(), fmt::join(traffic.xdpgw_verdicts, " + "), counters());
      }
    }
    return std::nullopt;
  }
  nlohmann::json details() const override {
    nlohmann::json out = nlohmann::json::object();
    for (const std::string& name : options_.memory_tables) {
      const std::optional<MapMemory> table = daemon_.map_memory(name);
      if (!table) continue;
      out[name] = {
          {"map_type", table->map_type},
          {"max_entries", table->max_entries},
          {"entries_in_use", table->entries},
          {"key_bytes", table->key_size},
          {"value_bytes", table->value_size},
          {"memlock_bytes", table->memlock},
          {"memlock_bytes_per_entry",
           table->max_entries ? static_cast<double>(table->memlock) / table->max_entries : 0.0},
          {"source", fmt::format("memlock in /proc/self/fdinfo of the pinned {} (bpf_obj_get); a "
                                 "preallocated map (LRU_HASH, HASH without BPF_F_NO_PREALLOC) "
                                 "holds every entry from creation, so memlock does not grow "
                                 "with flows",
                                 name)}};
    }
    if (const std::optional<ProcessMemory> memory = daemon_.memory()) {
      out["daemon_rss_bytes"] = memory->rss;
      out["daemon_peak_rss_bytes"] = memory->peak_rss;
    }
    return out;
  }

 private:
  // Control socket and metrics listener keep their defaults
  // (/run/xdpgw/INSTANCE.sock; 127.0.0.1:10170 inside the gateway namespace,
  // private to it).
  std::string config(const std::string& routing_toml, const std::string& egress_port_toml) const {
    const std::string instance = topology_.prefix() + "-" + name();
    return fmt::format(
        "[gateway]\ninstance = \"{}\"\nattach_mode = \"native\"\n\n"
        "[[port]]\nname = \"{}\"\n\n[[port]]\nname = \"{}\"\n{}\n\n{}\n",
        instance, kGatewayIngress, kGatewayEgress, egress_port_toml, routing_toml);
  }
  // The config's non-comment lines, joined: "[routing] source = "fib"".
  std::string routing_summary() const {
    std::istringstream lines(routing_toml_);
    std::string line, out;
    while (std::getline(lines, line)) {
      if (line.empty() || line.starts_with('#')) continue;
      out += (out.empty() ? "" : " ") + line;
    }
    return out;
  }

  XdpgwDaemon daemon_;
  std::string routing_toml_;
  XdpgwPathOptions options_;
};

}  // namespace

std::string_view to_string(PathRole role) {
  switch (role) {
    case PathRole::kGeneratorCeiling: return "generator_ceiling";
    case PathRole::kXdpCeiling: return "xdp_ceiling";
    case PathRole::kFibReference: return "fib_reference";
    case PathRole::kKernel: return "kernel";
    case PathRole::kSubject: return "subject";
  }
  return "unknown";
}

ForwardingPath::ForwardingPath(const PathContext& context, std::string name, std::string label,
                               PathRole role)
    : topology_(context.topology),
      name_(std::move(name)),
      label_(std::move(label)),
      role_(role),
      sink_(netns_path_of(topology_.sink_netns()), BenchTopology::sink_ifname(name_),
            context.dst_port) {
  gen_mac_ = query_interface(netns_path_of(gen_netns()), gen_ifname()).mac;
  sink_mac_ = query_interface(netns_path_of(topology_.sink_netns()),
                              BenchTopology::sink_ifname(name_)).mac;
  if (has_gateway()) {
    next_hop_mac_ = query_interface(gateway_netns_path(), std::string(kGatewayIngress)).mac;
    gateway_egress_mac_ = query_interface(gateway_netns_path(), std::string(kGatewayEgress)).mac;
  } else {
    next_hop_mac_ = sink_mac_;
  }
}

std::string ForwardingPath::gen_netns() const { return topology_.gen_netns(); }
std::string ForwardingPath::gen_ifname() const { return BenchTopology::gen_ifname(name_); }

std::string ForwardingPath::gateway_netns_path() const {
  return netns_path_of(topology_.gateway_netns(name_));
}

Counters ForwardingPath::counters() const {
  Counters out;
  if (has_gateway()) {
    add_link_counters(out, topology_.gateway_netns(name_), std::string(kGatewayIngress));
    add_link_counters(out, topology_.gateway_netns(name_), std::string(kGatewayEgress));
  }
  return out;
}

std::optional<std::string> ForwardingPath::check(const TrafficCase& /*traffic*/,
                                                 const Sample& /*sample*/) const {
  return std::nullopt;
}

nlohmann::json ForwardingPath::details() const { return nlohmann::json::object(); }

std::string ForwardingPath::ingress_attach_mode() const {
  if (!has_gateway()) {
    return xdp_attach_mode(netns_path_of(topology_.sink_netns()), BenchTopology::sink_ifname(name_));
  }
  return xdp_attach_mode(gateway_netns_path(), std::string(kGatewayIngress));
}

std::optional<ProgStats> ForwardingPath::ingress_prog_stats() const {
  const uint32_t id = has_gateway()
                          ? xdp_prog_id(gateway_netns_path(), std::string(kGatewayIngress))
                          : xdp_prog_id(netns_path_of(topology_.sink_netns()), BenchTopology::sink_ifname(name_));
  if (id == 0) return std::nullopt;
  return read_prog_stats(id);
}

std::unique_ptr<ForwardingPath> make_direct_path(const PathContext& context) {
  return std::make_unique<DirectPath>(context);
}

std::unique_ptr<ForwardingPath> make_xdp_redirect_path(const PathContext& context, std::string name) {
  return std::make_unique<XdpRedirectPath>(context, std::move(name));
}

std::unique_ptr<ForwardingPath> make_xdp_fib_path(const PathContext& context, std::string name,
                                                  const std::vector<std::string>& setup) {
  return std::make_unique<XdpFibPath>(context, std::move(name), setup);
}

std::unique_ptr<ForwardingPath> make_kernel_forwarding_path(const PathContext& context,
                                                            std::string name) {
  return std::make_unique<KernelForwardingPath>(
      context, std::move(name), "Linux IP forwarding (no XDP)",
      "the gateway's kernel routes (ip_forward, connected routes, permanent neighbours); "
      "no XDP program on the gateway, GRO on its ingress veth so it accepts the generator's "
      "XDP frames",
      std::vector<std::string>{}, KernelPathOptions{});
}

std::unique_ptr<ForwardingPath> make_kernel_path(const PathContext& context, std::string name,
                                                 std::string label, std::string description,
                                                 const std::vector<std::string>& setup,
                                                 KernelPathOptions options) {
  return std::make_unique<KernelForwardingPath>(context, std::move(name), std::move(label),
                                                std::move(description), setup, std::move(options));
}

std::unique_ptr<ForwardingPath> make_xdp_drop_path(const PathContext& context, std::string name) {
  return std::make_unique<XdpDropPath>(context, std::move(name));
}

std::unique_ptr<ForwardingPath> make_xsk_forward_path(const PathContext& context, std::string name) {
  return std::make_unique<XskForwardPath>(context, std::move(name));
}

std::unique_ptr<ForwardingPath> make_xdpgw_path(const PathContext& context, std::string name,
                                                std::string label, std::string routing_toml,
                                                XdpgwPathOptions options) {
  try {
    return std::make_unique<XdpgwPath>(context, name, label, std::move(routing_toml), std::move(options));
  } catch (const std::exception& e) {
    // A refused load carries the verifier's log: its end says why.
    std::string why = e.what();
    if (why.size() > 1200) why = why.substr(0, 300) + " [...] " + why.substr(why.size() - 900);
    std::cerr << fmt::format("   {}: xdpgw did not start: {}\n", label, why);
    return std::make_unique<UnavailablePath>(context, std::move(name), std::move(label),
                                             PathRole::kSubject, "xdpgw did not start: " + why);
  }
}

}  // namespace xdpgw::bench
