// The PROXY protocol v2 header against the bytes of HAProxy's spec
// (doc/proxy-protocol.txt, section 2.2): signature, version/command,
// family/transport, length, addresses, ports, all in network order.
#include <gtest/gtest.h>

#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "proxy/proxy_protocol.hpp"

namespace xdpgw::proxy {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

const std::vector<uint8_t> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

std::vector<uint8_t> with_signature(std::vector<uint8_t> rest) {
  std::vector<uint8_t> out = kSignature;
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

TEST(ProxyProtocolV2, TcpOverIpv4) {
  const auto header = proxy_v2_header(tcp::endpoint(make_address("198.18.1.2"), 50000),
                                      tcp::endpoint(make_address("198.18.100.1"), 80));
  EXPECT_EQ(header, with_signature({0x21, 0x11, 0x00, 0x0C,   // v2 PROXY, TCP/IPv4, 12 bytes
                                    198, 18, 1, 2, 198, 18, 100, 1,
                                    0xC3, 0x50, 0x00, 0x50}));  // 50000, 80
  EXPECT_EQ(header.size(), 28u);
}

TEST(ProxyProtocolV2, TcpOverIpv6) {
  const auto header = proxy_v2_header(tcp::endpoint(make_address("2001:db8::1"), 443),
                                      tcp::endpoint(make_address("2001:db8::100"), 8443));
  ASSERT_EQ(header.size(), 52u);
  EXPECT_EQ(std::vector<uint8_t>(header.begin() + 12, header.begin() + 16),
            (std::vector<uint8_t>{0x21, 0x21, 0x00, 0x24}));  // TCP/IPv6, 36 bytes
  EXPECT_EQ(header[16], 0x20);
  EXPECT_EQ(header[17], 0x01);
  EXPECT_EQ(header[31], 0x01);   // ...::1
  EXPECT_EQ(header[47], 0x00);   // ...::100
  EXPECT_EQ(header[46], 0x01);
  EXPECT_EQ(std::vector<uint8_t>(header.end() - 4, header.end()),
            (std::vector<uint8_t>{0x01, 0xBB, 0x20, 0xFB}));  // 443, 8443
}

// An IPv4 client of an IPv6 listener (or the reverse) is written as IPv6,
// the IPv4 address mapped (::ffff:a.b.c.d).
TEST(ProxyProtocolV2, MixedFamiliesAreIpv4MappedIpv6) {
  const auto header = proxy_v2_header(tcp::endpoint(make_address("198.18.1.2"), 1),
                                      tcp::endpoint(make_address("2001:db8::100"), 2));
  ASSERT_EQ(header.size(), 52u);
  EXPECT_EQ(header[13], 0x21);
  EXPECT_EQ(std::vector<uint8_t>(header.begin() + 16, header.begin() + 32),
            (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 1, 2}));
}

}  // namespace
}  // namespace xdpgw::proxy
