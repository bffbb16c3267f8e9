// The load balancer through BPF_PROG_TEST_RUN: a VIP packet comes out with
// exactly the NAT rewrite or the encapsulation expected (the expected frame is
// built from scratch, so its checksums are computed independently of the
// incremental updates), replies are reverse-NATed, flows keep their backend
// when the Maglev table changes, and every refusal has its own counter.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "router_fixture.hpp"
#include "harness/cpu.hpp"

namespace xdpgw::test {
namespace {

const Ipv4Addr kClient4 = ipv4("198.18.1.2");
const Ipv4Addr kVip4 = ipv4("198.18.100.1");
const Ipv4Addr kTunnelSrc4 = ipv4("198.18.2.1");
const std::vector<Ipv4Addr> kBackends4 = {ipv4("198.18.2.10"), ipv4("198.18.2.11"),
                                          ipv4("198.18.2.12")};
const Ipv6Addr kClient6 = ipv6("2001:2:0:1::2");
const Ipv6Addr kVip6 = ipv6("2001:2:0:100::1");
const Ipv6Addr kTunnelSrc6 = ipv6("2001:2:0:2::1");
const std::vector<Ipv6Addr> kBackends6 = {ipv6("2001:2:0:2::10"), ipv6("2001:2:0:2::11"),
                                          ipv6("2001:2:0:2::12")};

constexpr uint16_t kVipPort = 80;
constexpr uint16_t kBackendPort = 8080;
constexpr uint32_t kVipId = 7;

template <size_t N>
std::array<uint8_t, 16> addr16(const std::array<uint8_t, N>& a) {
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), a.data(), N);
  return out;
}

class LbTest : public RouterTest {
 protected:
  LbTest() {
    install_static_routes();
    install_routes_to_a();
    write_lb_settings();
  }

  // `udp_new_flows`: the UDP new-flow cap (0: none).
  void write_lb_settings(uint32_t udp_new_flows = 0) {
    xdpgw_lb_settings lbs{};
    std::memcpy(lbs.tunnel_src4, kTunnelSrc4.data(), 4);
    std::memcpy(lbs.tunnel_src6, kTunnelSrc6.data(), 16);
    lbs.udp_new_flows = udp_new_flows;
    lbs.synproxy_mss4 = 1460;
    lbs.synproxy_mss6 = 1440;
    lbs.synproxy_wscale = 7;
    uint32_t zero = 0;
    EXPECT_EQ(bpf_map_update_elem(dp_->lb_settings_fd(), &zero, &lbs, BPF_ANY), 0);
  }

  // A datapath with other table sizes, set up as the fixture set up the
  // first one (which wrote into its own tables).
  void reload_datapath(const LoadOptions& opts) {
    dp_ = std::make_unique<Datapath>(opts);
    install_static_routes();
    install_routes_to_a();
    reinstall_ports();
    write_lb_settings();
  }

  // Backend ids 0..2 (IPv4) and 10..12 (IPv6), each with kBackendPort.
  void add_backends() {
    for (uint32_t i = 0; i < 3; ++i) {
      add_backend(i, AF_INET, addr16(kBackends4[i]), kBackendPort);
      add_backend(10 + i, AF_INET6, addr16(kBackends6[i]), kBackendPort);
    }
  }

  void add_backend(uint32_t id, int family, const std::array<uint8_t, 16>& addr, uint16_t port) {
    xdpgw_backend be{};
    std::memcpy(be.addr, addr.data(), 16);
    be.family = static_cast<uint8_t>(family);
    be.port = htons(port);
    ASSERT_EQ(bpf_map_update_elem(dp_->backends_fd(), &id, &be, BPF_ANY), 0);
  }

  void add_vip(int family, const std::array<uint8_t, 16>& addr, uint8_t proto, uint16_t port,
               uint8_t mode, uint32_t vip_id, uint32_t ring_slot, uint32_t ring_size,
               uint8_t flags = 0) {
    xdpgw_vip_key key{};
    std::memcpy(key.addr, addr.data(), 16);
    key.port = htons(port);
    key.proto = proto;
    key.family = static_cast<uint8_t>(family);
    xdpgw_vip vip{.vip_id = vip_id, .ring_slot = ring_slot, .ring_size = ring_size,
                  .mode = mode, .flags = flags, .reserved = 0};
    ASSERT_EQ(bpf_map_update_elem(dp_->vips_fd(), &key, &vip, BPF_ANY), 0);
  }

  // A VIP whose Maglev table holds only `backend`: the choice is known.
  void add_single_backend_vip(int family, uint8_t proto, uint8_t mode, uint32_t backend,
                              uint8_t flags = 0) {
    const auto addr = family == AF_INET ? addr16(kVip4) : addr16(kVip6);
    const uint32_t slot = kVipId * XDPGW_CONFIG_GENERATIONS + dp_->active_generation();
    std::vector<uint32_t> ring(13, backend);
    dp_->install_ring(slot, ring);
    add_vip(family, addr, proto, kVipPort, mode, kVipId, slot, 13, flags);
  }

  static xdpgw_flow_key key_of(int family, std::span<const uint8_t> src,
                                std::span<const uint8_t> dst, uint16_t sport, uint16_t dport,
                                uint8_t proto) {
    xdpgw_flow_key key{};
    std::memcpy(key.src, src.data(), src.size());
    std::memcpy(key.dst, dst.data(), dst.size());
    key.sport = htons(sport);
    key.dport = htons(dport);
    key.proto = proto;
    key.family = static_cast<uint8_t>(family);
    return key;
  }

  std::optional<xdpgw_flow> flow(int family, std::span<const uint8_t> src,
                                 std::span<const uint8_t> dst, uint16_t sport, uint16_t dport,
                                 uint8_t proto) const {
    const xdpgw_flow_key key = key_of(family, src, dst, sport, dport, proto);
    xdpgw_flow f{};
    if (bpf_map_lookup_elem(dp_->conn_table_fd(), &key, &f) != 0) return std::nullopt;
    // Hits a CPU's flow cache has not written back yet count too.
    for (const Datapath::CachedCounts& c : dp_->cached_flow_counts()) {
      if (std::memcmp(&c.key, &key, sizeof(key)) != 0) continue;
      f.packets += c.packets;
      f.bytes += c.bytes;
    }
    return f;
  }

  std::optional<xdpgw_embryonic> embryonic(int family, std::span<const uint8_t> src,
                                           std::span<const uint8_t> dst, uint16_t sport,
                                           uint16_t dport, uint8_t proto) const {
    const xdpgw_flow_key key = key_of(family, src, dst, sport, dport, proto);
    xdpgw_embryonic e{};
    if (bpf_map_lookup_elem(dp_->embryonic_fd(), &key, &e) != 0) return std::nullopt;
    return e;
  }

  uint64_t conn_stat(uint32_t which) const {
    return sum_percpu<uint64_t>(dp_->conn_stats_fd(), which,
                                [](uint64_t a, const uint64_t& b) { return a + b; });
  }

  xdpgw_lb_counter vip_counter(uint32_t id) const {
    return sum_percpu<xdpgw_lb_counter>(
        dp_->vip_stats_fd(), id, [](xdpgw_lb_counter a, const xdpgw_lb_counter& b) {
          a.packets += b.packets;
          a.bytes += b.bytes;
          a.new_flows += b.new_flows;
          return a;
        });
  }
};

Ipv4Fields v4(const Ipv4Addr& src, const Ipv4Addr& dst, uint8_t ttl = 64) {
  return {.src = src, .dst = dst, .ttl = ttl};
}
Ipv6Fields v6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t hop_limit = 64) {
  return {.src = src, .dst = dst, .hop_limit = hop_limit};
}

// A SYN starts an embryonic flow (lb_embryonic): rewritten like any NAT
// flow, but kept apart from conn_table until the client's ACK answers the
// backend's SYN-ACK, which XDP saw on its way back.
TEST_F(LbTest, NatIpv4TcpRewritesDestinationToTheBackend) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 1);
  const TcpFields syn{.sport = 40000, .dport = kVipPort, .seq = 1, .flags = tcp_flags::kSyn};
  auto in = from_a().ipv4(v4(kClient4, kVip4)).tcp(syn).payload(20).build();
  TcpFields want_tcp = syn;
  want_tcp.dport = kBackendPort;
  auto want = to_b().ipv4(v4(kClient4, kBackends4[1], 63)).tcp(want_tcp).payload(20).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_nat");

  EXPECT_FALSE(flow(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP)) << "not established yet";
  auto fwd = embryonic(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP);
  ASSERT_TRUE(fwd);
  EXPECT_EQ(fwd->flow.action, XDPGW_FLOW_LB_NAT);
  EXPECT_EQ(fwd->flow.backend_id, 1u);
  EXPECT_EQ(fwd->flow.vip_id, kVipId);
  EXPECT_EQ(fwd->flow.packets, 1u);
  EXPECT_EQ(fwd->flags, uint32_t{XDPGW_EMB_F_SYN});
  auto rev = embryonic(AF_INET, kBackends4[1], kClient4, kBackendPort, 40000, IPPROTO_TCP);
  ASSERT_TRUE(rev);
  EXPECT_EQ(rev->flow.action, XDPGW_FLOW_LB_REVERSE_NAT);
  EXPECT_EQ(ntohs(rev->flow.target_port), kVipPort);
  EXPECT_EQ(vip_counter(kVipId).new_flows, 1u);
  EXPECT_EQ(vip_counter(kVipId).packets, 1u);

  // The backend's SYN-ACK goes back as from the VIP; its sequence number is
  // what the client's ACK must acknowledge.
  const TcpFields syn_ack{.sport = kBackendPort, .dport = 40000, .seq = 7000, .ack = 2,
                          .flags = tcp_flags::kSyn | tcp_flags::kAck};
  auto reply = run_on_port1(from_b().ipv4(v4(kBackends4[1], kClient4)).tcp(syn_ack).build());
  EXPECT_EQ(reply.delta.reasons, (Reasons{{"fwd_lb_reverse_nat", 1}}));
  rev = embryonic(AF_INET, kBackends4[1], kClient4, kBackendPort, 40000, IPPROTO_TCP);
  ASSERT_TRUE(rev);
  EXPECT_EQ(rev->server_isn, 7000u);
  EXPECT_TRUE(rev->flags & XDPGW_EMB_F_SERVER_ISN);

  // An ACK that does not acknowledge it proves nothing: forwarded, still
  // embryonic. The right one promotes the flow into conn_table.
  const TcpFields wrong{.sport = 40000, .dport = kVipPort, .seq = 2, .ack = 1234};
  EXPECT_EQ(run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(wrong).build()).delta.reasons,
            (Reasons{{"fwd_lb_nat", 1}}));
  EXPECT_FALSE(flow(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP));
  EXPECT_EQ(conn_stat(XDPGW_CONN_PROMOTION_REFUSED), 1u);
  const TcpFields ack{.sport = 40000, .dport = kVipPort, .seq = 2, .ack = 7001};
  EXPECT_EQ(run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(ack).build()).delta.reasons,
            (Reasons{{"fwd_lb_nat", 1}}));
  auto established = flow(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP);
  ASSERT_TRUE(established);
  EXPECT_EQ(established->backend_id, 1u);
  EXPECT_EQ(established->packets, 3u) << "the embryonic packets are carried over, plus the ACK";
  EXPECT_TRUE(flow(AF_INET, kBackends4[1], kClient4, kBackendPort, 40000, IPPROTO_TCP));
  EXPECT_FALSE(embryonic(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP));
  EXPECT_FALSE(embryonic(AF_INET, kBackends4[1], kClient4, kBackendPort, 40000, IPPROTO_TCP));
  EXPECT_EQ(conn_stat(XDPGW_CONN_PROMOTED), 1u);
  EXPECT_EQ(vip_counter(kVipId).new_flows, 1u) << "a promotion is not a new flow";
}

TEST_F(LbTest, NatReplyFromTheBackendIsRewrittenBackToTheVip) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 2);
  run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 40001, .dport = kVipPort}).build());

  const TcpFields reply{.sport = kBackendPort, .dport = 40001, .seq = 99,
                        .flags = tcp_flags::kSyn | tcp_flags::kAck};
  auto in = from_b().ipv4(v4(kBackends4[2], kClient4)).tcp(reply).payload(7).build();
  TcpFields want_tcp = reply;
  want_tcp.sport = kVipPort;
  auto want = to_a().ipv4(v4(kVip4, kClient4, 63)).tcp(want_tcp).payload(7).build();
  expect_forwarded(run_on_port1(in), want, "fwd_lb_reverse_nat");
}

TEST_F(LbTest, NatIpv6UdpBothDirections) {
  add_backends();
  add_single_backend_vip(AF_INET6, IPPROTO_UDP, XDPGW_LB_NAT, 11);
  auto in = from_a().ipv6(v6(kClient6, kVip6)).udp({.sport = 5000, .dport = kVipPort}).payload(33).build();
  auto want = to_b().ipv6(v6(kClient6, kBackends6[1], 63))
                  .udp({.sport = 5000, .dport = kBackendPort}).payload(33).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_nat");

  auto reply = from_b().ipv6(v6(kBackends6[1], kClient6)).udp({.sport = kBackendPort, .dport = 5000})
                   .payload(9).build();
  auto want_reply = to_a().ipv6(v6(kVip6, kClient6, 63)).udp({.sport = kVipPort, .dport = 5000})
                        .payload(9).build();
  expect_forwarded(run_on_port1(reply), want_reply, "fwd_lb_reverse_nat");
}

TEST_F(LbTest, NatIpv4UdpWithoutChecksumStaysWithout) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_UDP, XDPGW_LB_NAT, 0);
  auto in = from_a().ipv4(v4(kClient4, kVip4))
                .udp({.sport = 7, .dport = kVipPort, .zero_checksum = true}).payload(4).build();
  auto want = to_b().ipv4(v4(kClient4, kBackends4[0], 63))
                  .udp({.sport = 7, .dport = kBackendPort, .zero_checksum = true}).payload(4).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_nat");
}

TEST_F(LbTest, NatChecksumsMatchFromScratchOverManyTuples) {
  // Incremental updates have carry corner cases a single frame would not
  // hit; vary ports, payload and the backend over many flows.
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0);
  for (uint16_t sport = 1000; sport < 1300; ++sport) {
    TcpFields t{.sport = sport, .dport = kVipPort, .seq = sport * 7919u, .ack = sport * 104729u};
    auto in = from_a().ipv4(v4(kClient4, kVip4)).tcp(t).payload(sport % 61).build();
    auto out = run_on_port0(in);
    ASSERT_EQ(action_name(out.action), "XDP_REDIRECT") << sport;
    ASSERT_EQ(checksum_error(out.data), std::nullopt) << "sport " << sport << "\n" << hex_dump(out.data);
    TcpFields want_t = t;
    want_t.dport = kBackendPort;
    ASSERT_EQ(out.data, to_b().ipv4(v4(kClient4, kBackends4[0], 63)).tcp(want_t).payload(sport % 61).build());
  }
}

TEST_F(LbTest, DsrIpv4EncapsulatesInIpip) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_DSR, 2);
  const TcpFields t{.sport = 41000, .dport = kVipPort, .flags = tcp_flags::kSyn};
  auto inner = v4(kClient4, kVip4);
  inner.tos = 0xb8;
  auto in = from_a().ipv4(inner).tcp(t).payload(12).build();
  Ipv4Fields outer{.src = kTunnelSrc4, .dst = kBackends4[2], .ttl = 63, .tos = 0xb8,
                   .dont_fragment = true};
  auto want = to_b().ipv4(outer).ipv4(inner).tcp(t).payload(12).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_dsr");
  auto e = embryonic(AF_INET, kClient4, kVip4, 41000, kVipPort, IPPROTO_TCP);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->flow.action, XDPGW_FLOW_LB_DSR);
  // DSR replies bypass the gateway: no reverse entry, and no SYN-ACK to
  // check the client's ACK against: its next packet promotes the flow.
  EXPECT_FALSE(embryonic(AF_INET, kBackends4[2], kClient4, kVipPort, 41000, IPPROTO_TCP));
  run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 41000, .dport = kVipPort}).build());
  auto f = flow(AF_INET, kClient4, kVip4, 41000, kVipPort, IPPROTO_TCP);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->action, XDPGW_FLOW_LB_DSR);
  EXPECT_FALSE(flow(AF_INET, kBackends4[2], kClient4, kVipPort, 41000, IPPROTO_TCP));
  EXPECT_FALSE(embryonic(AF_INET, kClient4, kVip4, 41000, kVipPort, IPPROTO_TCP));
}

TEST_F(LbTest, DsrIpv6EncapsulatesInIpv6) {
  add_backends();
  add_single_backend_vip(AF_INET6, IPPROTO_UDP, XDPGW_LB_DSR, 10);
  const UdpFields u{.sport = 6000, .dport = kVipPort};
  auto in = from_a().ipv6(v6(kClient6, kVip6)).udp(u).payload(40).build();
  Ipv6Fields outer{.src = kTunnelSrc6, .dst = kBackends6[0], .hop_limit = 63};
  auto want = to_b().ipv6(outer).ipv6(v6(kClient6, kVip6)).udp(u).payload(40).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_dsr");
}

TEST_F(LbTest, DsrIpv4VipToIpv6BackendUsesIpipOverIpv6) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_DSR, 12);
  const TcpFields t{.sport = 41001, .dport = kVipPort};
  auto in = from_a().ipv4(v4(kClient4, kVip4)).tcp(t).build();
  Ipv6Fields outer{.src = kTunnelSrc6, .dst = kBackends6[2], .hop_limit = 63};
  auto want = to_b().ipv6(outer).ipv4(v4(kClient4, kVip4)).tcp(t).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_dsr");
}

TEST_F(LbTest, DsrFrameTooBigForTheEgressMtuIsDroppedAndCounted) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_UDP, XDPGW_LB_DSR, 0);
  // 1500 bytes of IP: fits the port, not with 20 more bytes of IPIP.
  auto in = from_a().ipv4(v4(kClient4, kVip4)).udp({.sport = 1, .dport = kVipPort})
                .payload(1500 - 20 - 8).build();
  auto out = run_on_port0(in);
  EXPECT_EQ(action_name(out.action), "XDP_DROP");
  EXPECT_EQ(out.delta.reasons, Reasons({{"drop_lb_encap_too_big", 1}}));
}

TEST_F(LbTest, EstablishedFlowKeepsItsBackendWhenTheTableChanges) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0);
  auto first = from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 42000, .dport = kVipPort}).build();
  run_on_port0(first);
  // Every position now names backend 1: new flows go there, the old one not.
  dp_->install_ring(kVipId * XDPGW_CONFIG_GENERATIONS + dp_->active_generation(),
                    std::vector<uint32_t>(13, 1));
  auto again = run_on_port0(first);
  EXPECT_EQ(std::vector<uint8_t>(again.data.begin() + 30, again.data.begin() + 34),
            std::vector<uint8_t>(kBackends4[0].begin(), kBackends4[0].end()));
  auto fresh = run_on_port0(
      from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 42001, .dport = kVipPort}).build());
  EXPECT_EQ(std::vector<uint8_t>(fresh.data.begin() + 30, fresh.data.begin() + 34),
            std::vector<uint8_t>(kBackends4[1].begin(), kBackends4[1].end()));
  EXPECT_EQ(flow(AF_INET, kClient4, kVip4, 42000, kVipPort, IPPROTO_TCP)->packets, 2u);
}

// The per-CPU flow cache (lb_flow_cache) serves an established flow's
// packets, writes their counts back to conn_table every
// XDPGW_LB_CACHE_FLUSH-th packet, and then also notices an entry that went
// away: the flow is created again as a new one would be.
TEST_F(LbTest, CachedFlowWritesBackItsCountsAndFollowsAnEvictedEntry) {
  // One CPU: the cache is per CPU, and the counts below follow one slot.
  std::optional<CpuPin> pin(std::in_place);

  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0);
  const auto frame = from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 42100, .dport = kVipPort}).build();
  const auto dst_of = [](const auto& out) {
    return std::vector<uint8_t>(out.data.begin() + 30, out.data.begin() + 34);
  };
  const std::vector<uint8_t> backend0(kBackends4[0].begin(), kBackends4[0].end());
  const std::vector<uint8_t> backend1(kBackends4[1].begin(), kBackends4[1].end());
  constexpr uint32_t kPackets = XDPGW_LB_CACHE_FLUSH + 5;
  for (uint32_t i = 0; i < kPackets; ++i) ASSERT_EQ(dst_of(run_on_port0(frame)), backend0);

  xdpgw_flow_key key{};
  std::memcpy(key.src, kClient4.data(), 4);
  std::memcpy(key.dst, kVip4.data(), 4);
  key.sport = htons(42100);
  key.dport = htons(kVipPort);
  key.proto = IPPROTO_TCP;
  key.family = AF_INET;
  xdpgw_flow shared{};
  ASSERT_EQ(bpf_map_lookup_elem(dp_->conn_table_fd(), &key, &shared), 0);
  // The first packet, then one write-back of XDPGW_LB_CACHE_FLUSH; the
  // rest are held in the cache and counted by flow().
  EXPECT_EQ(shared.packets, 1u + XDPGW_LB_CACHE_FLUSH);
  EXPECT_EQ(flow(AF_INET, kClient4, kVip4, 42100, kVipPort, IPPROTO_TCP)->packets, kPackets);

  // The entry goes (as an LRU eviction would) and new flows now go to
  // backend 1: within one write-back interval the flow is re-created there.
  dp_->install_ring(kVipId * XDPGW_CONFIG_GENERATIONS + dp_->active_generation(),
                    std::vector<uint32_t>(13, 1));
  ASSERT_EQ(bpf_map_delete_elem(dp_->conn_table_fd(), &key), 0);
  bool moved = false;
  for (uint32_t i = 0; i < XDPGW_LB_CACHE_FLUSH && !moved; ++i) {
    moved = dst_of(run_on_port0(frame)) == backend1;
  }
  EXPECT_TRUE(moved);
  EXPECT_EQ(dst_of(run_on_port0(frame)), backend1);
  auto again = flow(AF_INET, kClient4, kVip4, 42100, kVipPort, IPPROTO_TCP);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->backend_id, 1u);

  pin.reset();
}

// A restart adopts pinned maps whose layout matches and refuses the rest,
// except the flow cache, which holds only copies of conn_table decisions: one
// of another layout (an older build's) is replaced by an empty one.
TEST(LbFlowCachePins, CacheOfAnotherLayoutIsReplacedOnAdoption) {
  const auto dir = std::filesystem::path("/sys/fs/bpf/xdpgw") /
                   fmt::format("test-lbcache-{}", ::getpid());
  std::filesystem::remove_all(dir);
  { Datapath first(LoadOptions{.pin_dir = dir, .conn_table_size = 1024}); }
  const auto pin = dir / "lb_flow_cache";
  ASSERT_EQ(::unlink(pin.c_str()), 0);
  UniqueFd other(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lb_flow_cache", sizeof(uint32_t),
                                sizeof(xdpgw_lb_cache_slot) - 8, XDPGW_LB_CACHE_SLOTS, nullptr));
  ASSERT_TRUE(other);
  ASSERT_EQ(bpf_obj_pin(other.get(), pin.c_str()), 0);
  {
    Datapath second(LoadOptions{.pin_dir = dir, .conn_table_size = 1024});
    UniqueFd now(bpf_obj_get(pin.c_str()));
    ASSERT_TRUE(now);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    ASSERT_EQ(bpf_obj_get_info_by_fd(now.get(), &info, &len), 0);
    EXPECT_EQ(info.value_size, sizeof(xdpgw_lb_cache_slot));
  }
  std::filesystem::remove_all(dir);
}

TEST_F(LbTest, MaglevTableSpreadsNewFlowsOverItsBackends) {
  add_backends();
  const uint32_t slot = kVipId * XDPGW_CONFIG_GENERATIONS + dp_->active_generation();
  std::vector<uint32_t> ring;
  for (uint32_t i = 0; i < 251; ++i) ring.push_back(i % 3);
  dp_->install_ring(slot, ring);
  add_vip(AF_INET, addr16(kVip4), IPPROTO_TCP, kVipPort, XDPGW_LB_NAT, kVipId, slot, 251);
  std::array<int, 3> hits{};
  for (uint16_t sport = 20000; sport < 20300; ++sport) {
    run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = sport, .dport = kVipPort}).build());
    auto f = flow(AF_INET, kClient4, kVip4, sport, kVipPort, IPPROTO_TCP);
    ASSERT_TRUE(f);
    ASSERT_LT(f->backend_id, 3u);
    ++hits[f->backend_id];
  }
  // 300 flows over 3 equal backends: each gets a fair share (binomial, the
  // bound is > 6 standard deviations away from 100).
  for (int h : hits) EXPECT_GT(h, 50);
}

TEST_F(LbTest, VipOnAllPortsMatchesAnyPortAndKeepsItWhenBackendPortIsZero) {
  add_backend(0, AF_INET, addr16(kBackends4[0]), 0);
  const uint32_t slot = kVipId * XDPGW_CONFIG_GENERATIONS + dp_->active_generation();
  dp_->install_ring(slot, std::vector<uint32_t>(5, 0));
  add_vip(AF_INET, addr16(kVip4), IPPROTO_UDP, 0, XDPGW_LB_NAT, kVipId, slot, 5);
  const UdpFields u{.sport = 3, .dport = 4444};
  auto in = from_a().ipv4(v4(kClient4, kVip4)).udp(u).build();
  expect_forwarded(run_on_port0(in), to_b().ipv4(v4(kClient4, kBackends4[0], 63)).udp(u).build(),
                   "fwd_lb_nat");
}

TEST_F(LbTest, VipWithoutBackendsDropsAndCounts) {
  add_vip(AF_INET, addr16(kVip4), IPPROTO_TCP, kVipPort, XDPGW_LB_NAT, kVipId,
          kVipId * XDPGW_CONFIG_GENERATIONS, 13);  // no table installed
  auto out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 1, .dport = kVipPort}).build());
  EXPECT_EQ(action_name(out.action), "XDP_DROP");
  EXPECT_EQ(out.delta.reasons, Reasons({{"drop_lb_no_backend", 1}}));
  EXPECT_FALSE(flow(AF_INET, kClient4, kVip4, 1, kVipPort, IPPROTO_TCP));
}

TEST_F(LbTest, NonVipTrafficIsRouted) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0);
  const TcpFields t{.sport = 1, .dport = kVipPort};
  auto other_port = from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 1, .dport = 443}).build();
  auto out = run_on_port0(other_port);  // VIP address, port not configured: router
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_no_route", 1}}));
  auto routed = from_a().ipv4(v4(kClient4, ipv4("198.18.2.2"))).tcp(t).build();
  expect_forwarded(run_on_port0(routed), to_b().ipv4(v4(kClient4, ipv4("198.18.2.2"), 63)).tcp(t).build());
}

TEST_F(LbTest, DisabledLoadBalancerLeavesVipTrafficToTheRouter) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0);
  // A generation whose settings say it has no VIP does not look packets up.
  auto s = dp_->read_settings();
  s.skip |= XDPGW_SKIP_LB;
  dp_->write_settings(s);
  auto out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 1, .dport = kVipPort}).build());
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_no_route", 1}}));
}

// A table of 1,024 entries taking 3,000 new NAT flows (6,000 entries with
// their reverse ones): the LRU evicts, nothing fails, every new flow is still
// balanced, and the insert counter minus the entries is what was evicted.
class SmallTableLbTest : public LbTest {
 protected:
  SmallTableLbTest() { reload_datapath(LoadOptions{.conn_table_size = 1024}); }
};

// A DSR VIP's answers bypass the gateway, so no handshake can be checked:
// its syn_rate_limit caps the SYNs a second (per CPU) that start flows.
// Over it a SYN is dropped and counted; packets of flows already started
// are not limited.
TEST_F(LbTest, SynsOverTheVipsRateLimitStartNoFlow) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_DSR, 2);
  xdpgw_vip_key key{};
  std::memcpy(key.addr, kVip4.data(), 4);
  key.port = htons(kVipPort);
  key.proto = IPPROTO_TCP;
  key.family = AF_INET;
  xdpgw_vip vip{};
  ASSERT_EQ(bpf_map_lookup_elem(dp_->vips_fd(), &key, &vip), 0);
  vip.syn_rate_limit = 5;
  ASSERT_EQ(bpf_map_update_elem(dp_->vips_fd(), &key, &vip, BPF_ANY), 0);
  std::optional<CpuPin> pin(std::in_place);
  Reasons total;
  for (uint16_t i = 0; i < 20; ++i) {
    auto client = kClient4;
    client[3] = static_cast<uint8_t>(10 + i);
    for (const auto& [name, n] :
         run_on_port0(from_a().ipv4(v4(client, kVip4))
                          .tcp({.sport = 30000, .dport = kVipPort, .flags = tcp_flags::kSyn})
                          .build())
             .delta.reasons)
      total[name] += n;
  }
  // The first client's next packet is not a SYN: never limited.
  auto first = kClient4;
  first[3] = 10;
  const auto next = run_on_port0(
      from_a().ipv4(v4(first, kVip4)).tcp({.sport = 30000, .dport = kVipPort}).build());
  pin.reset();
  // Well inside a (~1 s) window or across one boundary: 5 to 10 pass.
  EXPECT_GE(total["fwd_lb_dsr"], 5u);
  EXPECT_LE(total["fwd_lb_dsr"], 10u);
  EXPECT_EQ(total["fwd_lb_dsr"] + total["drop_lb_syn_rate"], 20u);
  EXPECT_EQ(next.delta.reasons, (Reasons{{"fwd_lb_dsr", 1}}));
}

// A SYN flood from random sources, many times the size of both tables:
// it only ever evicts embryonic flows. The established flows, each opened
// by a full handshake, keep their conn_table entries and their backends.
class FloodLbTest : public LbTest {
 protected:
  FloodLbTest() { reload_datapath(LoadOptions{.conn_table_size = 1024, .embryonic_table_size = 1024}); }

  // SYN, the backend's SYN-ACK, the client's ACK: an established flow.
  void handshake(uint16_t sport) {
    run_on_port0(from_a().ipv4(v4(kClient4, kVip4))
                     .tcp({.sport = sport, .dport = kVipPort, .seq = 1, .flags = tcp_flags::kSyn})
                     .build());
    run_on_port1(from_b().ipv4(v4(kBackends4[0], kClient4))
                     .tcp({.sport = kBackendPort, .dport = sport, .seq = 500u + sport, .ack = 2,
                           .flags = tcp_flags::kSyn | tcp_flags::kAck})
                     .build());
    run_on_port0(from_a().ipv4(v4(kClient4, kVip4))
                     .tcp({.sport = sport, .dport = kVipPort, .seq = 2, .ack = 501u + sport})
                     .build());
  }
};

TEST_F(FloodLbTest, ASynFloodNeverEvictsAnEstablishedFlow) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0);
  constexpr uint16_t kEstablished = 100;
  for (uint16_t i = 0; i < kEstablished; ++i) handshake(static_cast<uint16_t>(20000 + i));
  for (uint16_t i = 0; i < kEstablished; ++i)
    ASSERT_TRUE(flow(AF_INET, kClient4, kVip4, 20000 + i, kVipPort, IPPROTO_TCP)) << i;
  const uint64_t inserted = conn_stat(XDPGW_CONN_INSERTED);
  EXPECT_EQ(inserted, 2u * kEstablished) << "forward and reverse entry each";

  // 8,000 spoofed SYNs (8x the embryonic table, and with their reverse
  // entries 16x), each from another source that never answers.
  for (uint32_t i = 0; i < 8000; ++i) {
    Ipv4Addr spoofed = ipv4("198.19.0.0");
    spoofed[2] = static_cast<uint8_t>(i >> 8);
    spoofed[3] = static_cast<uint8_t>(i);
    auto out = run_on_port0(from_a().ipv4(v4(spoofed, kVip4))
                                .tcp({.sport = static_cast<uint16_t>(1024 + i % 50000),
                                      .dport = kVipPort, .seq = i, .flags = tcp_flags::kSyn})
                                .build());
    ASSERT_EQ(out.delta.reasons, (Reasons{{"fwd_lb_nat", 1}})) << "SYN " << i;
  }
  EXPECT_EQ(conn_stat(XDPGW_CONN_INSERTED), inserted) << "the flood put nothing in conn_table";
  EXPECT_GE(conn_stat(XDPGW_CONN_EMBRYONIC_INSERTED), 16000u);
  size_t embryonic_entries = 0;
  {
    xdpgw_flow_key k{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(dp_->embryonic_fd(), prev, &next) == 0) {
      ++embryonic_entries;
      k = next;
      prev = &k;
    }
  }
  EXPECT_LE(embryonic_entries, 1024u) << "the flood recycled its own table";
  for (uint16_t i = 0; i < kEstablished; ++i) {
    const uint16_t sport = static_cast<uint16_t>(20000 + i);
    auto f = flow(AF_INET, kClient4, kVip4, sport, kVipPort, IPPROTO_TCP);
    ASSERT_TRUE(f) << "established flow " << i << " was evicted";
    EXPECT_EQ(f->backend_id, 0u);
    EXPECT_TRUE(flow(AF_INET, kBackends4[0], kClient4, kBackendPort, sport, IPPROTO_TCP)) << i;
  }
}

// UDP has no handshake: new flows per source prefix are capped per CPU and
// second. Over the cap a NAT flow is dropped (its replies could not be
// translated) and a DSR flow goes without being stored; both are counted.
TEST_F(LbTest, UdpNewFlowsOverTheirPrefixCapAreNotStored) {
  write_lb_settings(5);
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_UDP, XDPGW_LB_NAT, 1);
  // One CPU, so one counter; the test runs well inside a window or two.
  std::optional<CpuPin> pin(std::in_place);
  Reasons total;
  for (uint16_t i = 0; i < 20; ++i)
    for (const auto& [name, n] :
         run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).udp({.sport = static_cast<uint16_t>(7000 + i), .dport = kVipPort}).build())
             .delta.reasons)
      total[name] += n;
  // Another /24 has its own cap.
  auto other = kClient4;
  other[2] = 77;
  const auto other_out = run_on_port0(
      from_a().ipv4(v4(other, kVip4)).udp({.sport = 7000, .dport = kVipPort}).build());
  pin.reset();
  // The 20 flows take far less than a (~1 s) window, so they meet at most
  // one window boundary: at most two windows' worth (10) pass.
  EXPECT_GE(total["fwd_lb_nat"], 5u);
  EXPECT_LE(total["fwd_lb_nat"], 10u);
  EXPECT_EQ(total["fwd_lb_nat"] + total["drop_lb_new_flow_cap"], 20u);
  EXPECT_EQ(conn_stat(XDPGW_CONN_UDP_CAPPED), total["drop_lb_new_flow_cap"]);
  EXPECT_EQ(other_out.delta.reasons, (Reasons{{"fwd_lb_nat", 1}}));
}

TEST_F(SmallTableLbTest, FullConnectionTableEvictsAndKeepsServingNewFlows) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_UDP, XDPGW_LB_NAT, 0);
  for (uint32_t i = 0; i < 3000; ++i) {
    auto client = kClient4;
    client[3] = static_cast<uint8_t>(2 + i % 200);
    auto out = run_on_port0(from_a().ipv4(v4(client, kVip4))
                                .udp({.sport = static_cast<uint16_t>(10000 + i / 200), .dport = kVipPort})
                                .build());
    ASSERT_EQ(out.delta.reasons, Reasons({{"fwd_lb_nat", 1}})) << "flow " << i;
  }
  size_t entries = 0;
  xdpgw_flow_key key{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(dp_->conn_table_fd(), prev, &next) == 0; prev = &key) {
    key = next;
    ++entries;
  }
  EXPECT_LE(entries, 1024u);
  EXPECT_GT(entries, 0u);
  const uint64_t inserted = sum_percpu<uint64_t>(dp_->conn_stats_fd(), XDPGW_CONN_INSERTED);
  EXPECT_EQ(inserted, 6000u);
  EXPECT_GE(inserted - entries, 6000u - 1024u);
}

// The IP packet of a frame (Ethernet header dropped), cut to `size` bytes:
// what an ICMP error quotes.
std::vector<uint8_t> quote(const std::vector<uint8_t>& frame, size_t size) {
  return std::vector<uint8_t>(frame.begin() + 14, frame.begin() + 14 + static_cast<long>(size));
}

TEST_F(LbTest, IcmpFragNeededAboutANatFlowFollowsItToTheBackend) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_UDP, XDPGW_LB_NAT, 1);
  run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).udp({.sport = 5000, .dport = kVipPort}).payload(10).build());

  // A router between us and the client could not forward the VIP's reply.
  const Ipv4Addr router = ipv4("198.18.1.254");
  auto reply = FrameBuilder().eth(kHostAMac, kPort0Mac).ipv4(v4(kVip4, kClient4))
                   .udp({.sport = kVipPort, .dport = 5000}).payload(10).build();
  auto as_backend_sent_it = FrameBuilder().eth(kHostAMac, kPort0Mac).ipv4(v4(kBackends4[1], kClient4))
                                .udp({.sport = kBackendPort, .dport = 5000}).payload(10).build();
  constexpr uint32_t kMtu = 1400;
  auto in = from_a().ipv4(v4(router, kVip4)).icmp(3, 4, kMtu).payload(quote(reply, 28)).build();
  auto want = to_b().ipv4(v4(router, kBackends4[1], 63)).icmp(3, 4, kMtu)
                  .payload(quote(as_backend_sent_it, 28)).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_nat");
}

TEST_F(LbTest, Icmpv6PacketTooBigAboutANatTcpFlowRewritesTheQuoteAndPseudoHeader) {
  add_backends();
  add_single_backend_vip(AF_INET6, IPPROTO_TCP, XDPGW_LB_NAT, 10);
  run_on_port0(from_a().ipv6(v6(kClient6, kVip6)).tcp({.sport = 6000, .dport = kVipPort}).build());
  const Ipv6Addr router = ipv6("2001:2:0:1::fe");
  const TcpFields seg{.sport = kVipPort, .dport = 6000, .seq = 77, .ack = 99};
  auto reply = FrameBuilder().eth(kHostAMac, kPort0Mac).ipv6(v6(kVip6, kClient6)).tcp(seg).payload(100).build();
  TcpFields seg_be = seg;
  seg_be.sport = kBackendPort;
  auto as_backend = FrameBuilder().eth(kHostAMac, kPort0Mac).ipv6(v6(kBackends6[0], kClient6))
                        .tcp(seg_be).payload(100).build();
  // The quote reaches the TCP checksum: it must be updated too.
  auto in = from_a().ipv6(v6(router, kVip6)).icmpv6(2, 0, 1280).payload(quote(reply, 40 + 24)).build();
  auto want = to_b().ipv6(v6(router, kBackends6[0], 63)).icmpv6(2, 0, 1280)
                  .payload(quote(as_backend, 40 + 24)).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_nat");
}

TEST_F(LbTest, IcmpErrorAboutADsrFlowIsEncapsulatedToTheBackend) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_DSR, 2);
  run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp({.sport = 6001, .dport = kVipPort}).build());
  const Ipv4Addr router = ipv4("198.18.1.254");
  auto reply = FrameBuilder().eth(kHostAMac, kPort0Mac).ipv4(v4(kVip4, kClient4))
                   .tcp({.sport = kVipPort, .dport = 6001}).build();
  auto icmp = v4(router, kVip4);
  auto in = from_a().ipv4(icmp).icmp(3, 4, 1400).payload(quote(reply, 28)).build();
  Ipv4Fields outer{.src = kTunnelSrc4, .dst = kBackends4[2], .ttl = 63, .dont_fragment = true};
  auto want = to_b().ipv4(outer).ipv4(icmp).icmp(3, 4, 1400).payload(quote(reply, 28)).build();
  expect_forwarded(run_on_port0(in), want, "fwd_lb_dsr");
}

TEST_F(LbTest, IcmpErrorsWithoutAFlowAreRouted) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_UDP, XDPGW_LB_NAT, 1);
  auto reply = FrameBuilder().eth(kHostAMac, kPort0Mac).ipv4(v4(kVip4, kClient4))
                   .udp({.sport = kVipPort, .dport = 5999}).build();
  auto out = run_on_port0(from_a().ipv4(v4(ipv4("198.18.1.254"), kVip4)).icmp(3, 4, 1400)
                              .payload(quote(reply, 28)).build());
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_no_route", 1}}));
}

// ---- SYN cookies (bpf/synproxy.bpf.c) ---------------------------------------

std::vector<uint8_t> be32_bytes(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}
uint32_t be32_at(const std::vector<uint8_t>& f, size_t off) {
  return uint32_t(f.at(off)) << 24 | uint32_t(f.at(off + 1)) << 16 | uint32_t(f.at(off + 2)) << 8 |
         f.at(off + 3);
}
// TCP options: timestamps after two NOPs (as Linux sends them), then `more`.
std::vector<uint8_t> ts_opts(uint32_t tsval, uint32_t tsecr, std::vector<uint8_t> more = {}) {
  std::vector<uint8_t> o = {1, 1, 8, 10};
  for (uint32_t v : {tsval, tsecr})
    for (uint8_t b : be32_bytes(v)) o.push_back(b);
  o.insert(o.end(), more.begin(), more.end());
  return o;
}
// The option block every header the synproxy stage builds carries.
std::vector<uint8_t> sp_opts(uint16_t mss, bool sack, std::optional<std::pair<uint32_t, uint32_t>> ts,
                             std::optional<uint8_t> wscale) {
  std::vector<uint8_t> o(20, 1);
  if (mss) o[0] = 2, o[1] = 4, o[2] = uint8_t(mss >> 8), o[3] = uint8_t(mss);
  if (sack) o[4] = 4, o[5] = 2;
  if (ts) {
    o[6] = 8, o[7] = 10;
    auto a = be32_bytes(ts->first), b = be32_bytes(ts->second);
    std::copy(a.begin(), a.end(), o.begin() + 8);
    std::copy(b.begin(), b.end(), o.begin() + 12);
  }
  if (wscale) o[17] = 3, o[18] = 3, o[19] = *wscale;
  return o;
}

// A VIP with cookies on: the SYN is answered by XDP and nothing is stored;
// a wrong cookie opens nothing; the right one opens the flow with a SYN to
// the backend that carries the client's options; the backend's SYN-ACK
// becomes the client's window update; from then on sequence numbers,
// timestamps, SACK blocks and windows are translated both ways, and every
// checksum (checked independently: the expected frames are built from
// scratch) stays right.
TEST_F(LbTest, SynCookiesOpenTheBackendOnlyForAClientThatAnswered) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 1, XDPGW_VIP_F_SYNPROXY_ON);
  using namespace tcp_flags;
  // Linux's SYN options: MSS 1460, SACK permitted, timestamps, window scale 7.
  const std::vector<uint8_t> syn_opts = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x03, 0xe8,
                                         0, 0, 0, 0, 1, 3, 3, 7};
  const TcpFields syn{.sport = 40000, .dport = kVipPort, .seq = 5000, .flags = kSyn,
                      .window = 64240, .options = syn_opts};
  auto out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(syn).build());
  EXPECT_EQ(action_name(out.action), "XDP_TX");
  EXPECT_EQ(out.delta.reasons, (Reasons{{"tx_synproxy_synack", 1}}));
  ASSERT_GE(out.data.size(), 74u);
  const uint32_t cookie = be32_at(out.data, 38);
  const uint32_t synack_ts = be32_at(out.data, 62);
  EXPECT_EQ(synack_ts & 0x7f, 7u | XDPGW_SP_TS_SACK | 3u << XDPGW_SP_TS_MSS_SHIFT)
      << "the timestamp carries window scale 7, SACK and the 1460 MSS class";
  auto want_synack =
      to_a().ipv4({.src = kVip4, .dst = kClient4, .ttl = 64, .dont_fragment = true})
          .tcp({.sport = kVipPort, .dport = 40000, .seq = cookie, .ack = 5001,
                .flags = kSyn | kAck, .window = 0,
                .options = sp_opts(1460, true, std::pair{synack_ts, 1000u}, 7)})
          .build();
  EXPECT_EQ(out.data, want_synack) << "got:\n" << hex_dump(out.data) << "want:\n" << hex_dump(want_synack);
  EXPECT_EQ(checksum_error(out.data), std::nullopt);
  EXPECT_FALSE(flow(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP));
  EXPECT_FALSE(embryonic(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP)) << "nothing stored";

  // An ACK without the cookie (a spoofed or stale one) opens nothing.
  const TcpFields bad{.sport = 40000, .dport = kVipPort, .seq = 5001, .ack = cookie + 7,
                      .window = 502, .options = ts_opts(1001, synack_ts)};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(bad).build());
  EXPECT_EQ(out.delta.reasons, (Reasons{{"drop_synproxy_bad_cookie", 1}}));
  EXPECT_FALSE(flow(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP));

  // The client's ACK: the flow opens and the ACK becomes the backend's SYN.
  const TcpFields ack{.sport = 40000, .dport = kVipPort, .seq = 5001, .ack = cookie + 1,
                      .window = 502, .options = ts_opts(1001, synack_ts)};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(ack).build());
  auto want_syn = to_b().ipv4(v4(kClient4, kBackends4[1], 63))
                      .tcp({.sport = 40000, .dport = kBackendPort, .seq = 5000, .ack = 0,
                            .flags = kSyn, .window = 64256,
                            .options = sp_opts(1460, true, std::pair{1001u, 0u}, 7)})
                      .build();
  expect_forwarded(out, want_syn, "fwd_lb_nat");
  auto opened = flow(AF_INET, kClient4, kVip4, 40000, kVipPort, IPPROTO_TCP);
  ASSERT_TRUE(opened);
  EXPECT_TRUE(opened->flags & XDPGW_FLOW_F_SYNPROXY);
  EXPECT_EQ(opened->backend_id, 1u);
  ASSERT_TRUE(flow(AF_INET, kBackends4[1], kClient4, kBackendPort, 40000, IPPROTO_TCP));

  // Before the backend answered, the client's window is zero: what comes
  // is its probe, which sends the backend's SYN again (lost SYNs are the
  // gateway's to repeat; the client's persist timer paces it).
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(ack).build());
  expect_forwarded(out, want_syn, "fwd_lb_nat");
  const TcpFields fin{.sport = 40000, .dport = kVipPort, .seq = 5001, .ack = cookie + 1,
                      .flags = kAck | kFin, .window = 502, .options = ts_opts(1001, synack_ts)};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(fin).build());
  EXPECT_EQ(out.delta.reasons, (Reasons{{"drop_synproxy_waiting", 1}}));

  // The backend's SYN-ACK (window scale 9) becomes the client's window update.
  const uint32_t isn_b = 900000;
  const TcpFields syn_ack{.sport = kBackendPort, .dport = 40000, .seq = isn_b, .ack = 5001,
                          .flags = kSyn | kAck, .window = 65160,
                          .options = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 0x2f, 0xd1, 0, 0,
                                      0x03, 0xe9, 1, 3, 3, 9}};  // tsval 77777, tsecr 1001
  out = run_on_port1(from_b().ipv4(v4(kBackends4[1], kClient4)).tcp(syn_ack).build());
  auto want_update = to_a().ipv4(v4(kVip4, kClient4, 63))
                         .tcp({.sport = kVipPort, .dport = 40000, .seq = cookie + 1, .ack = 5001,
                               .flags = kAck, .window = 65160 >> 7,
                               .options = sp_opts(0, false, std::pair{synack_ts, 1001u}, {})})
                         .build();
  expect_forwarded(out, want_update, "fwd_lb_reverse_nat");

  // The client's data: its ack and echoed timestamp move into the backend's
  // spaces (both scale windows by 7 here... the client by 7, the backend 9:
  // the client's windows reach the backend unchanged).
  const TcpFields data{.sport = 40000, .dport = kVipPort, .seq = 5001, .ack = cookie + 1,
                       .flags = kAck | kPsh, .window = 502, .options = ts_opts(1002, synack_ts)};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(data).payload(10).build());
  auto want_data = to_b().ipv4(v4(kClient4, kBackends4[1], 63))
                       .tcp({.sport = 40000, .dport = kBackendPort, .seq = 5001, .ack = isn_b + 1,
                             .flags = kAck | kPsh, .window = 502, .options = ts_opts(1002, 77777)})
                       .payload(10)
                       .build();
  expect_forwarded(out, want_data, "fwd_lb_nat");

  // The backend's data: its sequence numbers and timestamps move into what
  // the client was given, its window from scale 9 to the 7 announced.
  const TcpFields reply{.sport = kBackendPort, .dport = 40000, .seq = isn_b + 1, .ack = 5011,
                        .flags = kAck | kPsh, .window = 100, .options = ts_opts(77778, 1002)};
  out = run_on_port1(from_b().ipv4(v4(kBackends4[1], kClient4)).tcp(reply).payload(5).build());
  auto want_reply = to_a().ipv4(v4(kVip4, kClient4, 63))
                        .tcp({.sport = kVipPort, .dport = 40000, .seq = cookie + 1, .ack = 5011,
                              .flags = kAck | kPsh, .window = 400,
                              .options = ts_opts(synack_ts + 1, 1002)})
                        .payload(5)
                        .build();
  expect_forwarded(out, want_reply, "fwd_lb_reverse_nat");

  // SACK blocks from the client name the backend's bytes: translated too
  // (the walk, not the timestamps-only fast path).
  std::vector<uint8_t> sack = {1, 1, 5, 18};
  for (uint32_t v : {cookie + 100, cookie + 200, cookie + 300, cookie + 400})
    for (uint8_t b : be32_bytes(v)) sack.push_back(b);
  const TcpFields with_sack{.sport = 40000, .dport = kVipPort, .seq = 5011, .ack = cookie + 1,
                            .window = 502, .options = ts_opts(1003, synack_ts + 1, sack)};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(with_sack).build());
  std::vector<uint8_t> want_sack = {1, 1, 5, 18};
  for (uint32_t v : {isn_b + 100, isn_b + 200, isn_b + 300, isn_b + 400})
    for (uint8_t b : be32_bytes(v)) want_sack.push_back(b);
  auto want_sacked = to_b().ipv4(v4(kClient4, kBackends4[1], 63))
                         .tcp({.sport = 40000, .dport = kBackendPort, .seq = 5011,
                               .ack = isn_b + 1, .window = 502,
                               .options = ts_opts(1003, 77778, want_sack)})
                         .build();
  expect_forwarded(out, want_sacked, "fwd_lb_nat");

  // The backend repeats its SYN-ACK (the client had nothing to send): XDP
  // completes the backend's handshake itself.
  out = run_on_port1(from_b().ipv4(v4(kBackends4[1], kClient4)).tcp(syn_ack).build());
  EXPECT_EQ(action_name(out.action), "XDP_TX");
  EXPECT_EQ(out.delta.reasons, (Reasons{{"tx_synproxy_ack", 1}}));
  auto want_ack = to_b().ipv4({.src = kClient4, .dst = kBackends4[1], .ttl = 64, .dont_fragment = true})
                      .tcp({.sport = 40000, .dport = kBackendPort, .seq = 5001, .ack = isn_b + 1,
                            .flags = kAck, .window = 502,
                            .options = sp_opts(0, false, std::pair{1001u, 77777u}, {})})
                      .build();
  EXPECT_EQ(out.data, want_ack) << "got:\n" << hex_dump(out.data) << "want:\n" << hex_dump(want_ack);

  const auto counted = sum_percpu<xdpgw_synproxy_counter>(
      dp_->synproxy_stats_fd(), kVipId, [](xdpgw_synproxy_counter a, const xdpgw_synproxy_counter& b) {
        a.cookies_sent += b.cookies_sent;
        a.cookies_valid += b.cookies_valid;
        a.cookies_failed += b.cookies_failed;
        a.backend_answered += b.backend_answered;
        return a;
      });
  EXPECT_EQ(counted.cookies_sent, 1u);
  EXPECT_EQ(counted.cookies_valid, 1u);
  EXPECT_EQ(counted.cookies_failed, 1u);
  EXPECT_EQ(counted.backend_answered, 1u);
}

// IPv6, and a client without timestamps: MSS only in the SYN-ACK (nothing
// else could come back), and the backend's SYN gets the conservative MSS.
TEST_F(LbTest, SynCookiesIpv6WithoutTimestamps) {
  add_backends();
  add_single_backend_vip(AF_INET6, IPPROTO_TCP, XDPGW_LB_NAT, 11, XDPGW_VIP_F_SYNPROXY_ON);
  using namespace tcp_flags;
  const TcpFields syn{.sport = 41000, .dport = kVipPort, .seq = 7, .flags = kSyn, .window = 64800,
                      .options = {2, 4, 0x05, 0xa0, 1, 3, 3, 7}};  // MSS 1440, wscale 7
  auto out = run_on_port0(from_a().ipv6(v6(kClient6, kVip6)).tcp(syn).build());
  EXPECT_EQ(out.delta.reasons, (Reasons{{"tx_synproxy_synack", 1}}));
  ASSERT_GE(out.data.size(), 94u);
  const uint32_t cookie = be32_at(out.data, 58);
  auto want_synack = to_a().ipv6({.src = kVip6, .dst = kClient6, .hop_limit = 64})
                         .tcp({.sport = kVipPort, .dport = 41000, .seq = cookie, .ack = 8,
                               .flags = kSyn | kAck, .window = 0,
                               .options = sp_opts(1440, false, {}, {})})
                         .build();
  EXPECT_EQ(out.data, want_synack) << "got:\n" << hex_dump(out.data) << "want:\n" << hex_dump(want_synack);

  const TcpFields ack{.sport = 41000, .dport = kVipPort, .seq = 8, .ack = cookie + 1, .window = 5000};
  out = run_on_port0(from_a().ipv6(v6(kClient6, kVip6)).tcp(ack).payload(3).build());
  auto want_syn = to_b().ipv6(v6(kClient6, kBackends6[1], 63))
                      .tcp({.sport = 41000, .dport = kBackendPort, .seq = 7, .ack = 0, .flags = kSyn,
                            .window = 5000, .options = sp_opts(XDPGW_SP_MSS_NO_TS, false, {}, {})})
                      .build();
  expect_forwarded(out, want_syn, "fwd_lb_nat");
}

// "auto": cookies only while the daemon has switched them on for the VIP.
TEST_F(LbTest, SynCookiesInAutoModeFollowTheActiveFlag) {
  add_backends();
  add_single_backend_vip(AF_INET, IPPROTO_TCP, XDPGW_LB_NAT, 0, XDPGW_VIP_F_SYNPROXY_AUTO);
  const TcpFields syn{.sport = 42000, .dport = kVipPort, .seq = 1, .flags = tcp_flags::kSyn};
  auto out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(syn).build());
  EXPECT_EQ(out.delta.reasons, (Reasons{{"fwd_lb_nat", 1}})) << "off: the embryonic way";
  EXPECT_TRUE(embryonic(AF_INET, kClient4, kVip4, 42000, kVipPort, IPPROTO_TCP));

  const uint32_t id = kVipId, on = 1;
  ASSERT_EQ(bpf_map_update_elem(dp_->synproxy_active_fd(), &id, &on, BPF_ANY), 0);
  const TcpFields syn2{.sport = 42001, .dport = kVipPort, .seq = 1, .flags = tcp_flags::kSyn};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(syn2).build());
  EXPECT_EQ(out.delta.reasons, (Reasons{{"tx_synproxy_synack", 1}}));
  EXPECT_FALSE(embryonic(AF_INET, kClient4, kVip4, 42001, kVipPort, IPPROTO_TCP));
  // The flow that began before cookies came on still finishes its way.
  const TcpFields again{.sport = 42000, .dport = kVipPort, .seq = 2, .ack = 99};
  out = run_on_port0(from_a().ipv4(v4(kClient4, kVip4)).tcp(again).build());
  EXPECT_EQ(out.delta.reasons, (Reasons{{"fwd_lb_nat", 1}}));
}

}  // namespace
}  // namespace xdpgw::test
