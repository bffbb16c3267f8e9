// A gateway namespace with two real ports for BPF_PROG_TEST_RUN tests of the
// forwarding actions (router, load balancer): host A behind port 0, host B
// behind port 1, permanent neighbours, forwarding on.
#pragma once

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

#include <cstring>
#include <span>

#include "datapath_fixture.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test {

inline const MacAddr kHostAMac = mac("02:00:00:00:0a:02");
inline const MacAddr kHostBMac = mac("02:00:00:00:0b:02");
inline const MacAddr kPort0Mac = mac("02:00:00:00:0a:01");
inline const MacAddr kPort1Mac = mac("02:00:00:00:0b:01");
inline const Ipv4Fields kV4{.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2"), .ttl = 64};
inline const Ipv6Fields kV6{.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2"), .hop_limit = 64};

// A gateway namespace with two real ports (veths to a host namespace), the
// addresses of the demo topology, permanent neighbours for the two hosts,
// and forwarding on. Map writes that name devices and FIB lookups happen
// inside it.
class RouterTest : public DatapathTest {
 protected:
  RouterTest()
      : port0_(gw_, hosts_, {.a = {.mac = kPort0Mac, .addresses = {"198.18.1.1/24", "2001:2:0:1::1/64"}},
                             .b = {.mac = kHostAMac}}),
        port1_(gw_, hosts_, {.a = {.mac = kPort1Mac, .addresses = {"198.18.2.1/24", "2001:2:0:2::1/64"}},
                             .b = {.mac = kHostBMac}}) {
    gw_.sysctl("net.ipv4.ip_forward", "1");
    gw_.sysctl("net.ipv6.conf.all.forwarding", "1");
    gw_.exec_ok("ip neigh replace 198.18.2.2 lladdr " + to_string(kHostBMac) +
                " nud permanent dev " + port1_.name_a());
    gw_.exec_ok("ip -6 neigh replace 2001:2:0:2::2 lladdr " + to_string(kHostBMac) +
                " nud permanent dev " + port1_.name_a());
    reinstall_ports();
  }

  // Redirect targets into the current Datapath's tables.
  void reinstall_ports() {
    auto in = gw_.enter();
    for (const auto* p : {&port0_, &port1_}) {
      uint32_t ifindex = p->ifindex_a();
      bpf_devmap_val tx{};
      tx.ifindex = ifindex;
      EXPECT_EQ(bpf_map_update_elem(dp_->tx_ports_fd(), &ifindex, &tx, BPF_ANY), 0);
    }
  }

  // Static routes: 198.18.2.0/24 and 2001:2:0:2::/64 via host B on port 1.
  void install_static_routes(bool resolved = true) {
    set_route_source(XDPGW_ROUTE_STATIC);
    uint32_t nh_id = 3;
    xdpgw_nexthop nh{};
    nh.ifindex = port1_.ifindex_a();
    nh.flags = resolved ? XDPGW_NH_F_RESOLVED : 0;
    std::memcpy(nh.dmac, kHostBMac.data(), 6);
    std::memcpy(nh.smac, kPort1Mac.data(), 6);
    nh.mtu = 1500;
    ASSERT_EQ(bpf_map_update_elem(dp_->nexthops_fd(), &nh_id, &nh, BPF_ANY), 0);
    xdpgw_route route{.nexthop_id = nh_id};
    xdpgw_lpm_v4_key k4{.prefixlen = 24, .addr = 0};
    std::memcpy(&k4.addr, ipv4("198.18.2.0").data(), 4);
    ASSERT_EQ(bpf_map_update_elem(dp_->routes_v4_fd(), &k4, &route, BPF_ANY), 0);
    xdpgw_lpm_v6_key k6{.prefixlen = 64, .addr = {}};
    std::memcpy(k6.addr, ipv6("2001:2:0:2::").data(), 16);
    ASSERT_EQ(bpf_map_update_elem(dp_->routes_v6_fd(), &k6, &route, BPF_ANY), 0);
  }

  // A gateway address, as apply writes it: in the local table (the FIB's
  // reason for not forwarding) and as a host route (static routing).
  void add_local_address(int family, std::span<const uint8_t> addr) {
    xdpgw_addr_key key{};
    key.family = static_cast<uint32_t>(family);
    std::memcpy(key.addr, addr.data(), addr.size());
    uint8_t one = 1;
    ASSERT_EQ(bpf_map_update_elem(dp_->local_addrs_fd(), &key, &one, BPF_ANY), 0);
    const xdpgw_route local{.nexthop_id = XDPGW_NH_LOCAL};
    if (family == AF_INET) {
      xdpgw_lpm_v4_key k4{.prefixlen = 32, .addr = 0};
      std::memcpy(&k4.addr, addr.data(), 4);
      ASSERT_EQ(bpf_map_update_elem(dp_->routes_v4_fd(), &k4, &local, BPF_ANY), 0);
    } else {
      xdpgw_lpm_v6_key k6{.prefixlen = 128, .addr = {}};
      std::memcpy(k6.addr, addr.data(), 16);
      ASSERT_EQ(bpf_map_update_elem(dp_->routes_v6_fd(), &k6, &local, BPF_ANY), 0);
    }
  }

  // Routes to host A's networks (198.18.1.0/24, 2001:2:0:1::/64) via port 0.
  void install_routes_to_a() {
    uint32_t nh_id = 4;
    xdpgw_nexthop nh{};
    nh.ifindex = port0_.ifindex_a();
    nh.flags = XDPGW_NH_F_RESOLVED;
    std::memcpy(nh.dmac, kHostAMac.data(), 6);
    std::memcpy(nh.smac, kPort0Mac.data(), 6);
    nh.mtu = 1500;
    ASSERT_EQ(bpf_map_update_elem(dp_->nexthops_fd(), &nh_id, &nh, BPF_ANY), 0);
    xdpgw_route route{.nexthop_id = nh_id};
    xdpgw_lpm_v4_key k4{.prefixlen = 24, .addr = 0};
    std::memcpy(&k4.addr, ipv4("198.18.1.0").data(), 4);
    ASSERT_EQ(bpf_map_update_elem(dp_->routes_v4_fd(), &k4, &route, BPF_ANY), 0);
    xdpgw_lpm_v6_key k6{.prefixlen = 64, .addr = {}};
    std::memcpy(k6.addr, ipv6("2001:2:0:1::").data(), 16);
    ASSERT_EQ(bpf_map_update_elem(dp_->routes_v6_fd(), &k6, &route, BPF_ANY), 0);
  }

  // Runs a frame as if received on port 1.
  Outcome run_on_port1(const std::vector<uint8_t>& frame) {
    auto in = gw_.enter();
    return run(frame, {.ingress_ifindex = static_cast<uint32_t>(port1_.ifindex_a())});
  }

  // Runs a frame as if received on port 0.
  Outcome run_on_port0(const std::vector<uint8_t>& frame) {
    auto in = gw_.enter();
    return run(frame, {.ingress_ifindex = static_cast<uint32_t>(port0_.ifindex_a())});
  }

  Netns gw_{"gw"};
  Netns hosts_{"hosts"};
  VethPair port0_;
  VethPair port1_;
};

inline FrameBuilder from_a() { return FrameBuilder().eth(kPort0Mac, kHostAMac); }
inline FrameBuilder to_b() { return FrameBuilder().eth(kHostBMac, kPort1Mac); }
inline FrameBuilder from_b() { return FrameBuilder().eth(kPort1Mac, kHostBMac); }
inline FrameBuilder to_a() { return FrameBuilder().eth(kHostAMac, kPort0Mac); }

inline void expect_forwarded(const Outcome& out, const std::vector<uint8_t>& expected,
                             const std::string& reason = "fwd_redirect") {
  EXPECT_EQ(action_name(out.action), "XDP_REDIRECT");
  EXPECT_EQ(out.delta.reasons, Reasons({{reason, 1}}));
  EXPECT_EQ(out.data, expected) << "got:\n" << hex_dump(out.data) << "want:\n" << hex_dump(expected);
  EXPECT_EQ(checksum_error(out.data), std::nullopt);
}

}  // namespace xdpgw::test
