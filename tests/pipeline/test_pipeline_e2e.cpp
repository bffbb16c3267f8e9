// The AF_XDP pipeline end to end on the router topology (host A - gateway -
// host B): the real datapath on the gateway ports with static routes and
// punt rules, the pipeline serving both ports. Real UDP traffic from host A:
// punted flows come out forwarded (host B reads every payload byte for
// byte), passed (a socket on the gateway reads them) or dropped, and after
// the first packet XDP applies the offloaded verdict itself - the pipeline
// sees no more of the flow, the verdict counters show the rest. Teardown
// leaves no slot, no socket and every UMEM frame free, and XDP keeps going.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "datapath/abi.hpp"
#include "datapath/datapath.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/names.hpp"
#include "harness/pcapng.hpp"
#include "harness/run.hpp"
#include "harness/prog_run.hpp"
#include "harness/xdp.hpp"
#include "harness/frame.hpp"
#include "pipeline/pipeline.hpp"
#include "xsk/xsk_fixture.hpp"

namespace xdpgw::test {
namespace {

using e2e::RouterTopology;
using e2e::SocketAddress;
using e2e::UdpSocket;

// Polls `pred` until true; a hang guard (30 s), not a timing assertion.
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::vector<uint8_t> payload_of(uint32_t i) {
  std::vector<uint8_t> p(64 + i % 200);
  for (std::size_t j = 0; j < p.size(); ++j) p[j] = static_cast<uint8_t>(i * 7 + j);
  return p;
}

xdpgw_punt_rule udp_rule(uint16_t dport, const char* dst24) {
  xdpgw_punt_rule r{};
  r.proto = IPPROTO_UDP;
  r.family = AF_INET;
  r.dst_prefixlen = 24;
  std::memcpy(r.dst, ipv4(dst24).data(), 4);
  r.sport_hi = 65535;
  r.dport_lo = r.dport_hi = dport;
  r.flags = XDPGW_PUNT_F_VALID;
  return r;
}

class PipelineE2e : public ::testing::Test {
 protected:
  PipelineE2e() : topo_({.ipv6 = false, .static_neighbours = true}) {
    auto in = topo_.gateway().enter();
    dp_ = std::make_unique<Datapath>(LoadOptions{});
    auto s = dp_->read_settings();
    s.route_source = XDPGW_ROUTE_STATIC;
    dp_->write_settings(s);
    uint32_t nh_id = 0;
    for (const auto* pair : {&topo_.gateway_port_a(), &topo_.gateway_port_b()}) {
      uint32_t ifindex = static_cast<uint32_t>(pair->ifindex);
      bpf_devmap_val tx{};
      tx.ifindex = ifindex;
      EXPECT_EQ(bpf_map_update_elem(dp_->tx_ports_fd(), &ifindex, &tx, BPF_ANY), 0);
    }
    add_route("198.18.1.0", topo_.gateway_port_a(), topo_.host_a_end(), nh_id++);
    add_route("198.18.2.0", topo_.gateway_port_b(), topo_.host_b_end(), nh_id++);
    // The gateway's addresses, as static routing knows them: host routes.
    for (const char* local : {"198.18.1.1", "198.18.2.1"}) {
      const xdpgw_route route{.nexthop_id = XDPGW_NH_LOCAL};
      xdpgw_lpm_v4_key host{.prefixlen = 32, .addr = 0};
      std::memcpy(&host.addr, ipv4(local).data(), 4);
      EXPECT_EQ(bpf_map_update_elem(dp_->routes_v4_fd(), &host, &route, BPF_ANY), 0);
    }
    set_rule(0, udp_rule(7000, "198.18.2.0"));
    set_rule(1, udp_rule(7001, "198.18.1.0"));
    set_rule(2, udp_rule(7002, "198.18.2.0"));
    auto every = udp_rule(9000, "198.18.2.0");
    every.flags = XDPGW_PUNT_F_VALID;  // every packet to userspace
    set_rule(3, every);
    attach_a_.emplace(topo_.gateway(), topo_.gateway_port_a().ifindex, dp_->dispatcher_fd());
    attach_b_.emplace(topo_.gateway(), topo_.gateway_port_b().ifindex, dp_->dispatcher_fd());
  }

  void add_route(const char* prefix, const VethEnd& port, const VethEnd& host, uint32_t nh_id) {
    xdpgw_nexthop nh{};
    nh.ifindex = static_cast<uint32_t>(port.ifindex);
    nh.flags = XDPGW_NH_F_RESOLVED;
    std::memcpy(nh.dmac, host.mac.data(), 6);
    std::memcpy(nh.smac, port.mac.data(), 6);
    nh.mtu = 1500;
    EXPECT_EQ(bpf_map_update_elem(dp_->nexthops_fd(), &nh_id, &nh, BPF_ANY), 0);
    xdpgw_route route{.nexthop_id = nh_id};
    xdpgw_lpm_v4_key k4{.prefixlen = 24, .addr = 0};
    std::memcpy(&k4.addr, ipv4(prefix).data(), 4);
    EXPECT_EQ(bpf_map_update_elem(dp_->routes_v4_fd(), &k4, &route, BPF_ANY), 0);
  }

  void set_rule(uint32_t i, const xdpgw_punt_rule& r) {
    ASSERT_EQ(bpf_map_update_elem(dp_->punt_rules_fd(), &i, &r, BPF_ANY), 0);
    rules_.push_back(r);
  }

  pipeline::PipelineConfig pipeline_config() {
    pipeline::PipelineConfig c;
    c.ports = {topo_.gateway_port_a().name, topo_.gateway_port_b().name};
    c.tap_name = unique_ifname("t");
    c.frame_count = 4096;
    c.rules = {
        {.match = rules_[0], .action = pipeline::Action::Forward, .out_port = topo_.gateway_port_b().name},
        {.match = rules_[1], .action = pipeline::Action::Pass},
        {.match = rules_[2], .action = pipeline::Action::Drop},
        {.match = rules_[3], .action = pipeline::Action::Forward, .out_port = topo_.gateway_port_b().name,
         .offload = false},
    };
    return c;
  }

  std::unique_ptr<pipeline::Pipeline> start_pipeline(xsk::WaitMode wait = xsk::WaitMode::Uring,
                                                     const std::string& capture = {}) {
    auto in = topo_.gateway().enter();
    auto c = pipeline_config();
    c.wait = wait;
    c.capture_path = capture;
    auto p = std::make_unique<pipeline::Pipeline>(
        c, pipeline::PipelineMaps{.xsks = dp_->xsks_fd(),
                                  .xsk_slots = dp_->xsk_slots_fd(),
                                  .conn_table = dp_->conn_table_fd()});
    // The TAP carries the first packet of passed flows; it is not the way
    // back to host A, so reverse-path filtering must not judge it.
    topo_.gateway().sysctl("net/ipv4/conf/all/rp_filter", "0");
    topo_.gateway().sysctl("net/ipv4/conf/" + c.tap_name + "/rp_filter", "0");
    return p;
  }

  uint64_t reason(xdpgw_reason r) const {
    uint64_t total = 0;
    for (const auto& c : read_percpu<xdpgw_counter>(dp_->verdict_stats_fd(), r)) total += c.packets;
    return total;
  }

  RouterTopology topo_;
  std::unique_ptr<Datapath> dp_;
  std::vector<xdpgw_punt_rule> rules_;
  std::optional<XdpAttachment> attach_a_;
  std::optional<XdpAttachment> attach_b_;
};

constexpr uint32_t kPackets = 200;

TEST_F(PipelineE2e, ForwardedFlowArrivesByteForByteAndIsOffloadedAfterItsFirstPacket) {
  auto pl = start_pipeline();
  ASSERT_EQ(pl->sockets().size(), 2u);
  for (const auto& s : pl->sockets()) EXPECT_FALSE(s.zero_copy) << "veth: copy mode, reported";
  UdpSocket b(topo_.host_b(), "198.18.2.2", 7000);
  UdpSocket a(topo_.host_a(), "198.18.1.2", 5000);
  const auto to = SocketAddress::parse("198.18.2.2", 7000);

  a.send_to(to, payload_of(0));
  // The first packet went through userspace, which offloaded the flow.
  ASSERT_TRUE(eventually([&] { return pl->stats().offloaded.load() == 1 && pl->stats().forwarded.load() == 1; }));
  const uint64_t verdicts_before = reason(XDPGW_R_FWD_FLOW_VERDICT);
  // One at a time: a burst would overflow the receiver's socket buffer,
  // which is not what this test is about.
  for (uint32_t i = 0; i < kPackets; ++i) {
    if (i > 0) a.send_to(to, payload_of(i));
    auto d = b.receive(std::chrono::seconds(10));
    ASSERT_TRUE(d) << "datagram " << i << " missing";
    EXPECT_EQ(d->payload, payload_of(i)) << "datagram " << i;
  }
  // Userspace saw the first packet only; XDP forwarded the rest itself.
  EXPECT_EQ(pl->stats().rx.load(), 1u);
  EXPECT_EQ(reason(XDPGW_R_FWD_FLOW_VERDICT) - verdicts_before, kPackets - 1);
  EXPECT_EQ(reason(XDPGW_R_PUNT_XSK), 1u);
  ASSERT_EQ(pl->error(), nullptr);

  pl->stop();
  const auto acc = pl->accounting();
  EXPECT_TRUE(acc.balanced());
  EXPECT_EQ(acc.in_rx, 0u);
  EXPECT_EQ(acc.in_tx, 0u);
  pl->verify_frames();
}

TEST_F(PipelineE2e, PassedFlowReachesTheGatewaysSocketThroughTapThenXdpPass) {
  auto pl = start_pipeline();
  UdpSocket gw(topo_.gateway(), "198.18.1.1", 7001);
  UdpSocket a(topo_.host_a(), "198.18.1.2", 5001);
  const auto to = SocketAddress::parse("198.18.1.1", 7001);
  a.send_to(to, payload_of(0));
  ASSERT_TRUE(eventually([&] { return pl->stats().passed.load() == 1; }));
  for (uint32_t i = 0; i < kPackets; ++i) {
    if (i > 0) a.send_to(to, payload_of(i));
    auto d = gw.receive(std::chrono::seconds(10));
    ASSERT_TRUE(d) << "datagram " << i << " missing";
    EXPECT_EQ(d->payload, payload_of(i));
  }
  EXPECT_EQ(pl->stats().rx.load(), 1u);
  EXPECT_EQ(reason(XDPGW_R_PASS_FLOW_VERDICT), kPackets - 1);
  ASSERT_EQ(pl->error(), nullptr);
}

TEST_F(PipelineE2e, DroppedFlowNeverArrivesAndXdpDropsAllButTheFirst) {
  auto pl = start_pipeline(xsk::WaitMode::BusyPoll);
  UdpSocket b(topo_.host_b(), "198.18.2.2", 7002);
  UdpSocket a(topo_.host_a(), "198.18.1.2", 5002);
  const auto to = SocketAddress::parse("198.18.2.2", 7002);
  a.send_to(to, payload_of(0));
  ASSERT_TRUE(eventually([&] { return pl->stats().dropped.load() == 1 && pl->stats().offloaded.load() == 1; }));
  for (uint32_t i = 1; i < kPackets; ++i) a.send_to(to, payload_of(i));
  ASSERT_TRUE(eventually([&] { return reason(XDPGW_R_DROP_FLOW_VERDICT) == kPackets - 1; }));
  EXPECT_EQ(pl->stats().rx.load(), 1u);
  EXPECT_FALSE(b.receive(std::chrono::milliseconds(0)).has_value());
  ASSERT_EQ(pl->error(), nullptr);
}

// replace_rules: a table it cannot serve is refused whole and the running
// rules stay; an accepted one decides the next packets, sockets untouched.
TEST_F(PipelineE2e, ReplacedRulesDecideTheNextPacketsAndRefusedOnesChangeNothing) {
  auto pl = start_pipeline();
  const auto sockets = pl->sockets();
  UdpSocket b(topo_.host_b(), "198.18.2.2", 9000);
  UdpSocket a(topo_.host_a(), "198.18.1.2", 5009);
  const auto to = SocketAddress::parse("198.18.2.2", 9000);

  auto rules = pipeline_config().rules;
  auto unserved = rules;
  unserved[3].out_port = "xgt-not-served";
  EXPECT_THROW(pl->replace_rules(unserved), std::invalid_argument);
  a.send_to(to, payload_of(0));
  auto d = b.receive(std::chrono::seconds(10));
  ASSERT_TRUE(d) << "the running rules still forward";
  EXPECT_EQ(d->payload, payload_of(0));
  EXPECT_EQ(pl->stats().forwarded.load(), 1u);

  rules[3].action = pipeline::Action::Drop;  // every packet to 9000 now dropped by the pipeline
  pl->replace_rules(rules);
  for (uint32_t i = 1; i <= 10; ++i) a.send_to(to, payload_of(i));
  ASSERT_TRUE(eventually([&] { return pl->stats().dropped.load() == 10; }));
  EXPECT_FALSE(b.receive(std::chrono::milliseconds(0)).has_value());
  EXPECT_EQ(pl->stats().forwarded.load(), 1u);
  EXPECT_EQ(pl->stats().rx.load(), 11u);
  EXPECT_EQ(pl->sockets().size(), sockets.size());
  ASSERT_EQ(pl->error(), nullptr);
}

TEST_F(PipelineE2e, TeardownRemovesSlotsAndSocketsAndXdpCarriesOn) {
  UdpSocket b(topo_.host_b(), "198.18.2.2", 7000);
  UdpSocket a1(topo_.host_a(), "198.18.1.2", 5003);
  UdpSocket a2(topo_.host_a(), "198.18.1.2", 5004);
  const auto to = SocketAddress::parse("198.18.2.2", 7000);
  {
    auto pl = start_pipeline();
    a1.send_to(to, payload_of(0));
    ASSERT_TRUE(eventually([&] { return pl->stats().offloaded.load() == 1; }));
    ASSERT_TRUE(b.receive(std::chrono::seconds(10)));
    pl->stop();
    EXPECT_EQ(pl->accounting().in_rx + pl->accounting().in_tx, 0u);
  }
  // No slot left behind: the map is empty.
  xdpgw_xsk_key k{};
  EXPECT_NE(bpf_map_get_next_key(dp_->xsk_slots_fd(), nullptr, &k), 0);
  EXPECT_EQ(errno, ENOENT);
  // The offloaded flow goes on in XDP without the pipeline...
  a1.send_to(to, payload_of(1));
  auto d = b.receive(std::chrono::seconds(10));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->payload, payload_of(1));
  // ...and a new flow the rule punts falls back to the kernel, which routes it.
  const uint64_t fallback = reason(XDPGW_R_PASS_PUNT_FALLBACK);
  a2.send_to(to, payload_of(2));
  d = b.receive(std::chrono::seconds(10));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->payload, payload_of(2));
  EXPECT_EQ(reason(XDPGW_R_PASS_PUNT_FALLBACK) - fallback, 1u);
}

// Punted packets captured by the pipeline into a pcapng written through
// io_uring: tcpdump reads the file, and each packet holds the frame exactly
// as it arrived, on an interface named after its ingress port, marked
// inbound, with its rx queue and the comment "punted".
TEST_F(PipelineE2e, PuntedPacketsAreCapturedToAPcapngTcpdumpReads) {
  struct RemoveFile {
    std::filesystem::path path;
    ~RemoveFile() { std::filesystem::remove(path); }
  } file{std::filesystem::temp_directory_path() / (unique_name("cap") + ".pcapng")};
  auto pl = start_pipeline(xsk::WaitMode::Uring, file.path.string());
  UdpSocket b(topo_.host_b(), "198.18.2.2", 9000);
  UdpSocket a(topo_.host_a(), "198.18.1.2", 6100);
  const auto to = SocketAddress::parse("198.18.2.2", 9000);
  constexpr uint32_t kCount = 5;
  for (uint32_t i = 0; i < kCount; ++i) {
    a.send_to(to, payload_of(i));
    ASSERT_TRUE(b.receive(std::chrono::seconds(10))) << i;
  }
  pl->stop();  // flushes the capture
  ASSERT_EQ(pl->error(), nullptr);

  const CmdResult td = run_cmd("tcpdump -nn -r " + shell_quote(file.path.string()));
  ASSERT_TRUE(td.ok()) << td.output;
  std::size_t lines = 0;
  for (std::size_t pos = 0; (pos = td.output.find("198.18.1.2.6100 > 198.18.2.2.9000: UDP", pos)) != std::string::npos;
       ++pos)
    ++lines;
  EXPECT_EQ(lines, kCount) << td.output;

  // Our own reading of the blocks: what tcpdump does not print.
  const Pcapng cap = read_pcapng(file.path);
  ASSERT_EQ(cap.packets.size(), kCount);
  ASSERT_EQ(cap.interfaces.size(), 1u) << "one ingress port, one interface";
  EXPECT_EQ(cap.interfaces[0].name, topo_.gateway_port_a().name);
  EXPECT_EQ(cap.interfaces[0].linktype, 1u);
  EXPECT_EQ(cap.interfaces[0].tsresol, std::optional<uint8_t>(9));
  for (uint32_t i = 0; i < kCount; ++i) {
    const PcapngPacket& p = cap.packets[i];
    EXPECT_EQ(cap.interface_name(p), topo_.gateway_port_a().name) << i;
    EXPECT_EQ(p.comments, std::vector<std::string>{"punted"}) << i;
    EXPECT_EQ(p.flags, std::optional<uint32_t>(1)) << "inbound, packet " << i;
    EXPECT_TRUE(p.queue.has_value()) << "the rx queue of the socket it came from, packet " << i;
    EXPECT_EQ(p.orig_len, p.data.size()) << i;
    ASSERT_GE(p.data.size(), 42u) << i;
    const std::vector<uint8_t> payload(p.data.begin() + 42, p.data.end());
    EXPECT_EQ(payload, payload_of(i)) << "packet " << i;
  }
}

// A million frames through the pipeline (a rule that never offloads):
// every one forwarded out of port B's AF_XDP tx and counted at host B, and
// the UMEM account back at its start values afterwards. Frames come from an
// AF_XDP socket on host A with a window on what host B counted, so nothing
// is lost for lack of room and no timing is involved.
TEST_F(PipelineE2e, AMillionFramesThroughThePipelineAccountingBackToStart) {
  auto pl = start_pipeline();
  const xsk::FrameAccounting start = pl->accounting();
  ASSERT_TRUE(start.balanced());
  const auto frame = FrameBuilder()
                         .eth(topo_.gateway_port_a().mac, topo_.host_a_end().mac)
                         .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")})
                         .udp({.sport = 6000, .dport = 9000, .zero_checksum = true})
                         .payload(64)
                         .build();
  std::optional<xsk::Umem> umem;
  std::optional<xsk::Socket> tx;
  {
    auto in = topo_.host_a().enter();
    umem.emplace(xsk::UmemConfig{.frame_count = 4096});
    tx.emplace(*umem, xsk::SocketConfig{.ifname = topo_.host_a_end().name, .queue = 0});
  }
  constexpr uint64_t kFrames = 1'000'000;
  const uint64_t at_b_before = topo_.packets_at_b();
  std::atomic<uint64_t> delivered{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      delivered.store(topo_.packets_at_b() - at_b_before);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  try {
    send_numbered(*tx, frame, 14 + 20 + 8, kFrames, delivered, 128);
  } catch (...) {
    done = true;
    watcher.join();
    throw;
  }
  const bool all = eventually([&] { return topo_.packets_at_b() - at_b_before >= kFrames; });
  done = true;
  watcher.join();
  EXPECT_TRUE(all);
  EXPECT_EQ(topo_.packets_at_b() - at_b_before, kFrames);
  EXPECT_EQ(pl->stats().rx.load(), kFrames);
  EXPECT_EQ(pl->stats().forwarded.load(), kFrames);
  EXPECT_EQ(pl->stats().offloaded.load(), 0u);
  EXPECT_EQ(reason(XDPGW_R_PUNT_XSK), kFrames);
  ASSERT_EQ(pl->error(), nullptr);
  pl->stop();
  const xsk::FrameAccounting end = pl->accounting();
  EXPECT_EQ(end.in_rx, 0u);
  EXPECT_EQ(end.in_tx, 0u);
  EXPECT_EQ(end, start);
  pl->verify_frames();
}

}  // namespace
}  // namespace xdpgw::test
