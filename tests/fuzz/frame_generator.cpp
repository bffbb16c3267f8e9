#include "fuzz/frame_generator.hpp"

#include <algorithm>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "fuzz/reference_model.hpp"
#include "harness/frame.hpp"

namespace xdpgw::test::fuzz {

// ---- Rng ------------------------------------------------------------------

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::below(uint64_t bound) {
  // Lemire's multiply-shift with rejection: unbiased, platform-independent.
  for (;;) {
    const unsigned __int128 m = static_cast<unsigned __int128>(next()) * bound;
    const auto low = static_cast<uint64_t>(m);
    if (low >= bound || low >= (-bound) % bound) return static_cast<uint64_t>(m >> 64);
  }
}

uint64_t frame_seed(uint64_t run_seed, uint64_t stream, uint64_t index) {
  uint64_t state = run_seed ^ (stream * 0xd1b54a32d192ed03ull);
  splitmix64(state);
  state ^= index * 0x8cb92ba72f3d8dd7ull;
  return splitmix64(state);
}

// ---- well-formed frames -------------------------------------------------------

namespace {

using Bytes = std::vector<uint8_t>;

// How a frame was made, for failure messages:
// "ipv4 ttl 64, tcp, payload 22; mutated: truncate to 40, flip 2 bytes".
class Recipe {
 public:
  template <typename... Args>
  void add(fmt::format_string<Args...> format, Args&&... args) {
    if (!text_.empty()) text_ += after_mark_ ? " " : ", ";
    after_mark_ = false;
    fmt::format_to(std::back_inserter(text_), format, std::forward<Args>(args)...);
  }
  // "...; mutated: truncate to 40, flip 2 bytes"
  void mark_mutations() {
    text_ += "; mutated:";
    after_mark_ = true;
  }
  std::string take() && { return std::move(text_); }

 private:
  std::string text_;
  bool after_mark_ = false;
};

Bytes random_bytes(Rng& rng, std::size_t size) {
  Bytes out(size);
  for (uint8_t& b : out) b = rng.byte();
  return out;
}

std::size_t payload_size(Rng& rng) {
  const auto r = rng.below(100);
  if (r < 35) return 0;  // zero-length payloads are a case of their own
  if (r < 70) return rng.between(1, 64);
  if (r < 90) return rng.between(65, 600);
  return rng.between(601, 1700);  // around and over the port MTUs
}

uint8_t ttl(Rng& rng) {
  return rng.pick<uint8_t>({0, 1, 2, 64, 64, 64, 64, 64, 255, static_cast<uint8_t>(rng.byte())});
}

uint8_t small_ext_len(Rng& rng) {
  const auto r = rng.below(100);
  if (r < 85) return static_cast<uint8_t>(rng.below(4));
  if (r < 95) return static_cast<uint8_t>(rng.below(64));
  return static_cast<uint8_t>(rng.between(128, 255));  // 1-2 KiB: past the L4 offset bound
}


// The upper layer, chosen before the IP header so that header can name it.
enum class L4Kind { kTcp, kUdp, kIcmp, kOtherFamilyIcmp, kOther };
struct L4Choice {
  L4Kind kind;
  uint8_t proto = 0;  // kOther: the protocol number the IP header carries
};

L4Choice choose_l4(Rng& rng) {
  const auto c = rng.below(100);
  if (c < 30) return {L4Kind::kTcp};
  if (c < 58) return {L4Kind::kUdp};
  if (c < 70) return {L4Kind::kIcmp};
  if (c < 76) return {L4Kind::kOtherFamilyIcmp};
  // GRE, ESP, SCTP, IPIP, IPv6-in-IP, no next header, anything.
  return {L4Kind::kOther, rng.pick<uint8_t>({47, 50, 132, 4, 41, 59, rng.byte()})};
}

void add_ipv4(Rng& rng, const AddressPool& pool, const L4Choice& l4, FrameBuilder& b,
              Recipe& r) {
  Ipv4Fields f{.src = rng.pick<Ipv4Addr>(pool.v4),
               .dst = rng.pick<Ipv4Addr>(pool.v4),
               .ttl = ttl(rng),
               .tos = rng.percent(10) ? rng.byte() : uint8_t{0},
               .id = rng.u16(),
               .dont_fragment = rng.percent(50)};
  if (rng.percent(8)) f.more_fragments = true;
  if (rng.percent(6)) f.frag_offset = static_cast<uint16_t>(rng.between(1, 0x1fff));
  if (rng.percent(12)) {
    const std::size_t length = rng.between(1, 40);
    switch (rng.below(3)) {
      case 0: f.options.assign(length, 1); break;  // NOPs
      case 1: f.options = {0x94, 4, 0, 0}; break;  // router alert
      default: f.options = random_bytes(rng, length); break;
    }
  }
  if (l4.kind == L4Kind::kOther) f.protocol = l4.proto;
  r.add("ipv4 ttl {}{}{}{}", f.ttl, f.more_fragments ? " MF" : "",
        f.frag_offset ? fmt::format(" offset {}", f.frag_offset) : "",
        f.options.empty() ? "" : fmt::format(" {} option bytes", f.options.size()));
  b.ipv4(f);
}

void add_ipv6(Rng& rng, const AddressPool& pool, const L4Choice& l4, FrameBuilder& b,
              Recipe& r) {
  Ipv6Fields f{.src = rng.pick<Ipv6Addr>(pool.v6),
               .dst = rng.pick<Ipv6Addr>(pool.v6),
               .hop_limit = ttl(rng),
               .traffic_class = rng.percent(10) ? rng.byte() : uint8_t{0},
               .flow_label = static_cast<uint32_t>(rng.below(1u << 20))};
  std::size_t chain = 0;
  if (rng.percent(30)) {
    // Mostly within the bound of 6 headers, sometimes past it.
    chain = rng.percent(80) ? rng.between(1, 3) : rng.between(4, 9);
  }
  // With a chain, its last header names the upper layer (from the layer
  // after it; an "other" payload makes that 59, no next header).
  if (l4.kind == L4Kind::kOther && chain == 0) f.next_header = l4.proto;
  b.ipv6(f);
  std::string kinds;
  for (std::size_t i = 0; i < chain; ++i) {
    switch (rng.below(4)) {
      case 0: b.hop_by_hop(small_ext_len(rng)); kinds += " hbh"; break;
      case 1: b.dest_opts(small_ext_len(rng)); kinds += " dst"; break;
      case 2: b.routing(253, 0, small_ext_len(rng)); kinds += " rt"; break;
      default: {
        const auto offset = static_cast<uint16_t>(rng.percent(70) ? 0 : rng.below(0x2000));
        const bool more = rng.percent(50);
        b.fragment(offset, more, static_cast<uint32_t>(rng.next()));
        kinds += more || offset ? " frag" : " atomic-frag";
        break;
      }
    }
  }
  r.add("ipv6 hop limit {}{}{}", f.hop_limit, chain ? ", ext" : "", kinds);
}

void add_l4(Rng& rng, bool v6, const L4Choice& l4, FrameBuilder& b, Recipe& r) {
  switch (l4.kind) {
    case L4Kind::kTcp: {
      TcpFields t{.sport = rng.u16(),
                  .dport = rng.u16(),
                  .seq = static_cast<uint32_t>(rng.next()),
                  .flags = rng.percent(50) ? tcp_flags::kAck : rng.byte()};
      if (rng.percent(20)) t.options = random_bytes(rng, rng.between(1, 40));
      b.tcp(t);
      r.add("tcp{}", t.options.empty() ? "" : fmt::format(" {} option bytes", t.options.size()));
      break;
    }
    case L4Kind::kUdp:
      b.udp({.sport = rng.u16(), .dport = rng.u16(), .zero_checksum = !v6 && rng.percent(10)});
      r.add("udp");
      break;
    case L4Kind::kIcmp: {
      const bool echo = rng.percent(60);
      const uint8_t type = rng.byte();
      const uint8_t code = rng.byte();
      const uint16_t id = rng.u16();
      if (v6) {
        echo ? b.icmpv6_echo(id, 1) : b.icmpv6(type, code);
      } else {
        echo ? b.icmp_echo(id, 1) : b.icmp(type, code);
      }
      r.add("{}{}", v6 ? "icmpv6" : "icmp", echo ? " echo" : fmt::format(" type {}", type));
      break;
    }
    case L4Kind::kOtherFamilyIcmp: {  // handled as "other"
      const uint16_t id = rng.u16();
      v6 ? b.icmp_echo(id, 1) : b.icmpv6_echo(id, 1);
      r.add("{}", v6 ? "icmp in ipv6" : "icmpv6 in ipv4");
      break;
    }
    case L4Kind::kOther:
      r.add("protocol {}", l4.proto);
      return;  // no header: the payload follows the IP header
  }
  if (rng.percent(10)) {
    b.bad_l4_checksum();
    r.add("bad l4 checksum");
  }
}

// One of FrameBuilder's length overrides, on a header the frame has.
void length_override(Rng& rng, bool v6, const L4Choice& l4, FrameBuilder& b, Recipe& r) {
  const auto c = rng.below(3);
  if (c == 0 && v6) {
    const auto v = static_cast<uint16_t>(rng.below(200));
    b.ipv6_payload_length(v);
    r.add("ipv6 payload length {}", v);
  } else if (c == 0) {
    const auto v = static_cast<uint16_t>(rng.below(200));
    b.ipv4_total_length(v);
    r.add("ipv4 total length {}", v);
  } else if (c == 1 && !v6) {
    const auto ihl = static_cast<uint8_t>(rng.below(16));
    b.ipv4_ihl(ihl);
    r.add("ipv4 ihl {}", ihl);
  } else if (l4.kind == L4Kind::kTcp) {
    const auto doff = static_cast<uint8_t>(rng.below(16));
    b.tcp_doff(doff);
    r.add("tcp doff {}", doff);
  } else if (l4.kind == L4Kind::kUdp) {
    const auto v = static_cast<uint16_t>(rng.below(120));
    b.udp_length(v);
    r.add("udp length {}", v);
  }
}

Bytes build_well_formed(Rng& rng, const AddressPool& pool, Recipe& r) {
  FrameBuilder b;
  // Draws go into named values first: the order function arguments are
  // evaluated in is unspecified, and frames must not depend on the compiler.
  const MacAddr dst = rng.pick<MacAddr>(pool.macs);
  const MacAddr src = rng.pick<MacAddr>(pool.macs);
  b.eth(dst, src);

  // L2 tags: mostly none, sometimes one or two (QinQ), now and then three.
  const auto t = rng.below(100);
  const std::size_t tags = t < 85 ? 0 : t < 91 ? 1 : t < 97 ? 2 : 3;
  for (std::size_t i = 0; i < tags; ++i) {
    const auto tci = rng.u16();
    rng.percent(50) ? b.vlan(tci) : b.qinq(tci);
  }
  if (tags) r.add("{} vlan tags", tags);

  const auto l3 = rng.below(100);
  if (l3 < 5) {  // not IP: ARP, LLDP, experimental, MPLS, anything
    const uint16_t type = rng.pick<uint16_t>({0x0806, 0x88cc, 0x88b5, 0x8847, rng.u16()});
    b.ethertype(type).payload(random_bytes(rng, rng.below(64)));
    r.add("ethertype {:#06x}", type);
    return b.build();
  }
  const bool v6 = l3 >= 54;
  const L4Choice l4 = choose_l4(rng);
  v6 ? add_ipv6(rng, pool, l4, b, r) : add_ipv4(rng, pool, l4, b, r);
  add_l4(rng, v6, l4, b, r);

  const std::size_t size = payload_size(rng);
  if (size) b.payload(size);
  r.add("payload {}", size);
  if (rng.percent(12)) length_override(rng, v6, l4, b, r);
  if (!v6 && rng.percent(10)) {
    b.bad_ipv4_checksum();
    r.add("bad ipv4 checksum");
  }
  if (rng.percent(10)) {
    const std::size_t pad = rng.between(1, 30);
    b.eth_trailer(pad, rng.byte());
    r.add("{} bytes ethernet padding", pad);
  }
  return b.build();
}

// Random bytes, mostly under an EtherType (and IP version) that makes the
// parser look further.
Bytes random_frame(Rng& rng, Recipe& r) {
  const std::size_t size = rng.percent(90) ? rng.between(kMinFrame, 128) : rng.between(129, 1514);
  Bytes f = random_bytes(rng, size);
  if (rng.percent(70)) {
    const uint16_t type = rng.pick<uint16_t>({0x0800, 0x86dd, 0x8100, 0x88a8});
    f[12] = static_cast<uint8_t>(type >> 8);
    f[13] = static_cast<uint8_t>(type);
    if (f.size() > 14 && rng.percent(70)) {
      if (type == 0x0800) f[14] = static_cast<uint8_t>(0x40 | (f[14] & 0x0f));
      if (type == 0x86dd) f[14] = static_cast<uint8_t>(0x60 | (f[14] & 0x0f));
    }
  }
  r.add("{} random bytes, ethertype {:#06x}", size, f[12] << 8 | f[13]);
  return f;
}

// ---- mutations ---------------------------------------------------------------

void set16(Bytes& f, std::size_t at, uint16_t v) {
  if (at + 2 > f.size()) return;
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

uint16_t get16(const Bytes& f, std::size_t at) {
  return at + 2 <= f.size() ? static_cast<uint16_t>(f[at] << 8 | f[at + 1]) : 0;
}

// A 16-bit length worth trying instead of `current`, the right value being
// `actual`: boundaries, off-by-ones, nonsense.
uint16_t interesting_length(Rng& rng, uint16_t current, std::size_t actual) {
  const auto a = static_cast<uint16_t>(actual);
  return rng.pick<uint16_t>({0, 1, 7, 8, 19, 20, 39, 40, static_cast<uint16_t>(current - 1),
                             static_cast<uint16_t>(current + 1), static_cast<uint16_t>(current - 8),
                             static_cast<uint16_t>(current + 8), a, static_cast<uint16_t>(a + 1),
                             static_cast<uint16_t>(a - 1), 0xffff, rng.u16()});
}

// Offsets where a cut is most interesting: header starts and ends.
std::vector<std::size_t> boundaries(const Parsed& p) {
  std::vector<std::size_t> out(p.type_offsets.begin(), p.type_offsets.end());
  if (p.l3_off) {
    out.push_back(*p.l3_off);
    out.push_back(*p.l3_off + (p.ipv6 ? 40 : 20));
    out.push_back(*p.l3_off + p.l3_len);
  }
  for (std::size_t ext : p.ext_offsets) out.push_back(ext);
  if (p.l4_off) {
    for (std::size_t n : {0, 8, 20}) out.push_back(*p.l4_off + n);
  }
  return out;
}

void mutate(Rng& rng, Bytes& f, Recipe& r) {
  const Parsed p = parse_frame(f);
  // Positions in the first 80 bytes (headers) most of the time.
  auto position = [&] {
    const std::size_t span = rng.percent(70) ? std::min<std::size_t>(f.size(), 80) : f.size();
    return static_cast<std::size_t>(rng.below(span));
  };
  switch (rng.below(12)) {
    case 0: {  // truncate
      if (f.size() <= kMinFrame) break;
      std::size_t cut = kMinFrame + rng.below(f.size() - kMinFrame);
      if (rng.percent(50)) {
        const auto marks = boundaries(p);
        if (!marks.empty()) {
          const std::size_t near = rng.pick<std::size_t>(marks) + rng.below(7);
          cut = near < 3 + kMinFrame ? kMinFrame : near - 3;
        }
      }
      if (cut < f.size()) {
        f.resize(cut);
        r.add("truncate to {}", cut);
      }
      return;
    }
    case 1: {  // flip bytes
      const auto n = rng.between(1, 4);
      for (uint64_t i = 0; i < n; ++i) f[position()] ^= static_cast<uint8_t>(rng.between(1, 255));
      r.add("flip {} bytes", n);
      return;
    }
    case 2: {  // flip one bit
      const std::size_t at = position();
      const auto bit = rng.below(8);
      f[at] ^= static_cast<uint8_t>(1u << bit);
      r.add("flip bit {} of byte {}", bit, at);
      return;
    }
    case 3:
    case 4: {  // corrupt a length field of a header the frame has
      std::vector<int> fields;
      if (p.l3_off && !p.ipv6) fields.insert(fields.end(), {0, 1});
      if (p.l3_off && p.ipv6) fields.push_back(2);
      if (!p.ext_offsets.empty()) fields.push_back(3);
      if (p.l4_off && p.l4_proto == 6) fields.push_back(4);
      if (p.l4_off && p.l4_proto == 17) fields.push_back(5);
      if (fields.empty()) break;
      const std::size_t l3 = p.l3_off.value_or(0);
      switch (rng.pick<int>(fields)) {
        case 0: {
          const auto ihl = static_cast<uint8_t>(rng.below(16));
          if (l3 < f.size()) f[l3] = static_cast<uint8_t>((f[l3] & 0xf0) | ihl);
          r.add("ipv4 ihl {}", ihl);
          return;
        }
        case 1: {
          const auto v = interesting_length(rng, get16(f, l3 + 2), f.size() - l3);
          set16(f, l3 + 2, v);
          r.add("ipv4 total length {}", v);
          return;
        }
        case 2: {
          const std::size_t actual = f.size() > l3 + 40 ? f.size() - l3 - 40 : 0;
          const auto v = interesting_length(rng, get16(f, l3 + 4), actual);
          set16(f, l3 + 4, v);
          r.add("ipv6 payload length {}", v);
          return;
        }
        case 3: {
          const std::size_t ext = rng.pick<std::size_t>(p.ext_offsets);
          const auto v = rng.pick<uint8_t>({0, 1, 2, 3, 127, 255, rng.byte()});
          if (ext + 1 < f.size()) f[ext + 1] = v;
          r.add("ext header at {} length {}", ext, v);
          return;
        }
        case 4: {
          const std::size_t at = *p.l4_off + 12;
          const auto doff = static_cast<uint8_t>(rng.below(16));
          if (at < f.size()) f[at] = static_cast<uint8_t>(doff << 4 | (f[at] & 0x0f));
          r.add("tcp doff {}", doff);
          return;
        }
        default: {
          const std::size_t at = *p.l4_off + 4;
          const std::size_t ip_end = l3 + p.l3_len;
          const std::size_t actual = ip_end - std::min(ip_end, *p.l4_off);
          const auto v = interesting_length(rng, get16(f, at), actual);
          set16(f, at, v);
          r.add("udp length {}", v);
          return;
        }
      }
    }
    case 5: {  // EtherType / TPID (parse_frame records at least the first)
      const std::size_t at = rng.pick<std::size_t>(p.type_offsets);
      const uint16_t type = rng.pick<uint16_t>({0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, rng.u16()});
      set16(f, at, type);
      r.add("ethertype at {} {:#06x}", at, type);
      return;
    }
    case 6: {  // protocol / next header
      std::vector<std::size_t> at;
      if (p.proto_field_off) at.push_back(*p.proto_field_off);
      if (p.l3_off) at.push_back(*p.l3_off + (p.ipv6 ? 6 : 9));
      for (std::size_t ext : p.ext_offsets) at.push_back(ext);
      if (at.empty()) break;
      const std::size_t where = rng.pick<std::size_t>(at);
      const uint8_t proto =
          rng.pick<uint8_t>({0, 1, 4, 6, 17, 41, 43, 44, 50, 51, 58, 59, 60, 135, rng.byte()});
      if (where < f.size()) f[where] = proto;
      r.add("protocol at {} = {}", where, proto);
      return;
    }
    case 7: {  // IP version
      if (!p.l3_off || *p.l3_off >= f.size()) break;
      const auto version = static_cast<uint8_t>(rng.below(16));
      f[*p.l3_off] = static_cast<uint8_t>(version << 4 | (f[*p.l3_off] & 0x0f));
      r.add("ip version {}", version);
      return;
    }
    case 8: {  // overwrite a range with random bytes
      const std::size_t at = position();
      const std::size_t n = std::min<std::size_t>(rng.between(1, 16), f.size() - at);
      for (std::size_t i = 0; i < n; ++i) f[at + i] = rng.byte();
      r.add("{} random bytes at {}", n, at);
      return;
    }
    case 9: {  // insert or delete bytes (shifts every header after them)
      const std::size_t at = 12 + rng.below(f.size() - 11);
      const std::size_t n = rng.between(1, 8);
      if (rng.percent(50)) {
        const Bytes extra = random_bytes(rng, n);
        f.insert(f.begin() + static_cast<std::ptrdiff_t>(at), extra.begin(), extra.end());
        r.add("insert {} bytes at {}", n, at);
      } else {
        const std::size_t k = std::min(n, f.size() - at);
        f.erase(f.begin() + static_cast<std::ptrdiff_t>(at),
                f.begin() + static_cast<std::ptrdiff_t>(at + k));
        r.add("delete {} bytes at {}", k, at);
      }
      return;
    }
    case 10: {  // TTL / hop limit at the edges
      if (!p.l3_off) break;
      const std::size_t at = *p.l3_off + (p.ipv6 ? 7 : 8);
      if (at >= f.size()) break;
      f[at] = rng.pick<uint8_t>({0, 1, 2, 255});
      r.add("ttl {}", f[at]);
      return;
    }
    default: {  // trailing bytes no length counts
      const Bytes extra = random_bytes(rng, rng.between(1, 64));
      f.insert(f.end(), extra.begin(), extra.end());
      r.add("append {} bytes", extra.size());
      return;
    }
  }
  // The chosen mutation did not apply to this frame: flip a byte instead.
  const std::size_t at = position();
  f[at] ^= static_cast<uint8_t>(rng.between(1, 255));
  r.add("flip byte {}", at);
}

}  // namespace

GeneratedFrame generate_frame(Rng& rng, const AddressPool& pool) {
  Recipe r;
  Bytes f = rng.percent(4) ? random_frame(rng, r) : build_well_formed(rng, pool, r);
  // A third of the frames stay as built: well-formed ones must be handled
  // exactly right too, not only survive.
  const std::size_t mutations = rng.percent(35) ? 0 : rng.between(1, 3);
  if (mutations) r.mark_mutations();
  for (std::size_t i = 0; i < mutations; ++i) {
    mutate(rng, f, r);
    // Deleted bytes can leave less than Ethernet; the kernel would refuse it.
    while (f.size() < kMinFrame) f.push_back(rng.byte());
  }
  if (f.size() > kMaxLinearFrame) {
    f.resize(kMaxLinearFrame);
    r.add("cut to {}", kMaxLinearFrame);
  }
  return {std::move(f), std::move(r).take()};
}

}  // namespace xdpgw::test::fuzz
