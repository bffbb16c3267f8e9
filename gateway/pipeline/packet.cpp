#include "pipeline/packet.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace xdpgw::pipeline {

const char* to_string(ParseStatus s) {
  switch (s) {
    case ParseStatus::Ok: return "ok";
    case ParseStatus::TooShort: return "too_short";
    case ParseStatus::NotIp: return "not_ip";
    case ParseStatus::BadIpHeader: return "bad_ip_header";
    case ParseStatus::NotTcpUdp: return "not_tcp_udp";
    case ParseStatus::Fragment: return "fragment";
  }
  return "?";
}

namespace {
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
}  // namespace

ParseStatus parse(std::span<const uint8_t> f, ParsedPacket& out) {
  constexpr std::size_t kEth = 14;
  if (f.size() < kEth) return ParseStatus::TooShort;
  out = ParsedPacket{};
  out.l3_off = kEth;
  const uint16_t type = be16(&f[12]);
  std::size_t l4 = 0;
  if (type == 0x0800) {
    if (f.size() < kEth + 20) return ParseStatus::TooShort;
    const uint8_t* ip = &f[kEth];
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < 20) return ParseStatus::BadIpHeader;
    if ((be16(ip + 6) & 0x3fff) != 0) return ParseStatus::Fragment;
    out.key.family = AF_INET;
    out.key.proto = ip[9];
    std::memcpy(out.key.src, ip + 12, 4);
    std::memcpy(out.key.dst, ip + 16, 4);
    l4 = kEth + ihl;
  } else if (type == 0x86dd) {
    if (f.size() < kEth + 40) return ParseStatus::TooShort;
    const uint8_t* ip6 = &f[kEth];
    if ((ip6[0] >> 4) != 6) return ParseStatus::BadIpHeader;
    out.key.family = AF_INET6;
    out.key.proto = ip6[6];
    std::memcpy(out.key.src, ip6 + 8, 16);
    std::memcpy(out.key.dst, ip6 + 24, 16);
    l4 = kEth + 40;
  } else {
    return ParseStatus::NotIp;
  }
  if (out.key.proto != IPPROTO_TCP && out.key.proto != IPPROTO_UDP) return ParseStatus::NotTcpUdp;
  if (f.size() < l4 + 4) return ParseStatus::TooShort;
  out.sport = be16(&f[l4]);
  out.dport = be16(&f[l4 + 2]);
  // Network order in the key, as XDP stores the header's bytes.
  std::memcpy(&out.key.sport, &f[l4], 2);
  std::memcpy(&out.key.dport, &f[l4 + 2], 2);
  return ParseStatus::Ok;
}

}  // namespace xdpgw::pipeline
