// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4).
//
// build_maglev_table is a pure function of (backend identities, weights,
// table size): it never touches the kernel, reads no clock, no randomness and
// no process state, and hashes with a fixed, explicitly implemented hash
// (SipHash-2-4 under fixed keys). Every gateway instance, on every machine,
// therefore builds the same table from the same pool and sends a flow to the
// same backend.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace xdpgw::lb {

// The paper's recommended size for pools up to a few hundred backends; a
// prime, as the permutation scheme requires.
inline constexpr uint32_t kDefaultTableSize = 65537;

// 2^24 slots (64 MiB of uint32_t) is far beyond what a VIP needs (the paper
// suggests M > 100 * N) and keeps a table a sane size for a BPF map.
inline constexpr uint32_t kMaxTableSize = uint32_t{1} << 24;

// What lookup() returns for an empty table (a pool with no usable backend).
inline constexpr uint32_t kNoBackend = std::numeric_limits<uint32_t>::max();

struct Backend {
  // Stable identity, e.g. "198.18.5.10:80" or "[2001:db8::10]:80". Only this
  // string decides the backend's permutation, never its position in the
  // list, so adding or removing one backend leaves every other backend's
  // preferences unchanged. Must be non-empty and unique within a pool.
  std::string id;
  // Relative share of the table. 0 = drained: the backend gets no slot (it
  // stays in the list so that indices keep pointing at the same backends).
  uint32_t weight = 1;
};

// Deterministic primality for every 64-bit n (Miller-Rabin with a base set
// proven sufficient below 3.3 * 10^24).
bool is_prime(uint64_t n);

// The smallest prime >= n (2 for n <= 2). Throws std::overflow_error when that
// prime does not fit in 32 bits (n > 4294967291).
uint32_t next_prime(uint32_t n);

// Builds the Maglev lookup table: entry s is the index, into `backends`, of
// the backend that owns slot s. Every slot is owned by a backend of non-zero
// weight, and backend i owns its weight's share of the slots to within about
// one slot: with M = table_size, W = sum of weights and N = the number of
// backends of non-zero weight,
//     -1 <= slots_i - M * w_i / W <= (N - 1) * w_i / W
// (below one slot for equal weights; the proof is in maglev.cpp).
//
// A pool with no weighted backend (empty list, or every weight 0) yields an
// EMPTY table, not an error: health checks failing every backend is an
// operating state the caller has to handle (drop or count "no backend"), not
// a programming mistake. lookup() on it returns kNoBackend.
//
// Throws std::invalid_argument, naming the problem, when table_size is not a
// prime, exceeds kMaxTableSize or is smaller than the number of weighted
// backends, or when an id is empty or appears twice.
std::vector<uint32_t> build_maglev_table(const std::vector<Backend>& backends,
                                         uint32_t table_size = kDefaultTableSize);

// The backend index for a flow: table[flow_hash % table.size()], or
// kNoBackend for an empty table. flow_hash is the datapath's flow hash.
uint32_t lookup(const std::vector<uint32_t>& table, uint64_t flow_hash);

// SipHash-2-4 (Aumasson and Bernstein, 2012) of `data` under the 128-bit key
// (k0, k1) = the key bytes 0..7 and 8..15 read little-endian. The output is
// independent of the host's byte order. Exposed for its reference-vector test.
struct SipHashKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};
uint64_t siphash_2_4(SipHashKey key, std::string_view data);

}  // namespace xdpgw::lb
