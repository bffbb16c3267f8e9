// Stage 1 of the AF_XDP pipeline: parse a frame into the conn_table key XDP
// builds for it (bpf/lib/flow.h, flow_key_from_packet: same bytes), plus
// what the actions need (where the IP header is).
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
  uint16_t sport = 0;  // host order
  uint16_t dport = 0;
};

// Ethernet (untagged: XDP sends tagged frames to the kernel before punt),
// IPv4 without fragments or IPv6 without extension headers, TCP or UDP.
ParseStatus parse(std::span<const uint8_t> frame, ParsedPacket& out);

}  // namespace xdpgw::pipeline
