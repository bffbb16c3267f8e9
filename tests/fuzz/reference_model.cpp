#include "fuzz/reference_model.hpp"

#include <linux/bpf.h>

#include <algorithm>

#include <fmt/format.h>

#include "datapath/abi.hpp"
#include "harness/frame.hpp"

namespace xdpgw::test::fuzz {
namespace {

// Protocol numbers and EtherTypes, spelt out here rather than taken from the
// BPF side.
constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;  // 802.1Q
constexpr uint16_t kEthQinq = 0x88a8;  // 802.1ad
constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoDestOpts = 60;
constexpr uint8_t kProtoMobility = 135;

constexpr std::size_t kEthHeader = 14;
constexpr std::size_t kVlanTag = 4;
constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kTcpMinHeader = 20;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kIcmpHeader = 8;    // type, code, checksum, 4 bytes rest
constexpr std::size_t kIcmpv6Header = 8;  // same layout
constexpr std::size_t kFragmentHeader = 8;

// The documented parse bounds (shared.h): tags walked, extension headers
// walked, and the furthest L4 offset the dispatcher hands a handler.
constexpr int kMaxVlanTags = XDPGW_VLAN_MAX_DEPTH;
constexpr int kMaxExtHeaders = XDPGW_IPV6_EXT_MAX_CHAIN;
constexpr std::size_t kMaxL4Offset = XDPGW_MAX_L4_OFFSET;

uint16_t be16(std::span<const uint8_t> f, std::size_t at) {
  return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}

bool is_ipv6_extension(uint8_t proto) {
  switch (proto) {
    case kProtoHopByHop:
    case kProtoRouting:
    case kProtoFragment:
    case kProtoAh:
    case kProtoDestOpts:
    case kProtoMobility:
      return true;
    default:
      return false;
  }
}

// One's-complement value of a checksum: 0x0000 and 0xffff are both zero.
uint32_t ones_mod(uint32_t v) { return v % 0xffff; }

// Returns the drop reason, 0 when the header is acceptable.
uint32_t parse_ipv4(std::span<const uint8_t> f, Parsed& p) {
  const std::size_t l3 = *p.l3_off;
  if (l3 + kIpv4MinHeader > f.size()) return XDPGW_R_DROP_IPV4_TRUNCATED;
  if (f[l3] >> 4 != 4) return XDPGW_R_DROP_IPV4_BAD_VERSION;
  const std::size_t header = (f[l3] & 0x0f) * 4u;
  if (header < kIpv4MinHeader) return XDPGW_R_DROP_IPV4_BAD_IHL;
  if (l3 + header > f.size()) return XDPGW_R_DROP_IPV4_TRUNCATED;
  const std::size_t total = be16(f, l3 + 2);
  if (total < header) return XDPGW_R_DROP_IPV4_BAD_TOTLEN;
  // Bytes beyond the total length are Ethernet padding; fewer is a cut frame.
  if (l3 + total > f.size()) return XDPGW_R_DROP_IPV4_TRUNCATED;
  // RFC 1812 5.2.2, on the 20-byte header (one with options is the kernel's
  // to check). Either one's-complement zero is a right checksum.
  if (header == kIpv4MinHeader &&
      ones_mod(ipv4_header_checksum(f.subspan(l3, header))) != ones_mod(be16(f, l3 + 10)))
    return XDPGW_R_DROP_IPV4_BAD_CHECKSUM;

  const uint16_t frag = be16(f, l3 + 6);
  p.fragment = (frag & 0x3fff) != 0;       // MF or an offset
  p.later_fragment = (frag & 0x1fff) != 0;  // an offset
  p.ipv4_options = header > kIpv4MinHeader;
  p.l3_len = total;
  p.proto_field_off = l3 + 9;
  p.l4_proto = f[l3 + 9];
  p.l4_off = l3 + header;
  return 0;
}

uint32_t parse_ipv6(std::span<const uint8_t> f, Parsed& p) {
  const std::size_t l3 = *p.l3_off;
  if (l3 + kIpv6Header > f.size()) return XDPGW_R_DROP_IPV6_TRUNCATED;
  if (f[l3] >> 4 != 6) return XDPGW_R_DROP_IPV6_BAD_VERSION;
  const std::size_t payload = be16(f, l3 + 4);
  const std::size_t end = l3 + kIpv6Header + payload;
  if (end > f.size()) return XDPGW_R_DROP_IPV6_TRUNCATED;
  p.l3_len = kIpv6Header + payload;

  uint8_t next = f[l3 + 6];
  p.proto_field_off = l3 + 6;
  std::size_t at = l3 + kIpv6Header;
  for (int walked = 0; is_ipv6_extension(next); ++walked) {
    if (walked == kMaxExtHeaders) return XDPGW_R_DROP_IPV6_EXT_TOO_DEEP;
    if (at + 2 > f.size()) return XDPGW_R_DROP_IPV6_EXT_TRUNCATED;
    p.ext_offsets.push_back(at);
    std::size_t length = 0;
    if (next == kProtoFragment) {
      if (at + kFragmentHeader > f.size()) return XDPGW_R_DROP_IPV6_EXT_TRUNCATED;
      p.fragment = true;
      p.later_fragment = p.later_fragment || (be16(f, at + 2) & 0xfff8) != 0;
      length = kFragmentHeader;
    } else if (next == kProtoAh) {
      length = (f[at + 1] + 2u) * 4;  // RFC 4302: in 4-byte units, minus 2
    } else {
      if (next == kProtoHopByHop) p.hop_by_hop = true;
      length = (f[at + 1] + 1u) * 8;  // RFC 8200: in 8-byte units, minus 1
    }
    p.proto_field_off = at;
    next = f[at];
    at += length;
    if (at > end) return XDPGW_R_DROP_IPV6_BAD_PAYLOAD_LEN;
    if (at > f.size()) return XDPGW_R_DROP_IPV6_EXT_TRUNCATED;
  }
  if (at > kMaxL4Offset) return XDPGW_R_DROP_IPV6_EXT_TOO_DEEP;
  p.l4_proto = next;
  p.l4_off = at;
  return 0;
}

uint32_t choose_slot(const Parsed& p) {
  if (p.fragment) return XDPGW_SLOT_OTHER;  // no complete L4 header in general
  switch (p.l4_proto) {
    case kProtoTcp: return XDPGW_SLOT_TCP;
    case kProtoUdp: return XDPGW_SLOT_UDP;
    case kProtoIcmp: return p.ipv6 ? XDPGW_SLOT_OTHER : XDPGW_SLOT_ICMP;
    case kProtoIcmpv6: return p.ipv6 ? XDPGW_SLOT_ICMPV6 : XDPGW_SLOT_OTHER;
    default: return XDPGW_SLOT_OTHER;
  }
}

// The handler's check of its L4 header against the frame and the IP payload
// (bytes after the payload are padding, not header).
uint32_t check_l4(std::span<const uint8_t> f, const Parsed& p) {
  const std::size_t l4 = *p.l4_off;
  const std::size_t ip_end = *p.l3_off + p.l3_len;
  const std::size_t limit = std::min(ip_end, f.size());
  switch (*p.slot) {
    case XDPGW_SLOT_TCP: {
      if (l4 + kTcpMinHeader > limit) return XDPGW_R_DROP_TCP_TRUNCATED;
      const std::size_t header = (f[l4 + 12] >> 4) * 4u;
      if (header < kTcpMinHeader || l4 + header > ip_end) return XDPGW_R_DROP_TCP_BAD_DOFF;
      return 0;
    }
    case XDPGW_SLOT_UDP: {
      if (l4 + kUdpHeader > limit) return XDPGW_R_DROP_UDP_TRUNCATED;
      const std::size_t length = be16(f, l4 + 4);
      if (length < kUdpHeader || l4 + length > ip_end) return XDPGW_R_DROP_UDP_BAD_LEN;
      return 0;
    }
    case XDPGW_SLOT_ICMP:
      return l4 + kIcmpHeader > limit ? XDPGW_R_DROP_ICMP_TRUNCATED : 0;
    case XDPGW_SLOT_ICMPV6:
      return l4 + kIcmpv6Header > limit ? XDPGW_R_DROP_ICMPV6_TRUNCATED : 0;
    default:
      return 0;  // "other" has no header to check
  }
}

bool prefix_matches(std::span<const uint8_t> addr, const ModelRoute& route) {
  if (addr.size() != route.prefix.size()) return false;
  for (unsigned bit = 0; bit < route.length; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((addr[bit / 8] & mask) != (route.prefix[bit / 8] & mask)) return false;
  }
  return true;
}

const ModelRoute* longest_match(std::span<const uint8_t> addr,
                                const std::vector<ModelRoute>& routes) {
  const ModelRoute* best = nullptr;
  for (const ModelRoute& r : routes) {
    if (prefix_matches(addr, r) && (!best || r.length > best->length)) best = &r;
  }
  return best;
}

// Static route lookup for a packet every pass rule let through.
void static_route(std::span<const uint8_t> dst, std::size_t l3_len, const RoutingModel& routing,
                  Expected& e) {
  const ModelRoute* route = longest_match(dst, dst.size() == 4 ? routing.routes4 : routing.routes6);
  if (!route) {
    e.reasons = {XDPGW_R_PASS_NO_ROUTE};
    return;
  }
  auto nh = routing.nexthops.find(route->nexthop_id);
  if (nh == routing.nexthops.end() || !nh->second.resolved) {
    e.reasons = {XDPGW_R_PASS_NO_NEIGH};
    return;
  }
  // The nexthop carries its port's MTU (none when the egress is no port);
  // the redirect target is checked after it, before any rewrite.
  auto port = routing.ports.find(nh->second.ifindex);
  if (port != routing.ports.end() && l3_len > port->second.mtu) {
    e.reasons = {XDPGW_R_PASS_FRAG_NEEDED};
    return;
  }
  if (port == routing.ports.end() || !port->second.in_tx_ports) {
    e.reasons = {XDPGW_R_PASS_EGRESS_NOT_PORT};
    return;
  }
  e.dmac = nh->second.dmac;
  e.smac = port->second.mac;
  e.reasons = {XDPGW_R_FWD_REDIRECT};
}

template <std::size_t N>
std::array<uint8_t, N> bytes_at(std::span<const uint8_t> f, std::size_t at) {
  std::array<uint8_t, N> out{};
  std::copy_n(f.begin() + static_cast<std::ptrdiff_t>(at), N, out.begin());
  return out;
}

bool ipv6_link_local(const Ipv6Addr& a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }

}  // namespace

std::string Parsed::describe() const {
  if (kind == Kind::kMalformed) {
    return fmt::format("malformed ({}), vlan tags {}, l3 at {}", reason_name(drop_reason),
                       vlan_depth, l3_off ? std::to_string(*l3_off) : "-");
  }
  if (kind == Kind::kNotIp) return fmt::format("not IP, vlan tags {}", vlan_depth);
  return fmt::format(
      "{} vlan tags {}, l3 at {} len {}, {} ext headers, l4 proto {} at {}, fragment {}{}, "
      "options {}, hop-by-hop {}, slot {}",
      ipv6 ? "IPv6" : "IPv4", vlan_depth, *l3_off, l3_len, ext_offsets.size(), l4_proto,
      l4_off ? std::to_string(*l4_off) : "-", fragment, later_fragment ? " (later)" : "",
      ipv4_options, hop_by_hop, slot_name(slot));
}

Parsed parse_frame(std::span<const uint8_t> f) {
  Parsed p;
  auto malformed = [&p](uint32_t reason) {
    p.kind = Parsed::Kind::kMalformed;
    p.drop_reason = reason;
    return p;
  };
  if (f.size() < kEthHeader) return malformed(XDPGW_R_DROP_ETH_TRUNCATED);

  // L2: Ethernet and at most kMaxVlanTags 802.1Q / 802.1ad tags.
  std::size_t at = kEthHeader;
  p.type_offsets.push_back(12);
  uint16_t type = be16(f, 12);
  while (type == kEthVlan || type == kEthQinq) {
    if (p.vlan_depth == kMaxVlanTags) return malformed(XDPGW_R_DROP_VLAN_TOO_DEEP);
    if (at + kVlanTag > f.size()) return malformed(XDPGW_R_DROP_VLAN_TRUNCATED);
    p.type_offsets.push_back(at + 2);
    type = be16(f, at + 2);
    at += kVlanTag;
    ++p.vlan_depth;
  }
  if (type != kEthIpv4 && type != kEthIpv6) {
    p.kind = Parsed::Kind::kNotIp;
    return p;
  }

  // L3.
  p.ipv6 = type == kEthIpv6;
  p.l3_off = at;
  if (uint32_t reason = p.ipv6 ? parse_ipv6(f, p) : parse_ipv4(f, p)) return malformed(reason);

  // L4, as the handler the dispatcher picks checks it.
  p.slot = choose_slot(p);
  if (uint32_t reason = check_l4(f, p)) return malformed(reason);
  p.kind = Parsed::Kind::kIp;
  return p;
}

Expected predict(const Parsed& p, std::span<const uint8_t> f, RouteSource source,
                 const RoutingModel& routing) {
  Expected e;
  e.handler = p.slot;
  switch (p.kind) {
    case Parsed::Kind::kMalformed:
      e.malformed = true;
      e.reasons = {p.drop_reason};
      return e;
    case Parsed::Kind::kNotIp:
      e.reasons = {XDPGW_R_PASS_NOT_IP};
      return e;
    case Parsed::Kind::kIp:
      break;
  }
  if (source == RouteSource::kNone) {
    e.reasons = {XDPGW_R_PASS_ROUTING_OFF};
    return e;
  }
  // What goes to the kernel on purpose, in the order the router asks.
  if (p.vlan_depth > 0) {
    e.reasons = {XDPGW_R_PASS_VLAN_TAGGED};
    return e;
  }
  if (p.fragment) {
    e.reasons = {p.ipv6 ? XDPGW_R_PASS_IPV6_FRAGMENT : XDPGW_R_PASS_IPV4_FRAGMENT};
    return e;
  }
  const std::size_t l3 = *p.l3_off;
  std::vector<uint8_t> dst;
  if (!p.ipv6) {
    const Ipv4Addr daddr = bytes_at<4>(f, l3 + 16);
    const uint8_t ttl = f[l3 + 8];
    const bool broadcast = daddr == Ipv4Addr{255, 255, 255, 255};
    if (p.ipv4_options) {
      e.reasons = {XDPGW_R_PASS_IPV4_OPTIONS};
    } else if ((daddr[0] & 0xf0) == 0xe0 || broadcast) {
      e.reasons = {XDPGW_R_PASS_MULTICAST};
    } else if (routing.local4.contains(daddr)) {
      e.reasons = {XDPGW_R_PASS_LOCAL_DEST};
    } else if (ttl <= 1) {
      e.reasons = {XDPGW_R_PASS_TTL_EXCEEDED};
    }
    dst.assign(daddr.begin(), daddr.end());
  } else {
    const Ipv6Addr saddr = bytes_at<16>(f, l3 + 8);
    const Ipv6Addr daddr = bytes_at<16>(f, l3 + 24);
    const uint8_t hop_limit = f[l3 + 7];
    if (p.hop_by_hop) {
      e.reasons = {XDPGW_R_PASS_IPV6_HOP_BY_HOP};
    } else if (daddr[0] == 0xff) {
      e.reasons = {XDPGW_R_PASS_MULTICAST};
    } else if (ipv6_link_local(daddr) || ipv6_link_local(saddr)) {
      e.reasons = {XDPGW_R_PASS_LINK_LOCAL};
    } else if (routing.local6.contains(daddr)) {
      e.reasons = {XDPGW_R_PASS_LOCAL_DEST};
    } else if (hop_limit <= 1) {
      e.reasons = {XDPGW_R_PASS_TTL_EXCEEDED};
    }
    dst.assign(daddr.begin(), daddr.end());
  }
  if (!e.reasons.empty()) return e;

  if (source == RouteSource::kStatic) {
    static_route(dst, p.l3_len, routing, e);
  } else {
    // The kernel's FIB decides; every outcome it can give is acceptable, a
    // forward is checked byte by byte by the caller.
    e.reasons = {XDPGW_R_FWD_REDIRECT,     XDPGW_R_PASS_NO_ROUTE,     XDPGW_R_PASS_NO_NEIGH,
                 XDPGW_R_PASS_FRAG_NEEDED, XDPGW_R_PASS_FWD_DISABLED, XDPGW_R_PASS_EGRESS_NOT_PORT,
                 XDPGW_R_PASS_FIB_OTHER};
  }
  return e;
}

std::optional<std::string> check_forward_rewrite(std::span<const uint8_t> in,
                                                 std::span<const uint8_t> out,
                                                 const Parsed& p) {
  if (out.size() != in.size()) {
    return fmt::format("forwarded frame is {} bytes, was {}", out.size(), in.size());
  }
  if (p.kind != Parsed::Kind::kIp || p.vlan_depth != 0) {
    return "a frame the reference does not consider forwardable was rewritten";
  }
  const std::size_t l3 = *p.l3_off;
  // Every byte but the MACs, the TTL / hop limit and the IPv4 checksum.
  const std::size_t ttl_at = p.ipv6 ? l3 + 7 : l3 + 8;
  for (std::size_t i = 12; i < in.size(); ++i) {
    if (i == ttl_at || (!p.ipv6 && (i == l3 + 10 || i == l3 + 11))) continue;
    if (in[i] != out[i]) {
      return fmt::format("byte {} changed from {:#04x} to {:#04x}", i, in[i], out[i]);
    }
  }
  if (out[ttl_at] != static_cast<uint8_t>(in[ttl_at] - 1)) {
    return fmt::format("TTL/hop limit {} became {}, not {}", in[ttl_at], out[ttl_at],
                       in[ttl_at] - 1);
  }
  if (p.ipv6) return std::nullopt;

  const std::size_t header = (in[l3] & 0x0f) * 4u;
  const auto in_header = in.subspan(l3, header);
  const auto out_header = out.subspan(l3, header);
  const uint16_t in_check = be16(in, l3 + 10);
  const uint16_t out_check = be16(out, l3 + 10);
  // Only a right checksum is forwarded (a wrong one is dropped on input);
  // it must stay exactly right after the TTL rewrite.
  const uint16_t want = ipv4_header_checksum(out_header);
  if (ones_mod(out_check) != ones_mod(want) || ones_mod(ipv4_header_checksum(in_header)) != ones_mod(in_check)) {
    return fmt::format("IPv4 checksum {:#06x} (in {:#06x}) after the TTL rewrite, from scratch {:#06x}",
                       out_check, in_check, want);
  }
  return std::nullopt;
}

std::string reason_name(uint32_t reason) { return std::string(abi::reason_name(reason)); }

std::string slot_name(std::optional<uint32_t> slot) {
  if (!slot) return "none";
  return *slot < abi::kSlotNames.size() ? std::string(abi::kSlotNames[*slot])
                                        : fmt::format("slot {}", *slot);
}

}  // namespace xdpgw::test::fuzz
