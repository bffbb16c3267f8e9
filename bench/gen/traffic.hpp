// What the generator sends: addresses, flows and frame sizes, turned into
// the template and precomputed checksums its XDP program (bench/bpf/gen.bpf.c)
// writes into every frame.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench_shared.h"
#include "harness/addr.hpp"

namespace xdpgw::bench {

static_assert(sizeof(xbn_gen_size_class) == 16);
static_assert(sizeof(xbn_gen_config) == 64 + 6 * 4 + XBN_GEN_MAX_PATTERN +
                                            XBN_GEN_MAX_SIZE_CLASSES * 16);
static_assert(sizeof(xbn_counter) == 16);
static_assert(sizeof(xbn_redirect_macs) == 12);

enum class IpFamily { kIpv4, kIpv6 };
std::string_view to_string(IpFamily family);  // "ipv4", "ipv6"

// Frame lengths count the bytes handed to the interface, Ethernet header to
// end of payload, without the 4-byte FCS a real wire adds.
struct FrameMix {
  std::string name;                     // "64", "imix"
  std::vector<uint32_t> frame_lengths;  // one entry per size class
  std::vector<uint8_t> sequence;        // size class of frame n: sequence[n % size]

  // Every frame `length` bytes.
  static FrameMix fixed(uint32_t length);
  // Simple IMIX 7:4:1 of 64-, 590- and 1514-byte frames (IP packets of
  // 50, 576 and 1500 bytes over IPv4), spread over a 12-frame cycle;
  // mean 360 bytes.
  static FrameMix imix();
  // "64" / "imix" / a length in bytes. Throws std::invalid_argument.
  static FrameMix parse(std::string_view text);

  uint32_t max_length() const;
  double mean_length() const;
};

struct TrafficSpec {
  IpFamily family = IpFamily::kIpv4;
  test::MacAddr src_mac{};
  test::MacAddr dst_mac{};
  // First source address; flows beyond the source-port range move on to the
  // next addresses (the low 16 bits count up).
  std::string src_ip;
  std::string dst_ip;
  uint16_t dst_port = 9;  // discard
  // Flow n (0 <= n < flows) is source port sport_base + n % (65536 -
  // sport_base) from source address src_ip + n / (65536 - sport_base).
  uint16_t sport_base = 1024;
  uint32_t flows = 64;
  uint8_t ttl = 64;  // hop limit for IPv6
  FrameMix mix = FrameMix::fixed(64);
};

// The generator program's configuration for `spec`. Throws
// std::invalid_argument for addresses of the wrong family, frames too short
// for the headers or longer than 1514 bytes, zero flows or more flows than
// the source addresses can hold.
xbn_gen_config make_gen_config(const TrafficSpec& spec);

// Frame n exactly as the generator program should write it, built
// independently with the harness's FrameBuilder (checks the program).
std::vector<uint8_t> reference_frame(const TrafficSpec& spec, uint64_t n);

}  // namespace xdpgw::bench
