// End-to-end tests of xdpgw as a router: the real `xdpgw run` daemon in a
// gateway namespace between two host namespaces (the topology of
// scripts/netns/router-topology.sh), real traffic (ping, TCP, UDP, raw
// frames), and assertions on what the gateway counted, what reached host B,
// and what the gateway's kernel forwarded by itself.
//
// No assertion depends on timing: every wait is bounded and only waits for
// something to become ready or to arrive, and UDP is sent in lockstep (each
// datagram received before the next is sent) so nothing can be lost to full
// queues.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/frame.hpp"
#include "harness/raw_socket.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

// How long one datagram or frame may take to arrive; only reached on failure.
constexpr auto kArrivalTimeout = 5s;

constexpr std::size_t kTcpBytesIpv4 = 16u << 20;
constexpr std::size_t kTcpBytesIpv6 = 8u << 20;
// Largest TCP payload in one segment at MTU 1500 (no GSO: the hosts' TX
// checksum offload is off, which turns TSO off, so segments leave at MTU size).
constexpr std::size_t kMssIpv4 = 1500 - 20 - 20;
constexpr std::size_t kMssIpv6 = 1500 - 40 - 20;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::string describe(const std::map<std::string, uint64_t>& counts) {
  std::string text = "{";
  for (const auto& [name, n] : counts) text += fmt::format(" {}={}", name, n);
  return text + " }";
}

// The gateway config of the demo (config/router.toml, router-static.toml)
// for this topology's interface names.
GatewayConfig router_config(const RouterTopology& topology, RouteSource source,
                            std::vector<unsigned> steering_cpus = {}) {
  const std::string& port_a = topology.gateway_port_a().name;
  const std::string& port_b = topology.gateway_port_b().name;
  GatewayConfig config{.ports = {port_a, port_b},
                       .route_source = source,
                       .steering_cpus = std::move(steering_cpus)};
  if (source == RouteSource::kStatic) {
    config.routes = {{std::string(kSubnetA4), std::string(kHostA4), port_a},
                     {std::string(kSubnetB4), std::string(kHostB4), port_b},
                     {std::string(kSubnetA6), std::string(kHostA6), port_a},
                     {std::string(kSubnetB6), std::string(kHostB6), port_b}};
  }
  return config;
}

// Every static route above has its own nexthop.
constexpr uint32_t kStaticNexthops = 4;

// `count` datagrams of varying size from `from_ip` to `to_ip`:`port`, one at
// a time, each checked byte for byte (and for its source address) before
// the next is sent.
void expect_udp_delivered(const Netns& from, std::string_view from_ip, const Netns& to,
                          std::string_view to_ip, uint16_t port, int count) {
  const UdpSocket receiver(to, to_ip, port);
  const UdpSocket sender(from, from_ip, static_cast<uint16_t>(port + 1));
  const SocketAddress destination = SocketAddress::parse(to_ip, port);
  const std::string expected_source =
      SocketAddress::parse(from_ip, static_cast<uint16_t>(port + 1)).to_string();
  for (int i = 0; i < count; ++i) {
    // 1..1400 bytes: below both MTUs, so no datagram is fragmented (which
    // the fast path hands to the kernel).
    const auto payload = pseudo_random_bytes(1 + static_cast<std::size_t>(i) * 211 % 1400,
                                             static_cast<uint32_t>(i));
    sender.send_to(destination, payload);
    const auto received = receiver.receive(kArrivalTimeout);
    ASSERT_TRUE(received.has_value()) << "UDP datagram " << i << " (" << payload.size()
                                      << " bytes) to " << destination.to_string()
                                      << " did not arrive";
    ASSERT_EQ(received->payload.size(), payload.size()) << "datagram " << i;
    ASSERT_EQ(first_difference(received->payload, payload), std::nullopt) << "datagram " << i;
    ASSERT_EQ(received->from.to_string(), expected_source) << "datagram " << i;
  }
}

void expect_tcp_delivered(const Netns& from, const Netns& to, std::string_view to_ip,
                          uint16_t port, std::size_t size, uint32_t seed) {
  const auto sent = pseudo_random_bytes(size, seed);
  const auto received = tcp_transfer(from, to, to_ip, port, sent);
  EXPECT_EQ(received.size(), sent.size()) << "bytes received over TCP to " << to_ip;
  EXPECT_EQ(first_difference(received, sent), std::nullopt)
      << "TCP to " << to_ip << ": the received bytes differ from the sent ones from this index on";
}

// Lock files and temp dirs of crashed runs (the harness's own cleanup
// covers namespaces and pins, not /run/xdpgw and /tmp).
class LeftoverFilesEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { remove_leftover_files(); }
};
// gtest owns environments; registering at static initialisation is its
// documented way to add one without writing main().
[[maybe_unused]] ::testing::Environment* const leftover_files =
    ::testing::AddGlobalTestEnvironment(std::make_unique<LeftoverFilesEnvironment>().release());

// ---- forwarding, with each route source -----------------------------------

class RouterE2e : public ::testing::TestWithParam<RouteSource> {
 protected:
  void SetUp() override {
    // Static nexthops are resolved by the daemon's once-a-second poll of the
    // neighbour table; until then their packets go to the kernel on
    // purpose. Traffic that should be forwarded by XDP starts after that.
    if (GetParam() == RouteSource::kStatic) daemon_.wait_for_resolved_nexthops(kStaticNexthops);
  }

  RouterTopology topology_;
  GatewayDaemon daemon_{topology_.gateway(), router_config(topology_, GetParam())};
};

TEST_P(RouterE2e, ForwardsPingTcpAndUdpInXdp) {
  const Netns& host_a = topology_.host_a();
  const Netns& host_b = topology_.host_b();
  const KernelForwarded kernel_before = kernel_forwarded(topology_.gateway());
  const VerdictSnapshot verdicts_before = daemon_.verdicts();
  const uint64_t at_b_before = topology_.packets_at_b();

  for (std::string_view destination : {kHostB4, kHostB6}) {
    const CmdResult ping = host_a.exec(fmt::format("ping -c 5 -i 0.2 -W 2 {}", destination));
    EXPECT_TRUE(ping.ok() && contains(ping.output, " 0% packet loss")) << ping.output;
  }

  expect_tcp_delivered(host_a, host_b, kHostB4, 5001, kTcpBytesIpv4, 4);
  expect_tcp_delivered(host_a, host_b, kHostB6, 5002, kTcpBytesIpv6, 6);
  expect_udp_delivered(host_a, kHostA4, host_b, kHostB4, 6001, 100);
  expect_udp_delivered(host_a, kHostA6, host_b, kHostB6, 6003, 100);

  const VerdictSnapshot counted = daemon_.verdicts() - verdicts_before;
  const uint64_t xdp_forwarded = counted.total(XDPGW_R_FWD_REDIRECT);
  const uint64_t arrived_at_b = topology_.packets_at_b() - at_b_before;
  const KernelForwarded kernel = kernel_forwarded(topology_.gateway()) - kernel_before;
  // The data segments alone, A -> B; ACKs, pings and UDP come on top.
  const uint64_t min_data_segments =
      (kTcpBytesIpv4 + kMssIpv4 - 1) / kMssIpv4 + (kTcpBytesIpv6 + kMssIpv6 - 1) / kMssIpv6;
  const std::string summary =
      fmt::format("gateway counted {}; host B received {} frames; the gateway's kernel "
                  "forwarded {} IPv4 + {} IPv6 packets",
                  describe(counted.nonzero()), arrived_at_b, kernel.ipv4, kernel.ipv6);
  EXPECT_GE(xdp_forwarded, min_data_segments) << summary;
  EXPECT_GE(arrived_at_b, min_data_segments) << summary;
  // The kernel may forward the first packets of a flow, while XDP waits for
  // the neighbour to be resolved; everything else must be XDP's (< 5 %).
  EXPECT_LT(kernel.total() * 20, xdp_forwarded) << summary;
}

TEST_P(RouterE2e, TtlExpiringAtTheGatewayGetsTimeExceededFromTheKernel) {
  struct Probe {
    std::string ping;
    std::string expected_reply;  // as iputils 20221126 prints it
  };
  const std::vector<Probe> probes = {
      {fmt::format("ping -c 1 -t 1 -W 2 {}", kHostB4),
       fmt::format("From {} icmp_seq=1 Time to live exceeded", kGatewayA4)},
      {fmt::format("ping -6 -c 1 -t 1 -W 2 {}", kHostB6),
       fmt::format("From {} icmp_seq=1 Time exceeded: Hop limit", kGatewayA6)},
  };
  for (const Probe& probe : probes) {
    SCOPED_TRACE(probe.ping);
    const VerdictSnapshot before = daemon_.verdicts();
    const CmdResult ping = topology_.host_a().exec(probe.ping);
    EXPECT_TRUE(contains(ping.output, probe.expected_reply)) << ping.output;
    // Counted before the kernel saw the packet, so final once ping returned.
    const VerdictSnapshot counted = daemon_.verdicts() - before;
    EXPECT_EQ(counted.total(XDPGW_R_PASS_TTL_EXCEEDED), 1u) << describe(counted.nonzero());
    EXPECT_EQ(counted.total(XDPGW_R_FWD_REDIRECT), 0u) << describe(counted.nonzero());
  }
}

INSTANTIATE_TEST_SUITE_P(RouteSources, RouterE2e,
                         ::testing::Values(RouteSource::kFib, RouteSource::kStatic, RouteSource::kKernel),
                         [](const ::testing::TestParamInfo<RouteSource>& info) {
                           return std::string(to_string(info.param));
                         });

// ---- CPU steering ----------------------------------------------------------

// On this platform a veth runs the receiver on the sender's CPU, so without
// steering every packet is forwarded on the test thread's CPU. With
// `cpus = [0, 1]` the CPUMAP second stage, which counts fwd_redirect, runs on
// the CPU the flow hash chose: the per-CPU fwd_redirect counts show exactly
// the steering decision.
TEST(SteeringE2e, SpreadsFlowsOverBothCpusAndKeepsEachFlowOnOne) {
  // Quiet links: the first stage steers every IP packet, also the hosts'
  // IPv6 housekeeping (MLD, router solicitations) that the second stage
  // then passes to the kernel, and that arrives at moments no test controls.
  // Without IPv6 and ARP, the counts below are exact.
  RouterTopology topology({.ipv6 = false, .static_neighbours = true});
  GatewayDaemon daemon(topology.gateway(),
                       router_config(topology, RouteSource::kFib, /*steering_cpus=*/{0, 1}));
  const Netns& host_a = topology.host_a();
  const Netns& host_b = topology.host_b();

  const UdpSocket server(host_b, kHostB4, 7000);
  const SocketAddress server_address = SocketAddress::parse(kHostB4, 7000);
  const auto payload = pseudo_random_bytes(200, 7);

  // Phase 1: 64 flows A -> B (source ports differ), 8 packets each.
  constexpr int kFlows = 64;
  constexpr int kPacketsPerFlow = 8;
  std::vector<uint64_t> flows_on_cpu(2, 0);
  const VerdictSnapshot phase1_before = daemon.verdicts();
  for (int flow = 0; flow < kFlows; ++flow) {
    SCOPED_TRACE(fmt::format("flow {}", flow));
    const UdpSocket client(host_a, kHostA4, static_cast<uint16_t>(20000 + flow));
    const VerdictSnapshot before = daemon.verdicts();
    for (int packet = 0; packet < kPacketsPerFlow; ++packet) {
      client.send_to(server_address, payload);
      ASSERT_TRUE(server.receive(kArrivalTimeout).has_value()) << "packet " << packet << " lost";
    }
    const std::vector<uint64_t> per_cpu =
        (daemon.verdicts() - before).per_cpu(XDPGW_R_FWD_REDIRECT);
    ASSERT_GE(per_cpu.size(), 2u);
    // All of one flow on one of the two configured CPUs, none elsewhere.
    const auto on_cpu = std::ranges::find(per_cpu, uint64_t{kPacketsPerFlow});
    ASSERT_TRUE(on_cpu != per_cpu.end())
        << fmt::format("the flow's {} packets were not all forwarded on one CPU: per-CPU "
                       "fwd_redirect {}",
                       kPacketsPerFlow, per_cpu);
    const auto cpu = static_cast<std::size_t>(on_cpu - per_cpu.begin());
    ASSERT_LT(cpu, 2u) << "steered to a CPU outside cpus = [0, 1]";
    EXPECT_EQ(std::ranges::count(per_cpu, 0u), static_cast<long>(per_cpu.size() - 1))
        << fmt::format("per-CPU fwd_redirect {}", per_cpu);
    ++flows_on_cpu[cpu];
  }
  const VerdictSnapshot phase1 = daemon.verdicts() - phase1_before;
  EXPECT_EQ(phase1.nonzero(),
            (std::map<std::string, uint64_t>{{"fwd_redirect", kFlows * kPacketsPerFlow},
                                             {"steer_cpu", kFlows * kPacketsPerFlow}}))
      << "every packet handed over through the CPUMAP once, then forwarded";
  EXPECT_GT(flows_on_cpu[0], 0u) << fmt::format("flows per CPU {}", flows_on_cpu);
  EXPECT_GT(flows_on_cpu[1], 0u) << fmt::format("flows per CPU {}", flows_on_cpu);

  // Phase 2: one flow, both directions (request A -> B, reply B -> A on the
  // same 5-tuple): the symmetric flow hash puts both on the same CPU.
  constexpr int kRoundTrips = 100;
  const UdpSocket client(host_a, kHostA4, 30000);
  const VerdictSnapshot phase2_before = daemon.verdicts();
  for (int i = 0; i < kRoundTrips; ++i) {
    client.send_to(server_address, payload);
    const auto request = server.receive(kArrivalTimeout);
    ASSERT_TRUE(request.has_value()) << "request " << i << " lost";
    server.send_to(request->from, request->payload);
    ASSERT_TRUE(client.receive(kArrivalTimeout).has_value()) << "reply " << i << " lost";
  }
  const std::vector<uint64_t> per_cpu =
      (daemon.verdicts() - phase2_before).per_cpu(XDPGW_R_FWD_REDIRECT);
  const uint64_t both_directions = 2 * kRoundTrips;
  EXPECT_EQ(std::ranges::count(per_cpu, both_directions), 1)
      << fmt::format("per-CPU fwd_redirect {}", per_cpu);
  EXPECT_EQ(std::ranges::count(per_cpu, 0u), static_cast<long>(per_cpu.size() - 1))
      << fmt::format("per-CPU fwd_redirect {}", per_cpu);
}

// ---- malformed frames on the wire -------------------------------------------

struct MalformedFrame {
  std::string name;
  std::vector<uint8_t> frame;
  xdpgw_reason reason;
};

TEST(MalformedFramesE2e, EachIsDroppedWithItsReasonAndNoneReachesHostB) {
  // No IPv6 and permanent neighbours: nothing crosses the links but what
  // this test sends, so the counts below are exact.
  RouterTopology topology({.ipv6 = false, .static_neighbours = true});
  GatewayDaemon daemon(topology.gateway(), router_config(topology, RouteSource::kFib));
  const RawSocket wire(topology.host_a(), topology.host_a_end().name);
  const UdpSocket sink(topology.host_b(), kHostB4, 9000);

  // Addressed like real traffic from A to B, so a frame the gateway failed
  // to drop would be forwarded to B (or reach the gateway's kernel).
  const auto to_gateway = [&] {
    return FrameBuilder().eth(topology.gateway_port_a().mac, wire.mac());
  };
  const Ipv4Fields v4{.src = ipv4(kHostA4), .dst = ipv4(kHostB4), .ttl = 64};
  const Ipv6Fields v6{.src = ipv6(kHostA6), .dst = ipv6(kHostB6), .hop_limit = 64};
  const UdpFields udp{.sport = 40000, .dport = 9000};
  const TcpFields tcp{.sport = 40000, .dport = 9000, .flags = tcp_flags::kAck};
  Ipv4Fields v4_tcp_only = v4;
  v4_tcp_only.protocol = ip_proto::kTcp;
  Ipv4Fields v4_udp_only = v4;
  v4_udp_only.protocol = ip_proto::kUdp;

  const std::vector<MalformedFrame> cases = {
      {"ipv4_total_length_past_frame_end",
       to_gateway().ipv4(v4).udp(udp).payload(32).ipv4_total_length(20 + 8 + 32 + 100).build(),
       XDPGW_R_DROP_IPV4_TRUNCATED},
      {"ipv4_total_length_below_header",
       to_gateway().ipv4(v4).udp(udp).payload(32).ipv4_total_length(16).build(),
       XDPGW_R_DROP_IPV4_BAD_TOTLEN},
      {"ipv4_ihl_below_5", to_gateway().ipv4(v4).udp(udp).payload(32).ipv4_ihl(4).build(),
       XDPGW_R_DROP_IPV4_BAD_IHL},
      {"tcp_data_offset_below_5", to_gateway().ipv4(v4).tcp(tcp).payload(32).tcp_doff(4).build(),
       XDPGW_R_DROP_TCP_BAD_DOFF},
      {"tcp_header_cut_short", to_gateway().ipv4(v4_tcp_only).payload(12).build(),
       XDPGW_R_DROP_TCP_TRUNCATED},
      {"udp_length_past_payload",
       to_gateway().ipv4(v4).udp(udp).payload(32).udp_length(8 + 32 + 64).build(),
       XDPGW_R_DROP_UDP_BAD_LEN},
      {"udp_header_cut_short", to_gateway().ipv4(v4_udp_only).payload(4).build(),
       XDPGW_R_DROP_UDP_TRUNCATED},
      {"three_vlan_tags",
       to_gateway().vlan(10).vlan(20).vlan(30).ipv4(v4).udp(udp).payload(32).build(),
       XDPGW_R_DROP_VLAN_TOO_DEEP},
      {"ipv6_payload_length_past_frame_end",
       to_gateway().ipv6(v6).udp(udp).payload(32).ipv6_payload_length(8 + 32 + 100).build(),
       XDPGW_R_DROP_IPV6_TRUNCATED},
      {"ipv6_extension_chain_too_long",
       to_gateway()
           .ipv6(v6)
           .dest_opts()
           .dest_opts()
           .dest_opts()
           .dest_opts()
           .dest_opts()
           .dest_opts()
           .dest_opts()
           .udp(udp)
           .payload(32)
           .build(),
       XDPGW_R_DROP_IPV6_EXT_TOO_DEEP},
  };

  const uint64_t at_b_before = topology.packets_at_b();
  for (const MalformedFrame& malformed : cases) {
    SCOPED_TRACE(malformed.name);
    const VerdictSnapshot before = daemon.verdicts();
    const auto counted_so_far = [&] {
      return (daemon.verdicts() - before).nonzero();
    };
    wire.send(malformed.frame);
    EXPECT_TRUE(wait_until([&] { return !counted_so_far().empty(); }, kArrivalTimeout))
        << "the gateway counted nothing for the frame\n"
        << hex_dump(malformed.frame);
    const std::map<std::string, uint64_t> only_its_reason = {
        {std::string(abi::reason_name(malformed.reason)), 1}};
    EXPECT_EQ(counted_so_far(), only_its_reason) << hex_dump(malformed.frame);
  }

  // A well-formed frame sent the same way after them is forwarded to B:
  // the path works, and any malformed frame the gateway let through would
  // have arrived before it.
  const VerdictSnapshot before_valid = daemon.verdicts();
  wire.send(to_gateway().ipv4(v4).udp(udp).payload_text("well-formed").build());
  const auto received = sink.receive(kArrivalTimeout);
  ASSERT_TRUE(received.has_value()) << "the well-formed frame did not reach host B";
  EXPECT_EQ(std::string(received->payload.begin(), received->payload.end()), "well-formed");
  EXPECT_EQ((daemon.verdicts() - before_valid).nonzero(),
            (std::map<std::string, uint64_t>{{"fwd_redirect", 1}}));
  EXPECT_EQ(topology.packets_at_b() - at_b_before, 1u)
      << "host B received frames other than the well-formed one";
}

// ---- daemon lifetime ---------------------------------------------------------

// xdpgw's contract: SIGTERM ends the daemon, not the datapath. XDP keeps
// forwarding with the last config from the pinned links and maps, so a
// restart or crash of the daemon costs no packets; `xdpgw stop --detach`
// removes the datapath and leaves a plain Linux router.
TEST(DaemonLifecycleE2e, XdpOutlivesTheDaemonUntilStopDetach) {
  RouterTopology topology;
  GatewayDaemon daemon(topology.gateway(), router_config(topology, RouteSource::kFib));
  const Netns& host_a = topology.host_a();
  const std::vector<std::string> ports = {topology.gateway_port_a().name,
                                          topology.gateway_port_b().name};
  const auto link_show = [&](const std::string& port) {
    return topology.gateway().exec_ok("ip link show dev " + port);
  };
  const auto ping_b = [&](int count) {
    return host_a.exec(fmt::format("ping -c {} -i 0.2 -W 2 {}", count, kHostB4));
  };
  // While running: pinned and attached (else the checks below prove
  // nothing), and neighbours resolved so every echo below is XDP's.
  ASSERT_TRUE(std::filesystem::exists(daemon.pin_dir() / "verdict_stats")) << daemon.log();
  for (const std::string& port : ports) {
    EXPECT_TRUE(contains(link_show(port), "prog/xdp")) << link_show(port);
  }
  const CmdResult warm_up = ping_b(1);
  ASSERT_TRUE(warm_up.ok()) << warm_up.output;

  const ExitStatus status = daemon.stop();
  EXPECT_TRUE(status.clean()) << status.describe() << "; xdpgw log:\n" << daemon.log();

  // No daemon: still pinned, still attached, still forwarding in XDP.
  EXPECT_TRUE(std::filesystem::exists(daemon.pin_dir() / "verdict_stats"));
  for (const std::string& port : ports) {
    EXPECT_TRUE(contains(link_show(port), "prog/xdp"))
        << "XDP detached when the daemon exited:\n"
        << link_show(port);
  }
  const VerdictSnapshot before_orphaned = daemon.verdicts();
  const CmdResult orphaned = ping_b(3);
  EXPECT_TRUE(orphaned.ok()) << orphaned.output;
  const VerdictSnapshot counted_orphaned = daemon.verdicts() - before_orphaned;
  EXPECT_EQ(counted_orphaned.total(XDPGW_R_FWD_REDIRECT), 6u)
      << "3 echo requests and 3 replies; counted " << describe(counted_orphaned.nonzero());

  const CmdResult detached = daemon.detach();
  EXPECT_TRUE(detached.ok()) << detached.output;
  EXPECT_FALSE(std::filesystem::exists(daemon.pin_dir())) << detached.output;
  for (const std::string& port : ports) {
    const std::string shown = link_show(port);
    EXPECT_FALSE(contains(shown, "xdp")) << "XDP still attached after stop --detach:\n" << shown;
  }
  // A plain Linux router again: the kernel forwards, XDP counts nothing.
  const VerdictSnapshot before_kernel = daemon.verdicts();
  const KernelForwarded kernel_before = kernel_forwarded(topology.gateway());
  const CmdResult by_kernel = ping_b(1);
  EXPECT_TRUE(by_kernel.ok()) << by_kernel.output;
  EXPECT_EQ((daemon.verdicts() - before_kernel).nonzero(), (std::map<std::string, uint64_t>{}));
  EXPECT_EQ((kernel_forwarded(topology.gateway()) - kernel_before).ipv4, 2u)
      << "one echo request and its reply";
}

}  // namespace
}  // namespace xdpgw::test::e2e
