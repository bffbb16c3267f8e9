// Stage 1 of the AF_XDP pipeline: parse a frame into the conn_table key XDP
// builds for it (bpf/lib/flow.h, flow_key_from_packet: same bytes), plus
// what the actions need (where the IP header is). The one C++ builder of
// that key from a frame; tests/bpf/test_punt.cpp checks it against XDP's.
#pragma once

#include <cstdint>
#include <span>

#include "xdpgw/shared.h"

namespace xdpgw::pipeline {

enum class ParseStatus { Ok, TooShort, NotIp, BadIpHeader, NotTcpUdp, Fragment };
const char* to_string(ParseStatus s);

struct ParsedPacket {
  xdpgw_flow_key key{};  // network-order fields, as in conn_table
  uint16_t l3_off = 0;
  uint8_t vlan_depth = 0;  // 802.1Q / 802.1ad tags before the IP header
  uint16_t sport = 0;      // host order
  uint16_t dport = 0;
};

// Whatever XDP punts, parsed as XDP parses it (bpf/lib/parse.h): Ethernet
// with up to XDPGW_VLAN_MAX_DEPTH tags, IPv4 (options skipped) that is not
// a fragment, or IPv6 after its extension headers (at most
// XDPGW_IPV6_EXT_MAX_CHAIN, no fragment header); then TCP or UDP.
ParseStatus parse(std::span<const uint8_t> frame, ParsedPacket& out);

}  // namespace xdpgw::pipeline
