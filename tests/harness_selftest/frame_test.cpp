// FrameBuilder, checksum helpers and parsers, checked against references that
// do not come from the builder: frames produced by scapy (hex below), the
// published IPv4 header example, and hand-assembled pseudo-headers.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "harness/frame.hpp"

namespace xdpgw::test {
namespace {

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

uint16_t field16(const std::vector<uint8_t>& frame, std::size_t offset) {
  return static_cast<uint16_t>(frame.at(offset) << 8 | frame.at(offset + 1));
}

const MacAddr kMacA = mac("02:00:00:00:00:01");
const MacAddr kMacB = mac("02:00:00:00:00:02");

// ---- parsers ----

TEST(AddressParsers, ParseValidText) {
  EXPECT_EQ(mac("02:00:0a:ff:Fe:01"), (MacAddr{0x02, 0x00, 0x0a, 0xff, 0xfe, 0x01}));
  EXPECT_EQ(ipv4("198.18.0.1"), (Ipv4Addr{198, 18, 0, 1}));
  Ipv6Addr expected{};
  expected[0] = 0x20;
  expected[1] = 0x01;
  expected[3] = 0x02;
  expected[15] = 0x01;
  EXPECT_EQ(ipv6("2001:2::1"), expected);
  EXPECT_EQ(to_string(mac("02:00:0a:ff:fe:01")), "02:00:0a:ff:fe:01");
}

TEST(AddressParsers, RejectMalformedText) {
  EXPECT_THROW(mac("02:00:00:00:00"), std::invalid_argument);
  EXPECT_THROW(mac("02-00-00-00-00-01"), std::invalid_argument);
  EXPECT_THROW(mac("02:00:00:00:00:0g"), std::invalid_argument);
  EXPECT_THROW(ipv4("198.18.0"), std::invalid_argument);
  EXPECT_THROW(ipv4("2001:2::1"), std::invalid_argument);
  EXPECT_THROW(ipv6("2001:2:::1"), std::invalid_argument);
}

// ---- byte-exact against scapy ----

struct ReferenceCase {
  std::string name;
  std::vector<uint8_t> built;
  std::string scapy_hex;  // bytes(frame).hex() from Debian's python3-scapy
};

std::vector<ReferenceCase> reference_cases() {
  const Ipv4Addr a4 = ipv4("198.18.0.1");
  const Ipv4Addr b4 = ipv4("198.18.1.1");
  const Ipv6Addr a6 = ipv6("2001:2::1");
  const Ipv6Addr b6 = ipv6("2001:2:0:1::1");
  std::vector<uint8_t> counting(18);
  for (std::size_t i = 0; i < counting.size(); ++i) counting[i] = static_cast<uint8_t>(i);
  return {
      {"udp4",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv4({.src = a4, .dst = b4, .ttl = 64, .id = 0x1234, .dont_fragment = true})
           .udp({.sport = 1234, .dport = 5678})
           .payload(counting)
           .build(),
       "02000000000202000000000108004500002e1234400040119b64c6120001c612010104d2162e001a0f42000102"
       "030405060708090a0b0c0d0e0f1011"},
      {"tcp4_opts",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv4({.src = a4, .dst = b4, .ttl = 17, .tos = 0x10, .id = 7})
           .tcp({.sport = 40000,
                 .dport = 80,
                 .seq = 0x01020304,
                 .ack = 0x0a0b0c0d,
                 .flags = tcp_flags::kSyn | tcp_flags::kAck,
                 .window = 1024,
                 .options = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07}})
           .payload_text("hello")
           .build(),
       "0200000000020200000000010800451000350007000011061c86c6120001c61201019c400050010203040a0b0c"
       "0d70120400f85b0000020405b40103030768656c6c6f"},
      {"icmp4_qinq_vlan",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .qinq(100)
           .vlan(200)
           .ipv4({.src = a4, .dst = b4})
           .icmp_echo(0x4242, 7)
           .payload(10)
           .build(),
       "02000000000202000000000188a80064810000c8080045000026000000004001edb0c6120001c6120101080"
       "0a19d4242000700010203040506070809"},
      {"tcp6",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv6({.src = a6, .dst = b6, .flow_label = 0x12345})
           .tcp({.sport = 40000, .dport = 443, .seq = 1, .flags = tcp_flags::kSyn})
           .build(),
       "02000000000202000000000186dd6001234500140640200100020000000000000000000000012001000200000"
       "00100000000000000019c4001bb00000001000000005002ffffd1dd0000"},
      {"icmp6_echo",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv6({.src = a6, .dst = b6})
           .icmpv6_echo(0x1111, 2)
           .payload(8)
           .build(),
       "02000000000202000000000186dd6000000000103a4020010002000000000000000000000001200100020000"
       "0001000000000000000180002289111100020001020304050607"},
      {"udp6_ext_chain",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv6({.src = a6, .dst = b6})
           .hop_by_hop()
           .routing(253, 0)
           .dest_opts()
           .fragment(0, false, 1)
           .udp({.sport = 1, .dport = 2})
           .payload_text("abc")
           .build(),
       "02000000000202000000000186dd60000000002b004020010002000000000000000000000001200100020000"
       "000100000000000000012b000104000000003c00fd00000000002c000104000000001100000000000001000100"
       "02000bfb69616263"},
      {"ipip_tcp",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv4({.src = a4, .dst = ipv4("198.18.9.9")})
           .ipv4({.src = a4, .dst = b4})
           .tcp({.sport = 1000, .dport = 2000, .seq = 5, .ack = 6})
           .build(),
       "02000000000202000000000108004500003c000000004004e58fc6120001c612090945000028000000004006ed"
       "a9c6120001c612010103e807d000000005000000065010ffff16eb0000"},
  };
}

TEST(FrameBuilder, MatchesScapyReferenceFrames) {
  for (const ReferenceCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<uint8_t> expected = from_hex(c.scapy_hex);
    EXPECT_EQ(c.built, expected) << "built:\n"
                                 << hex_dump(c.built) << "scapy:\n"
                                 << hex_dump(expected);
    EXPECT_EQ(checksum_error(expected), std::nullopt);
  }
}

// The worked example of Wikipedia's "Internet checksum" / IPv4 header pages: a
// 115-byte UDP datagram from 192.168.0.1 to 192.168.0.199 (DF, TTL 64, id 0)
// has header checksum 0xb861.
TEST(FrameBuilder, Ipv4HeaderMatchesPublishedExample) {
  const std::vector<uint8_t> frame =
      FrameBuilder()
          .eth(kMacB, kMacA)
          .ipv4({.src = ipv4("192.168.0.1"), .dst = ipv4("192.168.0.199"), .dont_fragment = true})
          .udp({.sport = 1, .dport = 2})
          .payload(0x73 - 20 - 8)
          .build();
  const std::vector<uint8_t> expected_header =
      from_hex("45000073000040004011b861c0a80001c0a800c7");
  EXPECT_EQ(std::vector<uint8_t>(frame.begin() + 14, frame.begin() + 34), expected_header);
}

TEST(Checksums, Ipv4HeaderChecksumIgnoresTheCurrentField) {
  std::vector<uint8_t> header = from_hex("450000730000400040110000c0a80001c0a800c7");
  EXPECT_EQ(ipv4_header_checksum(header), 0xb861);
  header[10] = 0x12;
  header[11] = 0x34;
  EXPECT_EQ(ipv4_header_checksum(header), 0xb861);
  EXPECT_THROW(ipv4_header_checksum(std::span(header).first(19)), std::invalid_argument);
}

// Pseudo-header and segment assembled by hand from the field values, summed
// with an independent loop, then compared with what the builder wrote.
TEST(Checksums, UdpChecksumEqualsHandComputedValue) {
  const std::vector<uint8_t> frame = FrameBuilder()
                                         .eth(kMacB, kMacA)
                                         .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
                                         .udp({.sport = 0x1111, .dport = 0x2222})
                                         .payload({0xde, 0xad, 0xbe})
                                         .build();
  const std::vector<uint8_t> pseudo_and_segment = {
      10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 11,           // pseudo-header: src, dst, 0, 17, len 11
      0x11, 0x11, 0x22, 0x22, 0, 11, 0, 0,               // UDP header, checksum zeroed
      0xde, 0xad, 0xbe, 0x00};                           // payload padded to even length
  uint32_t sum = 0;
  for (std::size_t i = 0; i < pseudo_and_segment.size(); i += 2) {
    sum += static_cast<uint32_t>(pseudo_and_segment[i]) * 256 + pseudo_and_segment[i + 1];
  }
  while (sum > 0xffff) sum = (sum >> 16) + (sum & 0xffff);
  const uint16_t expected = static_cast<uint16_t>(0xffff - sum);
  EXPECT_EQ(field16(frame, 14 + 20 + 6), expected);
  EXPECT_EQ(field16(frame, 14 + 20 + 4), 11);  // UDP length
  EXPECT_EQ(field16(frame, 14 + 2), 31);       // IPv4 total length
}

TEST(Checksums, UdpNeverWritesZeroChecksum) {
  // Sweep a 2-byte payload through every value: exactly the one whose
  // checksum computes to 0 must come out as 0xffff (RFC 768).
  int all_ones_seen = 0;
  for (uint32_t value = 0; value <= 0xffff; ++value) {
    const std::vector<uint8_t> frame =
        FrameBuilder()
            .eth(kMacB, kMacA)
            .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
            .udp({.sport = 7, .dport = 9})
            .payload({static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)})
            .build();
    const uint16_t checksum = field16(frame, 14 + 20 + 6);
    ASSERT_NE(checksum, 0) << "payload " << value;
    if (checksum == 0xffff) ++all_ones_seen;
  }
  // The payload whose checksum computes to 0 was written as 0xffff (a real
  // 0xffff would need a one's-complement sum of 0, which this header cannot give).
  EXPECT_EQ(all_ones_seen, 1);
}

TEST(Checksums, ZeroUdpChecksumAllowedOverIpv4Only) {
  const auto v4 = FrameBuilder()
                      .eth(kMacB, kMacA)
                      .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
                      .udp({.sport = 7, .dport = 9, .zero_checksum = true})
                      .payload(5)
                      .build();
  EXPECT_EQ(field16(v4, 14 + 20 + 6), 0);
  EXPECT_EQ(checksum_error(v4), std::nullopt);
  const auto v6 = FrameBuilder()
                      .eth(kMacB, kMacA)
                      .ipv6({.src = ipv6("2001:2::1"), .dst = ipv6("2001:2::2")})
                      .udp({.sport = 7, .dport = 9, .zero_checksum = true})
                      .build();
  EXPECT_NE(checksum_error(v6), std::nullopt);
}

// ---- structure ----

TEST(FrameBuilder, StacksThreeTagsWithTpidsInOrder) {
  const auto frame = FrameBuilder()
                         .eth(kMacB, kMacA)
                         .qinq(0x0064)
                         .vlan(0x00c8)
                         .vlan(0x012c)
                         .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
                         .udp({.sport = 1, .dport = 2})
                         .build();
  EXPECT_EQ(field16(frame, 12), ethertype::kQinq);
  EXPECT_EQ(field16(frame, 14), 0x0064);
  EXPECT_EQ(field16(frame, 16), ethertype::kVlan);
  EXPECT_EQ(field16(frame, 18), 0x00c8);
  EXPECT_EQ(field16(frame, 20), ethertype::kVlan);
  EXPECT_EQ(field16(frame, 22), 0x012c);
  EXPECT_EQ(field16(frame, 24), ethertype::kIpv4);
  EXPECT_EQ(frame.at(26), 0x45);
  EXPECT_EQ(frame.size(), 26u + 20 + 8);
  EXPECT_EQ(checksum_error(frame), std::nullopt);
}

TEST(FrameBuilder, Ipv6ExtensionChainLinksNextHeaders) {
  const auto frame = FrameBuilder()
                         .eth(kMacB, kMacA)
                         .ipv6({.src = ipv6("2001:2::1"), .dst = ipv6("2001:2::2")})
                         .hop_by_hop(1)
                         .routing()
                         .dest_opts()
                         .fragment(0, false)
                         .tcp({.sport = 1, .dport = 2})
                         .build();
  const std::size_t ip = 14;
  EXPECT_EQ(frame.at(ip + 6), ip_proto::kHopByHop);
  std::size_t ext = ip + 40;
  EXPECT_EQ(frame.at(ext), ip_proto::kRouting);
  EXPECT_EQ(frame.at(ext + 1), 1);  // hdr_ext_len 1: 16 bytes
  ext += 16;
  EXPECT_EQ(frame.at(ext), ip_proto::kDestOpts);
  ext += 8;
  EXPECT_EQ(frame.at(ext), ip_proto::kFragment);
  ext += 8;
  EXPECT_EQ(frame.at(ext), ip_proto::kTcp);
  ext += 8;
  EXPECT_EQ(field16(frame, ip + 4), 16 + 8 + 8 + 8 + 20);  // payload length covers the chain
  EXPECT_EQ(frame.size(), ext + 20);
  EXPECT_EQ(checksum_error(frame), std::nullopt);
}

TEST(FrameBuilder, LargeOptionAreasUseSkippableOptionsNotLongPadding) {
  const auto frame = FrameBuilder()
                         .eth(kMacB, kMacA)
                         .ipv6({})
                         .hop_by_hop(1)
                         .dest_opts(40)
                         .build();
  const std::size_t hbh = 14 + 40;
  // 14-byte area: one experimental option (type 0x1e, 12 data bytes).
  EXPECT_EQ(std::vector<uint8_t>(frame.begin() + hbh, frame.begin() + hbh + 4),
            (std::vector<uint8_t>{ip_proto::kDestOpts, 1, 0x1e, 12}));
  // 326-byte area: options of 257 and 69 bytes, no padding run at all.
  const std::size_t dest = hbh + 16;
  EXPECT_EQ(frame.at(dest + 1), 40);
  EXPECT_EQ(frame.at(dest + 2), 0x1e);
  EXPECT_EQ(frame.at(dest + 3), 255);
  EXPECT_EQ(frame.at(dest + 2 + 257), 0x1e);
  EXPECT_EQ(frame.at(dest + 2 + 257 + 1), 67);
  EXPECT_EQ(frame.size(), dest + 41 * 8);
}

TEST(FrameBuilder, DefaultsForUnknownNextLayers) {
  const auto bare = FrameBuilder().eth(kMacB, kMacA).payload(4).build();
  EXPECT_EQ(field16(bare, 12), ethertype::kExperimental);
  const auto arp = FrameBuilder().eth(kMacB, kMacA).ethertype(ethertype::kArp).payload(28).build();
  EXPECT_EQ(field16(arp, 12), ethertype::kArp);
  const auto v4 = FrameBuilder().eth(kMacB, kMacA).ipv4({}).payload(4).build();
  EXPECT_EQ(v4.at(14 + 9), ip_proto::kExperimental);
  const auto gre = FrameBuilder().eth(kMacB, kMacA).ipv4({.protocol = 47}).payload(4).build();
  EXPECT_EQ(gre.at(14 + 9), 47);
  const auto v6 = FrameBuilder().eth(kMacB, kMacA).ipv6({}).build();
  EXPECT_EQ(v6.at(14 + 6), ip_proto::kNoNext);
}

TEST(FrameBuilder, PayloadVariantsAndTrailer) {
  const auto frame = FrameBuilder()
                         .eth(kMacB, kMacA)
                         .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
                         .udp({.sport = 1, .dport = 2})
                         .payload(3)
                         .payload({9, 8})
                         .payload_text("hi")
                         .eth_trailer(6, 0xee)
                         .build();
  const std::vector<uint8_t> tail(frame.end() - 13, frame.end());
  EXPECT_EQ(tail, (std::vector<uint8_t>{0, 1, 2, 9, 8, 'h', 'i', 0xee, 0xee, 0xee, 0xee, 0xee, 0xee}));
  EXPECT_EQ(field16(frame, 16), 20 + 8 + 7);  // total length excludes the trailer
  EXPECT_EQ(field16(frame, 38), 8 + 7);       // UDP length too
  EXPECT_EQ(checksum_error(frame), std::nullopt);
}

TEST(FrameBuilder, Ipv4OptionsArePaddedAndCountedInIhl) {
  const auto frame = FrameBuilder()
                         .eth(kMacB, kMacA)
                         .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2"), .options = {1, 1, 1, 1, 1}})
                         .tcp({.sport = 1, .dport = 2, .options = {2, 4, 5, 0xb4, 1}})
                         .build();
  EXPECT_EQ(frame.at(14) & 0x0f, 7);           // 20 + 8 bytes of options
  EXPECT_EQ(frame.at(14 + 28 + 12) >> 4, 7);   // TCP doff: 20 + 8
  EXPECT_EQ(frame.size(), 14u + 28 + 28);
  EXPECT_EQ(checksum_error(frame), std::nullopt);
}

// ---- malformed frames ----

struct MalformedCase {
  std::string name;
  std::vector<uint8_t> frame;
  std::string expected_problem;  // substring of checksum_error()
};

std::vector<MalformedCase> malformed_cases() {
  auto v4_tcp = [] {
    return FrameBuilder()
        .eth(kMacB, kMacA)
        .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
        .tcp({.sport = 1, .dport = 2})
        .payload(10);
  };
  auto v4_udp = [] {
    return FrameBuilder()
        .eth(kMacB, kMacA)
        .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
        .udp({.sport = 1, .dport = 2})
        .payload(10);
  };
  auto v6 = [] {
    return FrameBuilder().eth(kMacB, kMacA).ipv6({.src = ipv6("2001:2::1"), .dst = ipv6("2001:2::2")});
  };
  return {
      {"ihl_below_minimum", v4_tcp().ipv4_ihl(4).build(), "IHL"},
      {"total_length_beyond_frame", v4_tcp().ipv4_total_length(1000).build(), "total length"},
      {"total_length_below_header", v4_tcp().ipv4_total_length(19).build(), "total length"},
      {"bad_ipv4_checksum", v4_tcp().bad_ipv4_checksum().build(), "header checksum"},
      {"explicit_ipv4_checksum", v4_tcp().ipv4_checksum(0x1234).build(), "header checksum"},
      {"ipv6_payload_length_beyond_frame", v6().udp({}).ipv6_payload_length(100).build(), "payload length"},
      {"tcp_doff_below_minimum", v4_tcp().tcp_doff(4).build(), "data offset"},
      {"tcp_doff_beyond_segment", v4_tcp().tcp_doff(15).build(), "data offset"},
      {"udp_length_mismatch", v4_udp().udp_length(9).build(), "UDP: length"},
      {"bad_tcp_checksum", v4_tcp().bad_l4_checksum().build(), "TCP: checksum"},
      {"bad_udp_checksum", v4_udp().bad_l4_checksum().build(), "UDP: checksum"},
      {"bad_icmp_checksum",
       FrameBuilder().eth(kMacB, kMacA).ipv4({}).icmp_echo(1, 1).bad_l4_checksum().build(),
       "ICMP: checksum"},
      {"bad_icmpv6_checksum", v6().icmpv6_echo(1, 1).bad_l4_checksum().build(), "ICMPv6: checksum"},
      {"explicit_l4_checksum", v4_udp().l4_checksum(0x0001).build(), "UDP: checksum"},
      {"bad_inner_tcp_checksum_in_ipip",
       FrameBuilder()
           .eth(kMacB, kMacA)
           .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.9")})
           .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
           .tcp({})
           .bad_l4_checksum()
           .build(),
       "TCP: checksum"},
      {"truncated_tcp", truncate(v4_tcp().build(), 14 + 20 + 10), "total length"},
      {"truncated_ethernet", truncate(v4_tcp().build(), 13), "Ethernet"},
  };
}

TEST(FrameBuilder, OverridesProduceTheIntendedFault) {
  for (const MalformedCase& c : malformed_cases()) {
    SCOPED_TRACE(c.name);
    const std::optional<std::string> problem = checksum_error(c.frame);
    ASSERT_TRUE(problem.has_value()) << hex_dump(c.frame);
    EXPECT_NE(problem->find(c.expected_problem), std::string::npos) << *problem;
    EXPECT_FALSE(l4_checksum_ok(c.frame));
  }
}

TEST(FrameBuilder, OverridesChangeOnlyTheirField) {
  auto base = [] {
    return FrameBuilder()
        .eth(kMacB, kMacA)
        .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
        .udp({.sport = 1, .dport = 2})
        .payload(6);
  };
  const auto good = base().build();
  const auto odd_length = base().udp_length(300).build();
  ASSERT_EQ(good.size(), odd_length.size());
  for (std::size_t i = 0; i < good.size(); ++i) {
    if (i == 38 || i == 39 || i == 40 || i == 41) continue;  // UDP length and its checksum
    EXPECT_EQ(good[i], odd_length[i]) << "byte " << i;
  }
  EXPECT_EQ(field16(odd_length, 38), 300);
}

TEST(FrameBuilder, MisuseIsReported) {
  EXPECT_THROW(FrameBuilder().tcp_doff(5), std::logic_error);
  EXPECT_THROW(FrameBuilder().eth(kMacB, kMacA).bad_l4_checksum(), std::logic_error);
  EXPECT_THROW(FrameBuilder().ethertype(0x0800), std::logic_error);
  EXPECT_THROW(FrameBuilder().eth(kMacB, kMacA).tcp({}).build(), std::logic_error);
  EXPECT_THROW(FrameBuilder().eth(kMacB, kMacA).ipv4({.options = std::vector<uint8_t>(41)}).build(),
               std::length_error);
}

// ---- checker ----

TEST(ChecksumError, DetectsEveryByteFlipAfterTheEthernetHeader) {
  const auto frame = FrameBuilder()
                         .eth(kMacB, kMacA)
                         .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2")})
                         .tcp({.sport = 1, .dport = 2, .seq = 77})
                         .payload(9)
                         .build();
  ASSERT_EQ(checksum_error(frame), std::nullopt);
  for (std::size_t i = 14; i < frame.size(); ++i) {
    std::vector<uint8_t> flipped = frame;
    flipped[i] ^= 0x01;
    EXPECT_NE(checksum_error(flipped), std::nullopt) << "flip in byte " << i << " went unnoticed";
  }
}

TEST(ChecksumError, SkipsL4OfFragmentsAndNonIpFrames) {
  const auto later_fragment = FrameBuilder()
                                  .eth(kMacB, kMacA)
                                  .ipv4({.src = ipv4("10.0.0.1"), .dst = ipv4("10.0.0.2"), .frag_offset = 185})
                                  .payload(16)
                                  .build();
  EXPECT_EQ(checksum_error(later_fragment), std::nullopt);
  EXPECT_EQ(field16(later_fragment, 20), 185);
  const auto arp = FrameBuilder().eth(kMacB, kMacA).ethertype(ethertype::kArp).payload(28).build();
  EXPECT_EQ(checksum_error(arp), std::nullopt);
}

TEST(Truncate, KeepsPrefixAndRejectsGrowing) {
  const auto frame = FrameBuilder().eth(kMacB, kMacA).ipv4({}).udp({}).build();
  const auto cut = truncate(frame, 20);
  EXPECT_EQ(cut, std::vector<uint8_t>(frame.begin(), frame.begin() + 20));
  EXPECT_EQ(truncate(frame, frame.size()), frame);
  EXPECT_TRUE(truncate(frame, 0).empty());
  EXPECT_THROW(truncate(frame, frame.size() + 1), std::out_of_range);
}

TEST(HexDump, SixteenBytesPerLine) {
  std::vector<uint8_t> bytes(17, 0xab);
  EXPECT_EQ(hex_dump(bytes),
            "0000  ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab\n0010  ab\n");
}

}  // namespace
}  // namespace xdpgw::test
