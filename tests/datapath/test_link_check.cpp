// The daemon's check for veth ports whose peer runs no XDP program (where
// redirected frames vanish), on real veths in namespaces the test creates.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include "datapath/link_check.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"

namespace xdpgw::test {
namespace {

TEST(LinkCheck, VethPeerInAnotherNamespaceWithoutXdpIsReported) {
  Netns gw("gw");
  Netns host("host");
  VethPair port(gw, host);
  auto in = gw.enter();

  auto peer = link_check::veth_peer(static_cast<uint32_t>(port.ifindex_a()));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->peer_ifindex, static_cast<uint32_t>(port.ifindex_b()));
  EXPECT_TRUE(peer->peer_netnsid.has_value());
  EXPECT_FALSE(peer->peer_has_xdp);
  EXPECT_EQ(peer->peer_gro, false);
  EXPECT_EQ(peer->peer_name, port.name_b());
  auto warning = link_check::redirect_target_warning(port.name_a(),
                                                     static_cast<uint32_t>(port.ifindex_a()));
  ASSERT_TRUE(warning);
  EXPECT_NE(warning->find(port.name_a()), std::string::npos);
  EXPECT_NE(warning->find("no XDP program and has GRO off"), std::string::npos) << *warning;
}

TEST(LinkCheck, VethPeerWithXdpIsFine) {
  Netns gw("gw");
  Netns host("host");
  VethPair port(gw, host);
  auto pass = load_constant_xdp_prog(XDP_PASS);
  XdpAttachment on_peer(host, port.ifindex_b(), pass.get());
  auto in = gw.enter();

  auto peer = link_check::veth_peer(static_cast<uint32_t>(port.ifindex_a()));
  ASSERT_TRUE(peer);
  EXPECT_TRUE(peer->peer_has_xdp);
  EXPECT_EQ(link_check::redirect_target_warning(port.name_a(),
                                                static_cast<uint32_t>(port.ifindex_a())),
            std::nullopt);
}

TEST(LinkCheck, VethPeerWithGroIsFine) {
  Netns gw("gw");
  Netns host("host");
  VethPair port(gw, host);
  host.exec_ok("ethtool -K " + port.name_b() + " gro on");
  auto in = gw.enter();
  auto peer = link_check::veth_peer(static_cast<uint32_t>(port.ifindex_a()));
  ASSERT_TRUE(peer);
  EXPECT_FALSE(peer->peer_has_xdp);
  EXPECT_EQ(peer->peer_gro, true);
  EXPECT_EQ(link_check::redirect_target_warning(port.name_a(),
                                                static_cast<uint32_t>(port.ifindex_a())),
            std::nullopt);
}

TEST(LinkCheck, VethPeerInTheSameNamespace) {
  Netns gw("gw");
  VethPair pair(gw, gw);
  auto in = gw.enter();
  auto peer = link_check::veth_peer(static_cast<uint32_t>(pair.ifindex_a()));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->peer_ifindex, static_cast<uint32_t>(pair.ifindex_b()));
  EXPECT_FALSE(peer->peer_netnsid.has_value());
  EXPECT_FALSE(peer->peer_has_xdp);
}

TEST(LinkCheck, NonVethIsNotReported) {
  Netns gw("gw");
  auto in = gw.enter();
  EXPECT_EQ(link_check::veth_peer(1), std::nullopt);  // loopback
  EXPECT_EQ(link_check::redirect_target_warning("lo", 1), std::nullopt);
}

}  // namespace
}  // namespace xdpgw::test
