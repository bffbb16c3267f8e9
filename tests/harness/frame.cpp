#include "harness/frame.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace xdpgw::test {
namespace {

void put8(std::vector<uint8_t>& out, uint8_t value) { out.push_back(value); }

void put16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

void put32(std::vector<uint8_t>& out, uint32_t value) {
  put16(out, static_cast<uint16_t>(value >> 16));
  put16(out, static_cast<uint16_t>(value));
}

void put_bytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void set16(std::vector<uint8_t>& out, std::size_t offset, uint16_t value) {
  out.at(offset) = static_cast<uint8_t>(value >> 8);
  out.at(offset + 1) = static_cast<uint8_t>(value);
}

uint16_t get16(std::span<const uint8_t> bytes, std::size_t offset) {
  return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

// Sum of big-endian 16-bit words, not yet folded. 64 bits cannot overflow for
// any frame size.
uint64_t word_sum(std::span<const uint8_t> bytes) {
  uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += get16(bytes, i);
  if (i < bytes.size()) sum += static_cast<uint64_t>(bytes[i]) << 8;
  return sum;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

uint16_t complement(uint64_t sum) { return static_cast<uint16_t>(~fold(sum)); }

// The IPv4 (src, dst, 0, proto, length) and IPv6 (src, dst, length32, 0, next
// header) pseudo-headers sum to the same words: addresses + proto + length.
uint64_t pseudo_header_sum(std::span<const uint8_t> src, std::span<const uint8_t> dst,
                           uint8_t proto, std::size_t length) {
  return word_sum(src) + word_sum(dst) + proto + (length >> 16) + (length & 0xffff);
}

void pad_to_multiple_of_4(std::vector<uint8_t>& bytes) {
  while (bytes.size() % 4 != 0) bytes.push_back(0);
}

// An IPv6 option area of `size` bytes that Linux accepts: Linux drops a
// header with more than 7 consecutive padding bytes (ip6_parse_tlv), so areas
// larger than that hold RFC 4727 experimental options (type 0x1e: the top bits
// 00 tell receivers that do not know it to skip it), then at most 7 bytes of
// Pad1/PadN.
void put_option_area(std::vector<uint8_t>& out, std::size_t size) {
  constexpr uint8_t kExperimentalOption = 0x1e;
  constexpr std::size_t kMaxPadding = 7;
  while (size > kMaxPadding) {
    const std::size_t chunk = std::min<std::size_t>(size, 2 + 255);
    put8(out, kExperimentalOption);
    put8(out, static_cast<uint8_t>(chunk - 2));
    out.insert(out.end(), chunk - 2, 0);
    size -= chunk;
  }
  if (size == 1) {
    put8(out, 0);  // Pad1
  } else if (size > 1) {
    put8(out, 1);  // PadN
    put8(out, static_cast<uint8_t>(size - 2));
    out.insert(out.end(), size - 2, 0);
  }
}

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

}  // namespace

// ---- builder: adding layers ----

FrameBuilder& FrameBuilder::eth(const MacAddr& dst, const MacAddr& src) {
  layers_.emplace_back(EthLayer{.dst = dst, .src = src, .ethertype = std::nullopt});
  return *this;
}

FrameBuilder& FrameBuilder::vlan(uint16_t tci) {
  layers_.emplace_back(VlanLayer{.tpid = ethertype::kVlan, .tci = tci, .ethertype = std::nullopt});
  return *this;
}

FrameBuilder& FrameBuilder::qinq(uint16_t tci) {
  layers_.emplace_back(VlanLayer{.tpid = ethertype::kQinq, .tci = tci, .ethertype = std::nullopt});
  return *this;
}

FrameBuilder& FrameBuilder::ethertype(uint16_t type) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* eth = std::get_if<EthLayer>(&*it)) {
      eth->ethertype = type;
      return *this;
    }
    if (auto* tag = std::get_if<VlanLayer>(&*it)) {
      tag->ethertype = type;
      return *this;
    }
  }
  throw std::logic_error("FrameBuilder::ethertype() needs an eth(), vlan() or qinq() before it");
}

FrameBuilder& FrameBuilder::ipv4(const Ipv4Fields& fields) {
  layers_.emplace_back(Ipv4Layer{.fields = fields, .ihl = {}, .total_length = {}, .checksum = {}});
  return *this;
}

FrameBuilder& FrameBuilder::ipv6(const Ipv6Fields& fields) {
  layers_.emplace_back(Ipv6Layer{.fields = fields, .payload_length = {}});
  return *this;
}

FrameBuilder& FrameBuilder::hop_by_hop(uint8_t hdr_ext_len) {
  std::vector<uint8_t> bytes = {0, hdr_ext_len};
  put_option_area(bytes, (hdr_ext_len + 1u) * 8 - 2);
  layers_.emplace_back(Ipv6ExtLayer{.proto = ip_proto::kHopByHop, .bytes = std::move(bytes)});
  return *this;
}

FrameBuilder& FrameBuilder::dest_opts(uint8_t hdr_ext_len) {
  std::vector<uint8_t> bytes = {0, hdr_ext_len};
  put_option_area(bytes, (hdr_ext_len + 1u) * 8 - 2);
  layers_.emplace_back(Ipv6ExtLayer{.proto = ip_proto::kDestOpts, .bytes = std::move(bytes)});
  return *this;
}

FrameBuilder& FrameBuilder::routing(uint8_t routing_type, uint8_t segments_left,
                                    uint8_t hdr_ext_len) {
  std::vector<uint8_t> bytes = {0, hdr_ext_len, routing_type, segments_left};
  bytes.resize((hdr_ext_len + 1u) * 8, 0);  // type-specific data: zeros
  layers_.emplace_back(Ipv6ExtLayer{.proto = ip_proto::kRouting, .bytes = std::move(bytes)});
  return *this;
}

FrameBuilder& FrameBuilder::fragment(uint16_t offset, bool more, uint32_t id) {
  std::vector<uint8_t> bytes = {0, 0};  // next header, reserved
  put16(bytes, static_cast<uint16_t>((offset & 0x1fff) << 3 | (more ? 1 : 0)));
  put32(bytes, id);
  layers_.emplace_back(Ipv6ExtLayer{.proto = ip_proto::kFragment, .bytes = std::move(bytes)});
  return *this;
}

FrameBuilder& FrameBuilder::tcp(const TcpFields& fields) {
  layers_.emplace_back(TcpLayer{.fields = fields, .doff = {}, .checksum = {}});
  return *this;
}

FrameBuilder& FrameBuilder::udp(const UdpFields& fields) {
  layers_.emplace_back(UdpLayer{.fields = fields, .length = {}, .checksum = {}});
  return *this;
}

FrameBuilder& FrameBuilder::icmp(uint8_t type, uint8_t code, uint32_t rest_of_header) {
  layers_.emplace_back(IcmpLayer{
      .v6 = false, .type = type, .code = code, .rest_of_header = rest_of_header, .checksum = {}});
  return *this;
}

FrameBuilder& FrameBuilder::icmp_echo(uint16_t id, uint16_t seq, bool reply) {
  return icmp(reply ? 0 : 8, 0, static_cast<uint32_t>(id) << 16 | seq);
}

FrameBuilder& FrameBuilder::icmpv6(uint8_t type, uint8_t code, uint32_t rest_of_header) {
  layers_.emplace_back(IcmpLayer{
      .v6 = true, .type = type, .code = code, .rest_of_header = rest_of_header, .checksum = {}});
  return *this;
}

FrameBuilder& FrameBuilder::icmpv6_echo(uint16_t id, uint16_t seq, bool reply) {
  return icmpv6(reply ? 129 : 128, 0, static_cast<uint32_t>(id) << 16 | seq);
}

FrameBuilder& FrameBuilder::payload(std::span<const uint8_t> bytes) {
  layers_.emplace_back(PayloadLayer{.bytes = {bytes.begin(), bytes.end()}});
  return *this;
}

FrameBuilder& FrameBuilder::payload(std::initializer_list<uint8_t> bytes) {
  return payload(std::span<const uint8_t>(bytes.begin(), bytes.size()));
}

FrameBuilder& FrameBuilder::payload(std::size_t size) {
  std::vector<uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i);
  layers_.emplace_back(PayloadLayer{.bytes = std::move(bytes)});
  return *this;
}

FrameBuilder& FrameBuilder::payload_text(std::string_view text) {
  layers_.emplace_back(PayloadLayer{.bytes = {text.begin(), text.end()}});
  return *this;
}

FrameBuilder& FrameBuilder::eth_trailer(std::size_t size, uint8_t fill) {
  trailer_.insert(trailer_.end(), size, fill);
  return *this;
}

// ---- builder: overrides ----

template <class T>
T& FrameBuilder::last(std::string_view override_name) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* layer = std::get_if<T>(&*it)) return *layer;
  }
  throw std::logic_error(
      fmt::format("FrameBuilder::{}() needs a layer of its kind before it", override_name));
}

FrameBuilder::ChecksumOverride& FrameBuilder::last_l4_checksum(std::string_view override_name) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    ChecksumOverride* checksum = std::visit(
        Overloaded{[](TcpLayer& l) { return &l.checksum; },
                   [](UdpLayer& l) { return &l.checksum; },
                   [](IcmpLayer& l) { return &l.checksum; },
                   [](auto&) -> ChecksumOverride* { return nullptr; }},
        *it);
    if (checksum) return *checksum;
  }
  throw std::logic_error(fmt::format(
      "FrameBuilder::{}() needs a tcp(), udp(), icmp() or icmpv6() before it", override_name));
}

FrameBuilder& FrameBuilder::ipv4_ihl(uint8_t ihl) {
  last<Ipv4Layer>("ipv4_ihl").ihl = ihl;
  return *this;
}

FrameBuilder& FrameBuilder::ipv4_total_length(uint16_t total_length) {
  last<Ipv4Layer>("ipv4_total_length").total_length = total_length;
  return *this;
}

FrameBuilder& FrameBuilder::ipv4_checksum(uint16_t checksum) {
  last<Ipv4Layer>("ipv4_checksum").checksum.value = checksum;
  return *this;
}

FrameBuilder& FrameBuilder::bad_ipv4_checksum() {
  last<Ipv4Layer>("bad_ipv4_checksum").checksum.corrupt = true;
  return *this;
}

FrameBuilder& FrameBuilder::ipv6_payload_length(uint16_t payload_length) {
  last<Ipv6Layer>("ipv6_payload_length").payload_length = payload_length;
  return *this;
}

FrameBuilder& FrameBuilder::tcp_doff(uint8_t doff) {
  last<TcpLayer>("tcp_doff").doff = doff;
  return *this;
}

FrameBuilder& FrameBuilder::udp_length(uint16_t length) {
  last<UdpLayer>("udp_length").length = length;
  return *this;
}

FrameBuilder& FrameBuilder::l4_checksum(uint16_t checksum) {
  last_l4_checksum("l4_checksum").value = checksum;
  return *this;
}

FrameBuilder& FrameBuilder::bad_l4_checksum() {
  last_l4_checksum("bad_l4_checksum").corrupt = true;
  return *this;
}

// ---- builder: serialisation ----

namespace {

// The field value for a checksum whose correct value is `correct`.
// A corrupted value is never one's-complement-equal to the correct one
// (0x0000 and 0xffff both verify), and never 0 for UDP (0 means "none").
uint16_t final_checksum(const std::optional<uint16_t>& value, bool corrupt, uint16_t correct,
                        bool is_udp) {
  if (value) return *value;
  if (!corrupt) return correct;
  uint16_t bad = correct ^ 0x0f0f;
  if (is_udp && bad == 0) bad = correct ^ 0x00f0;
  return bad;
}

}  // namespace

std::vector<uint8_t> FrameBuilder::build() const {
  // Innermost layer first: each header is written knowing every byte after it,
  // which is what its lengths and checksums cover.
  std::vector<uint8_t> packet;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    std::vector<uint8_t> header = serialize(i, packet);
    put_bytes(header, packet);
    packet = std::move(header);
  }
  put_bytes(packet, trailer_);
  return packet;
}

std::vector<uint8_t> FrameBuilder::serialize(std::size_t index,
                                             std::span<const uint8_t> rest) const {
  const Layer* next = index + 1 < layers_.size() ? &layers_[index + 1] : nullptr;

  auto next_ethertype = [&](const std::optional<uint16_t>& override_type) -> uint16_t {
    if (override_type) return *override_type;
    if (!next) return ethertype::kExperimental;
    return std::visit(Overloaded{[](const VlanLayer& l) { return l.tpid; },
                                 [](const Ipv4Layer&) { return ethertype::kIpv4; },
                                 [](const Ipv6Layer&) { return ethertype::kIpv6; },
                                 [](const auto&) { return ethertype::kExperimental; }},
                      *next);
  };
  auto next_ip_proto = [&]() -> std::optional<uint8_t> {
    if (!next) return std::nullopt;
    return std::visit(
        Overloaded{[](const Ipv4Layer&) -> std::optional<uint8_t> { return ip_proto::kIpip; },
                   [](const Ipv6Layer&) -> std::optional<uint8_t> { return ip_proto::kIpv6; },
                   [](const Ipv6ExtLayer& l) -> std::optional<uint8_t> { return l.proto; },
                   [](const TcpLayer&) -> std::optional<uint8_t> { return ip_proto::kTcp; },
                   [](const UdpLayer&) -> std::optional<uint8_t> { return ip_proto::kUdp; },
                   [](const IcmpLayer& l) -> std::optional<uint8_t> {
                     return l.v6 ? ip_proto::kIcmpv6 : ip_proto::kIcmp;
                   },
                   [](const auto&) -> std::optional<uint8_t> { return std::nullopt; }},
        *next);
  };
  // Sum of the pseudo-header of the closest IP header before this L4 layer.
  auto pseudo_sum = [&](uint8_t proto, std::size_t length, std::string_view layer_name) {
    for (std::size_t i = index; i-- > 0;) {
      if (const auto* v4 = std::get_if<Ipv4Layer>(&layers_[i])) {
        return pseudo_header_sum(v4->fields.src, v4->fields.dst, proto, length);
      }
      if (const auto* v6 = std::get_if<Ipv6Layer>(&layers_[i])) {
        return pseudo_header_sum(v6->fields.src, v6->fields.dst, proto, length);
      }
    }
    throw std::logic_error(
        fmt::format("FrameBuilder: {}() needs an ipv4() or ipv6() before it", layer_name));
  };

  std::vector<uint8_t> out;
  std::visit(
      Overloaded{
          [&](const EthLayer& l) {
            put_bytes(out, l.dst);
            put_bytes(out, l.src);
            put16(out, next_ethertype(l.ethertype));
          },
          [&](const VlanLayer& l) {
            // The TPID is this tag's "EtherType", written by the layer before.
            put16(out, l.tci);
            put16(out, next_ethertype(l.ethertype));
          },
          [&](const Ipv4Layer& l) {
            const Ipv4Fields& f = l.fields;
            std::vector<uint8_t> options = f.options;
            pad_to_multiple_of_4(options);
            const std::size_t header_size = 20 + options.size();
            if (header_size > 60) {
              throw std::length_error(
                  fmt::format("FrameBuilder: {} bytes of IPv4 options (max 40)", options.size()));
            }
            const std::size_t total = header_size + rest.size();
            if (!l.total_length && total > 0xffff) {
              throw std::length_error(fmt::format("FrameBuilder: IPv4 packet of {} bytes", total));
            }
            put8(out, static_cast<uint8_t>(0x40 | (l.ihl.value_or(header_size / 4) & 0x0f)));
            put8(out, f.tos);
            put16(out, l.total_length.value_or(static_cast<uint16_t>(total)));
            put16(out, f.id);
            put16(out, static_cast<uint16_t>((f.dont_fragment ? 0x4000 : 0) |
                                             (f.more_fragments ? 0x2000 : 0) |
                                             (f.frag_offset & 0x1fff)));
            put8(out, f.ttl);
            put8(out, f.protocol.value_or(next_ip_proto().value_or(ip_proto::kExperimental)));
            put16(out, 0);  // checksum, below
            put_bytes(out, f.src);
            put_bytes(out, f.dst);
            put_bytes(out, options);
            set16(out, 10,
                  final_checksum(l.checksum.value, l.checksum.corrupt, ipv4_header_checksum(out),
                                 false));
          },
          [&](const Ipv6Layer& l) {
            const Ipv6Fields& f = l.fields;
            if (!l.payload_length && rest.size() > 0xffff) {
              throw std::length_error(
                  fmt::format("FrameBuilder: IPv6 payload of {} bytes (no jumbograms)", rest.size()));
            }
            put32(out, 6u << 28 | static_cast<uint32_t>(f.traffic_class) << 20 |
                           (f.flow_label & 0xfffff));
            put16(out, l.payload_length.value_or(static_cast<uint16_t>(rest.size())));
            put8(out, f.next_header.value_or(next_ip_proto().value_or(ip_proto::kNoNext)));
            put8(out, f.hop_limit);
            put_bytes(out, f.src);
            put_bytes(out, f.dst);
          },
          [&](const Ipv6ExtLayer& l) {
            out = l.bytes;
            out[0] = next_ip_proto().value_or(ip_proto::kNoNext);
          },
          [&](const TcpLayer& l) {
            const TcpFields& f = l.fields;
            std::vector<uint8_t> options = f.options;
            pad_to_multiple_of_4(options);
            const std::size_t header_size = 20 + options.size();
            if (header_size > 60) {
              throw std::length_error(
                  fmt::format("FrameBuilder: {} bytes of TCP options (max 40)", options.size()));
            }
            put16(out, f.sport);
            put16(out, f.dport);
            put32(out, f.seq);
            put32(out, f.ack);
            put8(out, static_cast<uint8_t>(l.doff.value_or(header_size / 4) << 4));
            put8(out, f.flags);
            put16(out, f.window);
            put16(out, 0);  // checksum, below
            put16(out, f.urgent);
            put_bytes(out, options);
            const std::size_t length = out.size() + rest.size();
            const uint16_t correct =
                complement(pseudo_sum(ip_proto::kTcp, length, "tcp") + word_sum(out) + word_sum(rest));
            set16(out, 16, final_checksum(l.checksum.value, l.checksum.corrupt, correct, false));
          },
          [&](const UdpLayer& l) {
            const std::size_t length = 8 + rest.size();
            if (!l.length && length > 0xffff) {
              throw std::length_error(fmt::format("FrameBuilder: UDP datagram of {} bytes", length));
            }
            put16(out, l.fields.sport);
            put16(out, l.fields.dport);
            put16(out, l.length.value_or(static_cast<uint16_t>(length)));
            put16(out, 0);  // checksum, below
            uint16_t correct = 0;
            if (!l.fields.zero_checksum) {
              correct = complement(pseudo_sum(ip_proto::kUdp, length, "udp") + word_sum(out) +
                                   word_sum(rest));
              if (correct == 0) correct = 0xffff;  // RFC 768: 0 would mean "no checksum"
            }
            set16(out, 6, final_checksum(l.checksum.value, l.checksum.corrupt, correct, true));
          },
          [&](const IcmpLayer& l) {
            put8(out, l.type);
            put8(out, l.code);
            put16(out, 0);  // checksum, below
            put32(out, l.rest_of_header);
            // ICMPv6 covers the IPv6 pseudo-header; ICMPv4 only the message.
            const uint64_t pseudo =
                l.v6 ? pseudo_sum(ip_proto::kIcmpv6, out.size() + rest.size(), "icmpv6") : 0;
            const uint16_t correct = complement(pseudo + word_sum(out) + word_sum(rest));
            set16(out, 2, final_checksum(l.checksum.value, l.checksum.corrupt, correct, false));
          },
          [&](const PayloadLayer& l) { out = l.bytes; },
      },
      layers_[index]);
  return out;
}

// ---- free helpers ----

std::vector<uint8_t> truncate(std::span<const uint8_t> frame, std::size_t size) {
  if (size > frame.size()) {
    throw std::out_of_range(
        fmt::format("truncate: frame has {} bytes, cannot keep {}", frame.size(), size));
  }
  return {frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(size)};
}

uint16_t internet_checksum(std::span<const uint8_t> bytes) { return complement(word_sum(bytes)); }

uint16_t ipv4_header_checksum(std::span<const uint8_t> header) {
  if (header.size() < 20) {
    throw std::invalid_argument(fmt::format("ipv4_header_checksum: {} bytes", header.size()));
  }
  // Sum everything, then take the checksum field back out (the sum includes
  // it, so this cannot underflow): whatever the field holds does not matter.
  return complement(word_sum(header) - get16(header, 10));
}

namespace {

using Problem = std::optional<std::string>;

constexpr int kMaxNesting = 8;

Problem check_ipv4(std::span<const uint8_t> packet, int depth);
Problem check_ipv6(std::span<const uint8_t> packet, int depth);

// True when bytes (with their checksum field in place) plus the pseudo-header
// sum verify: the one's-complement total is all ones.
bool sums_to_all_ones(uint64_t sum) { return fold(sum) == 0xffff; }

Problem check_l4(uint8_t proto, std::span<const uint8_t> segment, std::span<const uint8_t> src,
                 std::span<const uint8_t> dst, bool over_ipv6, int depth) {
  const uint64_t pseudo = pseudo_header_sum(src, dst, proto, segment.size());
  switch (proto) {
    case ip_proto::kTcp: {
      if (segment.size() < 20) return fmt::format("TCP: {} bytes, header needs 20", segment.size());
      const std::size_t header_size = (segment[12] >> 4) * 4u;
      if (header_size < 20 || header_size > segment.size()) {
        return fmt::format("TCP: data offset {} bytes in a {}-byte segment", header_size,
                           segment.size());
      }
      if (!sums_to_all_ones(pseudo + word_sum(segment))) {
        return fmt::format("TCP: checksum 0x{:04x} is wrong", get16(segment, 16));
      }
      return std::nullopt;
    }
    case ip_proto::kUdp: {
      if (segment.size() < 8) return fmt::format("UDP: {} bytes, header needs 8", segment.size());
      if (get16(segment, 4) != segment.size()) {
        return fmt::format("UDP: length field {} but the IP payload is {} bytes", get16(segment, 4),
                           segment.size());
      }
      if (get16(segment, 6) == 0) {
        if (over_ipv6) return std::string("UDP: zero checksum over IPv6");
        return std::nullopt;  // "no checksum", allowed over IPv4
      }
      if (!sums_to_all_ones(pseudo + word_sum(segment))) {
        return fmt::format("UDP: checksum 0x{:04x} is wrong", get16(segment, 6));
      }
      return std::nullopt;
    }
    case ip_proto::kIcmp:
    case ip_proto::kIcmpv6: {
      const bool v6 = proto == ip_proto::kIcmpv6;
      if (segment.size() < 4) {
        return fmt::format("ICMP{}: {} bytes, header needs 4", v6 ? "v6" : "", segment.size());
      }
      if (!sums_to_all_ones((v6 ? pseudo : 0) + word_sum(segment))) {
        return fmt::format("ICMP{}: checksum 0x{:04x} is wrong", v6 ? "v6" : "", get16(segment, 2));
      }
      return std::nullopt;
    }
    case ip_proto::kIpip:
      return depth < kMaxNesting ? check_ipv4(segment, depth + 1) : std::nullopt;
    case ip_proto::kIpv6:
      return depth < kMaxNesting ? check_ipv6(segment, depth + 1) : std::nullopt;
    default:
      return std::nullopt;  // nothing we know how to verify
  }
}

Problem check_ipv4(std::span<const uint8_t> packet, int depth) {
  if (packet.size() < 20) return fmt::format("IPv4: {} bytes, header needs 20", packet.size());
  if (packet[0] >> 4 != 4) return fmt::format("IPv4: version {}", packet[0] >> 4);
  const std::size_t header_size = (packet[0] & 0x0f) * 4u;
  if (header_size < 20 || header_size > packet.size()) {
    return fmt::format("IPv4: IHL {} bytes with {} bytes present", header_size, packet.size());
  }
  std::span<const uint8_t> header = packet.first(header_size);
  if (!sums_to_all_ones(word_sum(header))) {
    return fmt::format("IPv4: header checksum 0x{:04x}, expected 0x{:04x}", get16(header, 10),
                       ipv4_header_checksum(header));
  }
  const std::size_t total = get16(packet, 2);
  // The frame may be longer (Ethernet padding), never shorter.
  if (total < header_size || total > packet.size()) {
    return fmt::format("IPv4: total length {} with a {}-byte header and {} bytes present", total,
                       header_size, packet.size());
  }
  if ((get16(packet, 6) & 0x3fff) != 0) return std::nullopt;  // a fragment: L4 not checkable
  return check_l4(packet[9], packet.subspan(header_size, total - header_size), packet.subspan(12, 4),
                  packet.subspan(16, 4), false, depth);
}

Problem check_ipv6(std::span<const uint8_t> packet, int depth) {
  if (packet.size() < 40) return fmt::format("IPv6: {} bytes, header needs 40", packet.size());
  if (packet[0] >> 4 != 6) return fmt::format("IPv6: version {}", packet[0] >> 4);
  const std::size_t payload_length = get16(packet, 4);
  if (40 + payload_length > packet.size()) {
    return fmt::format("IPv6: payload length {} with {} bytes present", payload_length,
                       packet.size() - 40);
  }
  std::span<const uint8_t> rest = packet.subspan(40, payload_length);
  uint8_t next_header = packet[6];
  for (int hops = 0; hops < 16; ++hops) {
    std::size_t header_size = 0;
    switch (next_header) {
      case ip_proto::kHopByHop:
      case ip_proto::kRouting:
      case ip_proto::kDestOpts:
        if (rest.size() < 2) return std::string("IPv6: truncated extension header");
        header_size = (rest[1] + 1u) * 8;
        break;
      case 51:  // AH counts in 4-byte units, minus 2
        if (rest.size() < 2) return std::string("IPv6: truncated AH");
        header_size = (rest[1] + 2u) * 4;
        break;
      case ip_proto::kFragment:
        if (rest.size() < 8) return std::string("IPv6: truncated fragment header");
        if ((get16(rest, 2) & 0xfff9) != 0) return std::nullopt;  // offset or M: not checkable
        header_size = 8;
        break;
      case ip_proto::kNoNext:
        return std::nullopt;
      default:
        return check_l4(next_header, rest, packet.subspan(8, 16), packet.subspan(24, 16), true,
                        depth);
    }
    if (header_size > rest.size()) {
      return fmt::format("IPv6: extension header {} of {} bytes with {} present", next_header,
                         header_size, rest.size());
    }
    next_header = rest[0];
    rest = rest.subspan(header_size);
  }
  return std::string("IPv6: extension header chain longer than 16");
}

}  // namespace

std::optional<std::string> checksum_error(std::span<const uint8_t> frame) {
  if (frame.size() < 14) return fmt::format("Ethernet: {} bytes, header needs 14", frame.size());
  std::size_t offset = 12;
  uint16_t type = get16(frame, offset);
  while (type == ethertype::kVlan || type == ethertype::kQinq) {
    if (frame.size() < offset + 6) return std::string("Ethernet: truncated VLAN tag");
    offset += 4;
    type = get16(frame, offset);
  }
  offset += 2;
  if (type == ethertype::kIpv4) return check_ipv4(frame.subspan(offset), 0);
  if (type == ethertype::kIpv6) return check_ipv6(frame.subspan(offset), 0);
  return std::nullopt;
}

std::string hex_dump(std::span<const uint8_t> bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0) out += fmt::format("{}{:04x} ", i == 0 ? "" : "\n", i);
    out += fmt::format(" {:02x}", bytes[i]);
  }
  out += '\n';
  return out;
}

}  // namespace xdpgw::test
