#include "e2e/router_topology.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "datapath/datapath.hpp"
#include "xdpgw_peer.skel.h"

namespace xdpgw::test::e2e {
namespace {

// A namespace named after the role it plays, prepared before any interface
// is created in it (sysctls under conf.default apply to interfaces created
// later).
Netns make_namespace(std::string_view tag, const TopologyOptions& options) {
  Netns ns(tag);
  if (!options.ipv6) {
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
    ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1");
  }
  return ns;
}

std::vector<std::string> addresses(const TopologyOptions& options, std::string_view v4,
                                   std::string_view v6) {
  std::vector<std::string> cidrs{fmt::format("{}/24", v4)};
  if (options.ipv6) cidrs.push_back(fmt::format("{}/64", v6));
  return cidrs;
}

void add_permanent_neighbour(const Netns& ns, const VethEnd& on, std::string_view address,
                             const MacAddr& mac) {
  ns.exec_ok(fmt::format("ip neigh replace {} lladdr {} nud permanent dev {}", address,
                         to_string(mac), on.name));
}

}  // namespace

void PeerCounter::SkeletonDeleter::operator()(::xdpgw_peer_skel* skel) const noexcept {
  xdpgw_peer_skel__destroy(skel);
}

std::unique_ptr<::xdpgw_peer_skel, PeerCounter::SkeletonDeleter> PeerCounter::load_skeleton() {
  std::unique_ptr<::xdpgw_peer_skel, SkeletonDeleter> skel(xdpgw_peer_skel__open_and_load());
  if (!skel) throw_errno(errno, "open and load BPF object xdpgw_peer");
  return skel;
}

PeerCounter::PeerCounter(const Netns& ns, int ifindex)
    : skel_(load_skeleton()),
      attachment_(ns, ifindex, bpf_program__fd(skel_->progs.xdpgw_peer)) {}

PeerCounter::~PeerCounter() = default;

uint64_t PeerCounter::packets() const {
  return sum(read_percpu_counter(bpf_map__fd(skel_->maps.peer_stats), XDPGW_PEER_COUNTER_ALL))
      .packets;
}

RouterTopology::RouterTopology(const TopologyOptions& options)
    : host_a_(make_namespace("a", options)),
      gateway_(make_namespace("gw", options)),
      host_b_(make_namespace("b", options)),
      link_a_(gateway_, host_a_,
              {.a = {.addresses = addresses(options, kGatewayA4, kGatewayA6)},
               .b = {.addresses = addresses(options, kHostA4, kHostA6)}}),
      link_b_(gateway_, host_b_,
              {.a = {.addresses = addresses(options, kGatewayB4, kGatewayB6)},
               .b = {.addresses = addresses(options, kHostB4, kHostB6)}}),
      peer_a_(host_a_, link_a_.ifindex_b()),
      peer_b_(host_b_, link_b_.ifindex_b()) {
  // Hosts compute their own checksums: with TX checksum offload a veth
  // hands its peer CHECKSUM_PARTIAL packets whose L4 checksum a NIC would
  // finish on the wire; XDP redirects the raw frame, so the far host would
  // receive unfinished TCP/UDP checksums and drop the packets.
  host_a_.exec_ok("ethtool -K " + host_a_end().name + " tx off");
  host_b_.exec_ok("ethtool -K " + host_b_end().name + " tx off");

  host_a_.exec_ok(fmt::format("ip route add default via {}", kGatewayA4));
  host_b_.exec_ok(fmt::format("ip route add default via {}", kGatewayB4));
  if (options.ipv6) {
    host_a_.exec_ok(fmt::format("ip -6 route add default via {}", kGatewayA6));
    host_b_.exec_ok(fmt::format("ip -6 route add default via {}", kGatewayB6));
  }

  // bpf_fib_lookup answers FWD_DISABLED unless forwarding is on, even when
  // XDP does all the forwarding.
  gateway_.sysctl("net.ipv4.ip_forward", "1");
  if (options.ipv6) gateway_.sysctl("net.ipv6.conf.all.forwarding", "1");

  if (options.static_neighbours) {
    add_permanent_neighbour(host_a_, host_a_end(), kGatewayA4, gateway_port_a().mac);
    add_permanent_neighbour(host_b_, host_b_end(), kGatewayB4, gateway_port_b().mac);
    add_permanent_neighbour(gateway_, gateway_port_a(), kHostA4, host_a_end().mac);
    add_permanent_neighbour(gateway_, gateway_port_b(), kHostB4, host_b_end().mac);
    if (options.ipv6) {
      add_permanent_neighbour(host_a_, host_a_end(), kGatewayA6, gateway_port_a().mac);
      add_permanent_neighbour(host_b_, host_b_end(), kGatewayB6, gateway_port_b().mac);
      add_permanent_neighbour(gateway_, gateway_port_a(), kHostA6, host_a_end().mac);
      add_permanent_neighbour(gateway_, gateway_port_b(), kHostB6, host_b_end().mac);
    }
  }
}

}  // namespace xdpgw::test::e2e
