// Source-NAT housekeeping in the daemon: which timeout a translation's state
// gets, and the expiry pass on real kernel HASH maps shaped like the
// datapath's (snat_flows, snat_ports): expired flows go with their ports,
// live ones and ports another flow owns stay. Also the apply-side helpers
// (masquerade address, ownership check).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

#include "common/fd.hpp"
#include "daemon/snat_table.hpp"
#include "datapath/snat_apply.hpp"

namespace xdpgw::daemon {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

TEST(SnatTimeouts, FollowTheFlowsState) {
  config::NatTimeouts t;
  EXPECT_EQ(snat_timeout_s(IPPROTO_TCP, XDPGW_SNAT_S_SYN_OUT, t), t.tcp_transitory_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_TCP, XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN, t), t.tcp_established_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_TCP, XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN | XDPGW_SNAT_S_FIN_OUT, t),
            t.tcp_transitory_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_TCP,
                           XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN | XDPGW_SNAT_S_FIN_OUT | XDPGW_SNAT_S_FIN_IN, t),
            t.tcp_closed_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_TCP, XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN | XDPGW_SNAT_S_RST, t),
            t.tcp_closed_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_UDP, XDPGW_SNAT_S_OUT, t), t.udp_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_UDP, XDPGW_SNAT_S_OUT | XDPGW_SNAT_S_IN, t), t.udp_replied_s);
  EXPECT_EQ(snat_timeout_s(IPPROTO_ICMP, XDPGW_SNAT_S_OUT | XDPGW_SNAT_S_IN, t), t.icmp_s);
}

class SnatExpiry : public ::testing::Test {
 protected:
  SnatExpiry()
      : flows_(bpf_map_create(BPF_MAP_TYPE_HASH, "t_snat_flows", sizeof(xdpgw_flow_key),
                              sizeof(xdpgw_snat_flow), 64, nullptr)),
        ports_(bpf_map_create(BPF_MAP_TYPE_HASH, "t_snat_ports", sizeof(xdpgw_snat_port_key),
                              sizeof(xdpgw_flow_key), 64, nullptr)) {}

  // A translation of inside port `sport` to 198.18.2.1:`port`, last seen at
  // `last_seen_ns`.
  xdpgw_flow_key add(uint8_t proto, uint16_t sport, uint16_t port, uint32_t state, uint64_t last_seen_ns) {
    xdpgw_flow_key k{};
    k.src[0] = 198, k.src[1] = 18, k.src[2] = 1, k.src[3] = 2;
    k.dst[0] = 198, k.dst[1] = 18, k.dst[2] = 2, k.dst[3] = 2;
    k.sport = htons(sport);
    k.dport = htons(80);
    k.proto = proto;
    k.family = AF_INET;
    xdpgw_snat_flow f{};
    f.addr = htonl(0xC6120201);
    f.port = htons(port);
    f.state = state;
    f.last_seen_ns = last_seen_ns;
    EXPECT_EQ(bpf_map_update_elem(flows_.get(), &k, &f, BPF_NOEXIST), 0);
    const xdpgw_snat_port_key pk = port_key(proto, port);
    EXPECT_EQ(bpf_map_update_elem(ports_.get(), &pk, &k, BPF_NOEXIST), 0);
    return k;
  }
  static xdpgw_snat_port_key port_key(uint8_t proto, uint16_t port) {
    return {.addr = htonl(0xC6120201), .port = htons(port), .proto = proto, .pad = 0};
  }
  bool has_flow(const xdpgw_flow_key& k) const {
    xdpgw_snat_flow f{};
    return bpf_map_lookup_elem(flows_.get(), &k, &f) == 0;
  }
  bool has_port(uint8_t proto, uint16_t port) const {
    const xdpgw_snat_port_key pk = port_key(proto, port);
    xdpgw_flow_key owner{};
    return bpf_map_lookup_elem(ports_.get(), &pk, &owner) == 0;
  }

  UniqueFd flows_;
  UniqueFd ports_;
};

TEST_F(SnatExpiry, IdleFlowsPastTheirTimeoutGoWithTheirPortsAndTheOthersStay) {
  ASSERT_TRUE(flows_ && ports_);
  config::NatTimeouts t;
  t.udp_s = 30;
  t.tcp_established_s = 7200;
  const uint64_t now = 10'000 * kSecond;
  const auto idle_udp = add(IPPROTO_UDP, 5000, 2000, XDPGW_SNAT_S_OUT, now - 31 * kSecond);
  const auto busy_udp = add(IPPROTO_UDP, 5001, 2001, XDPGW_SNAT_S_OUT, now - 29 * kSecond);
  const auto tcp = add(IPPROTO_TCP, 5002, 2002, XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN, now - 3600 * kSecond);
  const auto closed = add(IPPROTO_TCP, 5003, 2003,
                          XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN | XDPGW_SNAT_S_RST, now - 11 * kSecond);

  const SnatExpiryPass pass = expire_snat(flows_.get(), ports_.get(), t, now);
  EXPECT_EQ(pass.scanned, 4u);
  EXPECT_EQ(pass.expired, (std::map<uint8_t, uint64_t>{{IPPROTO_UDP, 1}, {IPPROTO_TCP, 1}}));
  EXPECT_FALSE(has_flow(idle_udp));
  EXPECT_FALSE(has_port(IPPROTO_UDP, 2000));
  EXPECT_FALSE(has_flow(closed));
  EXPECT_FALSE(has_port(IPPROTO_TCP, 2003));
  EXPECT_TRUE(has_flow(busy_udp));
  EXPECT_TRUE(has_port(IPPROTO_UDP, 2001));
  EXPECT_TRUE(has_flow(tcp));
  EXPECT_TRUE(has_port(IPPROTO_TCP, 2002));
}

TEST_F(SnatExpiry, APortANewerFlowOwnsIsNeverFreedWithAnExpiredOne) {
  ASSERT_TRUE(flows_ && ports_);
  const uint64_t now = 10'000 * kSecond;
  const auto old = add(IPPROTO_UDP, 5000, 2000, XDPGW_SNAT_S_OUT, now - 100 * kSecond);
  // Another flow took the port over (as if the old one's port entry had
  // gone and XDP had given it away).
  xdpgw_flow_key newer = old;
  newer.sport = htons(6000);
  const xdpgw_snat_port_key pk = port_key(IPPROTO_UDP, 2000);
  ASSERT_EQ(bpf_map_update_elem(ports_.get(), &pk, &newer, BPF_EXIST), 0);
  expire_snat(flows_.get(), ports_.get(), config::NatTimeouts{}, now);
  EXPECT_FALSE(has_flow(old));
  EXPECT_TRUE(has_port(IPPROTO_UDP, 2000));
}

TEST_F(SnatExpiry, TranslationsToAnAddressNoLongerGivenOutAreEndedWithTheirPorts) {
  ASSERT_TRUE(flows_ && ports_);
  const auto k = add(IPPROTO_TCP, 5000, 2000, XDPGW_SNAT_S_SYN_OUT | XDPGW_SNAT_S_SYN_IN, 1);
  const uint32_t other = htonl(0xC6120209);
  const SnatExpiryPass kept = remove_snat_translations(
      flows_.get(), ports_.get(), [&](const xdpgw_flow_key&, const xdpgw_snat_flow& f) { return f.addr == other; });
  EXPECT_TRUE(kept.expired.empty());
  EXPECT_TRUE(has_flow(k));
  const SnatExpiryPass ended = remove_snat_translations(
      flows_.get(), ports_.get(), [&](const xdpgw_flow_key&, const xdpgw_snat_flow& f) { return f.addr != other; });
  EXPECT_EQ(ended.expired, (std::map<uint8_t, uint64_t>{{IPPROTO_TCP, 1}}));
  EXPECT_FALSE(has_flow(k));
  EXPECT_FALSE(has_port(IPPROTO_TCP, 2000));
}

TEST(SnatApply, MasqueradeTakesThePortsAddressAndOwnershipIsChecked) {
  config::Nat nat;
  config::SnatRule masq;
  masq.masquerade = true;
  masq.out_port = "wan";
  masq.when_full = config::SnatWhenFull::kPass;
  config::SnatRule fixed;
  fixed.to.push_back(*config::IpAddr::parse("198.18.2.9"));
  fixed.ports = {.first = 2000, .last = 2099};
  nat.rules = {masq, fixed};
  const auto values = snat_rule_values(nat, [](std::string_view port) -> std::optional<std::array<uint8_t, 4>> {
    if (port == "wan") return std::array<uint8_t, 4>{198, 18, 2, 1};
    return std::nullopt;
  });
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].addr_count, 1u);
  EXPECT_EQ(values[0].addrs[0], htonl(0xC6120201));
  EXPECT_EQ(values[0].flags, XDPGW_SNAT_F_PASS_WHEN_FULL);
  EXPECT_EQ(values[1].rule_id, 1u);
  EXPECT_EQ(values[1].addrs[0], htonl(0xC6120209));
  EXPECT_EQ(values[1].port_lo, 2000);
  EXPECT_EQ(values[1].port_hi, 2099);
  // No address on the masquerade port: no address to give.
  EXPECT_EQ(snat_rule_values(nat, [](std::string_view) { return std::nullopt; })[0].addr_count, 0u);

  EXPECT_NO_THROW(check_snat_addresses_owned(nat, {{198, 18, 2, 9}}));
  EXPECT_THROW(check_snat_addresses_owned(nat, {{198, 18, 2, 1}}), std::runtime_error);
}

}  // namespace
}  // namespace xdpgw::daemon
