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

constexpr std::size_t kEth = 14;
constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;  // 802.1Q
constexpr uint16_t kEthQinq = 0x88a8;  // 802.1ad

// The IPv6 extension headers XDP walks past to the upper-layer header
// (bpf/lib/parse.h); ESP and "no next header" end the chain there too.
bool ipv6_extension(uint8_t next) {
  switch (next) {
    case IPPROTO_HOPOPTS:
    case IPPROTO_ROUTING:
    case IPPROTO_DSTOPTS:
    case IPPROTO_FRAGMENT:
    case IPPROTO_AH:
    case IPPROTO_MH:
      return true;
    default:
      return false;
  }
}

}  // namespace

ParseStatus parse(std::span<const uint8_t> f, ParsedPacket& out) {
  if (f.size() < kEth) return ParseStatus::TooShort;
  out = ParsedPacket{};
  std::size_t l3 = kEth;
  uint16_t type = be16(&f[12]);
  // XDP punts tagged frames too (the router, which leaves them to the
  // kernel's VLAN devices, comes after punt), so the key skips the tags.
  while (type == kEthVlan || type == kEthQinq) {
    if (out.vlan_depth == XDPGW_VLAN_MAX_DEPTH) return ParseStatus::NotIp;  // XDP drops these
    if (f.size() < l3 + 4) return ParseStatus::TooShort;
    type = be16(&f[l3 + 2]);
    l3 += 4;
    ++out.vlan_depth;
  }
  out.l3_off = static_cast<uint16_t>(l3);
  std::size_t l4 = 0;
  if (type == kEthIpv4) {
    if (f.size() < l3 + 20) return ParseStatus::TooShort;
    const uint8_t* ip = &f[l3];
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < 20) return ParseStatus::BadIpHeader;
    if ((be16(ip + 6) & 0x3fff) != 0) return ParseStatus::Fragment;
    out.key.family = AF_INET;
    out.key.proto = ip[9];
    std::memcpy(out.key.src, ip + 12, 4);
    std::memcpy(out.key.dst, ip + 16, 4);
    l4 = l3 + ihl;
  } else if (type == kEthIpv6) {
    if (f.size() < l3 + 40) return ParseStatus::TooShort;
    const uint8_t* ip6 = &f[l3];
    if ((ip6[0] >> 4) != 6) return ParseStatus::BadIpHeader;
    out.key.family = AF_INET6;
    std::memcpy(out.key.src, ip6 + 8, 16);
    std::memcpy(out.key.dst, ip6 + 24, 16);
    uint8_t next = ip6[6];
    l4 = l3 + 40;
    for (int i = 0; ipv6_extension(next); ++i) {
      if (i == XDPGW_IPV6_EXT_MAX_CHAIN) return ParseStatus::BadIpHeader;  // XDP drops these
      // XDP never punts a fragment, whatever follows it.
      if (next == IPPROTO_FRAGMENT) return ParseStatus::Fragment;
      if (f.size() < l4 + 2) return ParseStatus::TooShort;
      const std::size_t len = next == IPPROTO_AH ? (f[l4 + 1] + 2u) * 4 : (f[l4 + 1] + 1u) * 8;
      next = f[l4];
      l4 += len;
    }
    out.key.proto = next;
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
