// Seeded generation of hostile frames for the packet fuzz test: a
// well-formed frame made with FrameBuilder (IPv4/IPv6, TCP/UDP/ICMP/ICMPv6
// and other protocols, VLAN/QinQ, IPv4 options, fragments, IPv6 extension
// chains, bad checksums, zero-length payloads, Ethernet padding), or a frame
// of random bytes, then mutated: truncation, byte and bit flips, corrupted
// length fields (IPv4 IHL/total length, IPv6 payload length, extension
// header lengths, TCP data offset, UDP length), random EtherTypes and
// protocols, random bytes, inserted and deleted bytes.
//
// Frame i of a run depends only on (seed, stream, i), so a failure is
// reproduced from the seed alone, and one frame can be regenerated without
// the ones before it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "harness/addr.hpp"

namespace xdpgw::test::fuzz {

// xoshiro256** seeded through splitmix64: the same sequence on every
// platform and standard library (std:: distributions are not specified
// bit-exactly, so they are not used).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  uint64_t below(uint64_t bound);  // uniform in [0, bound); bound > 0
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool percent(unsigned p) { return below(100) < p; }
  uint8_t byte() { return static_cast<uint8_t>(next()); }
  uint16_t u16() { return static_cast<uint16_t>(next()); }

  template <class T>
  const T& pick(std::span<const T> items) {
    return items[below(items.size())];
  }
  template <class T>
  T pick(std::initializer_list<T> items) {
    return items.begin()[below(items.size())];
  }

 private:
  uint64_t s_[4];
};

// The seed of frame `index` of stream `stream` (one stream per route source).
uint64_t frame_seed(uint64_t run_seed, uint64_t stream, uint64_t index);

// Addresses the generator draws from: the ones the routing under test makes
// interesting (routed, unresolved, local, multicast, link-local, ...).
struct AddressPool {
  std::vector<MacAddr> macs;
  std::vector<Ipv4Addr> v4;
  std::vector<Ipv6Addr> v6;
};

struct GeneratedFrame {
  std::vector<uint8_t> bytes;
  std::string recipe;  // how it was made, for failure messages
};

GeneratedFrame generate_frame(Rng& rng, const AddressPool& pool);

}  // namespace xdpgw::test::fuzz
