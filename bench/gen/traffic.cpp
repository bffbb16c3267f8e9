#include "gen/traffic.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/frame.hpp"

namespace xdpgw::bench {
namespace {

constexpr uint32_t kMaxFrameLength = 1514;  // 1500-byte MTU + Ethernet header
constexpr uint32_t kMinEthernetFrame = 60;  // 64 on a wire, less the FCS

uint32_t header_length(IpFamily family) {
  return family == IpFamily::kIpv6 ? XBN_GEN_V6_HEADER_LEN : XBN_GEN_V4_HEADER_LEN;
}

uint32_t src_low_offset(IpFamily family) {
  return family == IpFamily::kIpv6 ? XBN_GEN_V6_SRC_LOW_OFF : XBN_GEN_V4_SRC_LOW_OFF;
}

uint32_t sport_span(const TrafficSpec& spec) { return 65536u - spec.sport_base; }

// Unfolded one's-complement sum of 16-bit words as they lie in memory (the
// same loads the BPF program does), folded to 16 bits at the end. RFC 1071:
// the sum is byte-order independent as long as both sides agree.
uint32_t ones_sum(std::span<const uint8_t> bytes) {
  uint32_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) {
    uint16_t word;
    std::memcpy(&word, bytes.data() + i, 2);
    sum += word;
  }
  if (i < bytes.size()) {
    const uint8_t last[2] = {bytes[i], 0};
    uint16_t word;
    std::memcpy(&word, last, 2);
    sum += word;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

uint16_t be16(uint32_t host) {
  const uint8_t bytes[2] = {static_cast<uint8_t>(host >> 8), static_cast<uint8_t>(host)};
  uint16_t word;
  std::memcpy(&word, bytes, 2);
  return word;
}

// The frame of size class `size_class` for flow `flow`.
std::vector<uint8_t> build_frame(const TrafficSpec& spec, uint32_t size_class, uint32_t flow) {
  const uint32_t span = sport_span(spec);
  const auto sport = static_cast<uint16_t>(spec.sport_base + flow % span);
  const uint32_t src_step = flow / span;
  const uint32_t length = spec.mix.frame_lengths.at(size_class);
  const std::vector<uint8_t> zeros(length - header_length(spec.family), 0);

  test::FrameBuilder frame;
  frame.eth(spec.dst_mac, spec.src_mac);
  if (spec.family == IpFamily::kIpv6) {
    test::Ipv6Addr src = test::ipv6(spec.src_ip);
    const uint32_t low = (src[14] << 8 | src[15]) + src_step;
    src[14] = static_cast<uint8_t>(low >> 8);
    src[15] = static_cast<uint8_t>(low);
    frame.ipv6({.src = src, .dst = test::ipv6(spec.dst_ip), .hop_limit = spec.ttl});
  } else {
    test::Ipv4Addr src = test::ipv4(spec.src_ip);
    const uint32_t low = (src[2] << 8 | src[3]) + src_step;
    src[2] = static_cast<uint8_t>(low >> 8);
    src[3] = static_cast<uint8_t>(low);
    frame.ipv4({.src = src, .dst = test::ipv4(spec.dst_ip), .ttl = spec.ttl});
  }
  return frame.udp({.sport = sport, .dport = spec.dst_port}).payload(zeros).build();
}

void validate(const TrafficSpec& spec) {
  const auto fail = [](const std::string& why) { throw std::invalid_argument(why); };
  if (spec.mix.frame_lengths.empty() || spec.mix.sequence.empty()) fail("empty frame mix");
  if (spec.mix.frame_lengths.size() > XBN_GEN_MAX_SIZE_CLASSES) {
    fail(fmt::format("at most {} frame sizes in one mix", XBN_GEN_MAX_SIZE_CLASSES));
  }
  if (spec.mix.sequence.size() > XBN_GEN_MAX_PATTERN) {
    fail(fmt::format("a frame-size cycle holds at most {} frames", XBN_GEN_MAX_PATTERN));
  }
  for (uint8_t size_class : spec.mix.sequence) {
    if (size_class >= spec.mix.frame_lengths.size()) fail("frame-size cycle names a missing size");
  }
  const uint32_t min_length = std::max(header_length(spec.family), kMinEthernetFrame);
  for (uint32_t length : spec.mix.frame_lengths) {
    if (length < min_length || length > kMaxFrameLength) {
      fail(fmt::format("{}-byte frames: {} UDP frames are {}..{} bytes", length,
                       to_string(spec.family), min_length, kMaxFrameLength));
    }
  }
  if (spec.flows == 0) fail("flows must be at least 1");
  if (spec.sport_base == 0) fail("source port base must be at least 1");
  const test::Ipv6Addr src6 =
      spec.family == IpFamily::kIpv6 ? test::ipv6(spec.src_ip) : test::Ipv6Addr{};
  const test::Ipv4Addr src4 =
      spec.family == IpFamily::kIpv4 ? test::ipv4(spec.src_ip) : test::Ipv4Addr{};
  // Parse the destination too: a wrong family throws here, not in the program.
  if (spec.family == IpFamily::kIpv6) test::ipv6(spec.dst_ip); else test::ipv4(spec.dst_ip);
  const uint32_t low = spec.family == IpFamily::kIpv6 ? (src6[14] << 8 | src6[15])
                                                      : (src4[2] << 8 | src4[3]);
  if (low + (spec.flows - 1) / sport_span(spec) > 0xffff) {
    fail(fmt::format("{} flows need more source addresses than follow {}", spec.flows,
                     spec.src_ip));
  }
}

}  // namespace

std::string_view to_string(IpFamily family) {
  return family == IpFamily::kIpv6 ? "ipv6" : "ipv4";
}

FrameMix FrameMix::fixed(uint32_t length) {
  return {.name = std::to_string(length), .frame_lengths = {length}, .sequence = {0}};
}

FrameMix FrameMix::imix() {
  // 7 x class 0, 4 x class 1, 1 x class 2, interleaved so that no burst of
  // large frames follows another.
  return {.name = "imix",
          .frame_lengths = {64, 590, 1514},
          .sequence = {0, 1, 0, 0, 1, 0, 2, 0, 1, 0, 0, 1}};
}

FrameMix FrameMix::parse(std::string_view text) {
  if (text == "imix") return imix();
  uint32_t length = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || length > kMaxFrameLength) {
      throw std::invalid_argument(fmt::format("frame size '{}': a length or 'imix'", text));
    }
    length = length * 10 + static_cast<uint32_t>(c - '0');
  }
  if (text.empty()) throw std::invalid_argument("empty frame size");
  return fixed(length);
}

uint32_t FrameMix::max_length() const {
  return *std::ranges::max_element(frame_lengths);
}

double FrameMix::mean_length() const {
  double total = 0;
  for (uint8_t size_class : sequence) total += frame_lengths.at(size_class);
  return total / static_cast<double>(sequence.size());
}

xbn_gen_config make_gen_config(const TrafficSpec& spec) {
  validate(spec);
  const IpFamily family = spec.family;
  const uint32_t l3_off = XBN_GEN_ETH_LEN;
  const uint32_t l4_off = header_length(family) - 8;
  const uint32_t src_off = src_low_offset(family);

  xbn_gen_config config{};
  config.is_ipv6 = family == IpFamily::kIpv6;
  config.flows = spec.flows;
  config.sport_base = spec.sport_base;
  config.sport_span = sport_span(spec);
  config.pattern_len = static_cast<uint32_t>(spec.mix.sequence.size());
  std::ranges::copy(spec.mix.sequence, config.pattern);

  for (std::size_t size_class = 0; size_class < spec.mix.frame_lengths.size(); ++size_class) {
    std::vector<uint8_t> frame = build_frame(spec, static_cast<uint32_t>(size_class), 0);
    if (size_class == 0) {
      const std::size_t header = header_length(family);
      std::copy_n(frame.begin(), header, config.header);
      config.src_word_base = static_cast<uint32_t>(frame[src_off] << 8 | frame[src_off + 1]);
    }
    // Zero what the program fills in per frame: the flow's source port and
    // source-address word, and both checksums.
    frame[src_off] = frame[src_off + 1] = 0;
    frame[l4_off] = frame[l4_off + 1] = 0;  // UDP source port
    frame[l4_off + 6] = frame[l4_off + 7] = 0;  // UDP checksum

    xbn_gen_size_class& out = config.classes[size_class];
    out.frame_len = static_cast<uint32_t>(frame.size());
    const uint32_t udp_length = out.frame_len - l4_off;
    out.udp_len_be = be16(udp_length);
    std::vector<uint8_t> pseudo;
    if (family == IpFamily::kIpv6) {
      out.ip_len_be = be16(udp_length);
      pseudo.assign(frame.begin() + l3_off + 8, frame.begin() + l3_off + 40);  // src, dst
      const uint8_t tail[8] = {0, 0, static_cast<uint8_t>(udp_length >> 8),
                               static_cast<uint8_t>(udp_length), 0, 0, 0, test::ip_proto::kUdp};
      pseudo.insert(pseudo.end(), std::begin(tail), std::end(tail));
    } else {
      out.ip_len_be = be16(out.frame_len - l3_off);
      frame[l3_off + 10] = frame[l3_off + 11] = 0;  // IPv4 header checksum
      out.ip_csum_partial = ones_sum(std::span(frame).subspan(l3_off, 20));
      pseudo.assign(frame.begin() + l3_off + 12, frame.begin() + l3_off + 20);  // src, dst
      const uint8_t tail[4] = {0, test::ip_proto::kUdp, static_cast<uint8_t>(udp_length >> 8),
                               static_cast<uint8_t>(udp_length)};
      pseudo.insert(pseudo.end(), std::begin(tail), std::end(tail));
    }
    out.udp_csum_partial = ones_sum(pseudo) + ones_sum(std::span(frame).subspan(l4_off));
  }
  return config;
}

std::vector<uint8_t> reference_frame(const TrafficSpec& spec, uint64_t n) {
  validate(spec);
  const uint8_t size_class = spec.mix.sequence[n % spec.mix.sequence.size()];
  return build_frame(spec, size_class, static_cast<uint32_t>(n % spec.flows));
}

}  // namespace xdpgw::bench
