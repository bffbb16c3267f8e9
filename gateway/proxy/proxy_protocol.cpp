#include "proxy/proxy_protocol.hpp"

#include <array>

namespace xdpgw::proxy {
namespace {

// "\r\n\r\n\0\r\nQUIT\n": the spec's signature, chosen to be invalid as the
// start of any text protocol.
constexpr std::array<uint8_t, 12> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr uint8_t kVersion2Proxy = 0x21;   // version 2 (high nibble), PROXY command
constexpr uint8_t kTcpOverIpv4 = 0x11;     // AF_INET, STREAM
constexpr uint8_t kTcpOverIpv6 = 0x21;     // AF_INET6, STREAM

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

template <typename Bytes>
void put(std::vector<uint8_t>& out, const Bytes& bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::array<unsigned char, 16> v6_bytes(const boost::asio::ip::address& a) {
  if (a.is_v6()) return a.to_v6().to_bytes();
  return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4()).to_bytes();
}

}  // namespace

std::vector<uint8_t> proxy_v2_header(const boost::asio::ip::tcp::endpoint& client,
                                     const boost::asio::ip::tcp::endpoint& vip) {
  std::vector<uint8_t> out;
  put(out, kSignature);
  out.push_back(kVersion2Proxy);
  if (client.address().is_v4() && vip.address().is_v4()) {
    out.push_back(kTcpOverIpv4);
    put16(out, 12);  // two IPv4 addresses and two ports
    put(out, client.address().to_v4().to_bytes());
    put(out, vip.address().to_v4().to_bytes());
  } else {
    out.push_back(kTcpOverIpv6);
    put16(out, 36);
    put(out, v6_bytes(client.address()));
    put(out, v6_bytes(vip.address()));
  }
  put16(out, client.port());
  put16(out, vip.port());
  return out;
}

}  // namespace xdpgw::proxy
