#include "lb/maglev.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <numeric>
#include <stdexcept>

namespace xdpgw::lb {

// ---------------------------------------------------------------------------
// SipHash-2-4, written out here rather than taken from std::hash (whose value
// is unspecified and differs between standard libraries) or from a library
// whose output could change with its version: the table must come out the
// same in every gateway instance, whatever it was built with.

namespace {

// Little-endian load, byte by byte, so the result does not depend on the
// host's byte order or on the alignment of `bytes`.
constexpr uint64_t load_le64(const char* bytes, std::size_t count) {
  uint64_t value = 0;
  for (std::size_t i = 0; i < count; ++i)
    value |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return value;
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  constexpr void round() {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  }
  constexpr void absorb(uint64_t word) {
    v3 ^= word;
    round();  // the "2" in 2-4: two compression rounds per 8-byte word
    round();
    v0 ^= word;
  }
};

}  // namespace

uint64_t siphash_2_4(SipHashKey key, std::string_view data) {
  // The initialisation constants spell "somepseudorandomlygeneratedbytes".
  SipState s{.v0 = 0x736f6d6570736575 ^ key.k0,
             .v1 = 0x646f72616e646f6d ^ key.k1,
             .v2 = 0x6c7967656e657261 ^ key.k0,
             .v3 = 0x7465646279746573 ^ key.k1};
  const std::size_t whole_words = data.size() / 8;
  for (std::size_t i = 0; i < whole_words; ++i) s.absorb(load_le64(data.data() + 8 * i, 8));
  // The last word carries the 0..7 remaining bytes and the length mod 256.
  const std::size_t tail = data.size() % 8;
  s.absorb(load_le64(data.data() + 8 * whole_words, tail) | (uint64_t{data.size() & 0xff} << 56));
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();  // the "4": finalisation rounds
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

// ---------------------------------------------------------------------------
// Primes

namespace {

// unsigned __int128 (a GCC/Clang extension) makes the 64x64-bit modular
// product exact in one multiplication; every compiler we build with has it.
uint64_t mul_mod(uint64_t a, uint64_t b, uint64_t m) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % m);
}

uint64_t pow_mod(uint64_t base, uint64_t exponent, uint64_t m) {
  uint64_t result = 1;
  base %= m;
  for (; exponent != 0; exponent >>= 1) {
    if (exponent & 1) result = mul_mod(result, base, m);
    base = mul_mod(base, base, m);
  }
  return result;
}

}  // namespace

bool is_prime(uint64_t n) {
  // Miller-Rabin with the first twelve primes as bases is deterministic for
  // every n < 3.3 * 10^24 (Sorenson and Webster, 2015), hence for all 64-bit
  // n. Trial division by the same primes settles small n and cheap cases.
  constexpr uint64_t kBases[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
  if (n < 2) return false;
  for (uint64_t p : kBases) {
    if (n % p == 0) return n == p;
  }
  // n - 1 = d * 2^r with d odd.
  const int r = std::countr_zero(n - 1);
  const uint64_t d = (n - 1) >> r;
  for (uint64_t a : kBases) {
    uint64_t x = pow_mod(a, d, n);
    if (x == 1 || x == n - 1) continue;
    bool witnessed_composite = true;
    for (int i = 1; i < r && witnessed_composite; ++i) {
      x = mul_mod(x, x, n);
      if (x == n - 1) witnessed_composite = false;
    }
    if (witnessed_composite) return false;
  }
  return true;
}

uint32_t next_prime(uint32_t n) {
  // Prime gaps below 2^32 are at most a few hundred, so this loop is short.
  for (uint64_t candidate = std::max<uint64_t>(n, 2);; ++candidate) {
    if (candidate > std::numeric_limits<uint32_t>::max())
      throw std::overflow_error(fmt::format("no 32-bit prime is >= {} (the largest is 4294967291)", n));
    if (is_prime(candidate)) return static_cast<uint32_t>(candidate);
  }
}

// ---------------------------------------------------------------------------
// The table

namespace {

// The two hash keys make h1 (offset) and h2 (skip) independent functions of
// the id, as the paper requires. They are the ASCII of the words shown, read
// little-endian: nothing hidden in them, and they are no secret (the
// backends are configured by the operator, not chosen by an attacker).
// NEVER change them: every table would reshuffle, and gateways running
// different versions would send the same flow to different backends
// (test_maglev's golden test fails if they change).
constexpr SipHashKey kOffsetKey{.k0 = load_le64("xdpgw/lb", 8), .k1 = load_le64("offset:1", 8)};
constexpr SipHashKey kSkipKey{.k0 = load_le64("xdpgw/lb", 8), .k1 = load_le64("skip:v1.", 8)};

void validate(const std::vector<Backend>& backends, uint32_t table_size) {
  if (table_size > kMaxTableSize)
    throw std::invalid_argument(fmt::format(
        "Maglev table size {} exceeds the maximum of {} slots (2^24)", table_size, kMaxTableSize));
  if (!is_prime(table_size))
    throw std::invalid_argument(fmt::format(
        "Maglev table size {} is not a prime (every backend's skip must be coprime with it "
        "for its permutation to reach every slot); the next prime is {}",
        table_size, next_prime(table_size)));

  // Duplicate ids would get identical permutations and make "slot -> backend
  // identity" ambiguous; finding them by sorting keeps this O(N log N).
  std::vector<uint32_t> by_id(backends.size());
  std::iota(by_id.begin(), by_id.end(), 0u);
  std::ranges::sort(by_id, {}, [&](uint32_t i) -> const std::string& { return backends[i].id; });
  for (std::size_t k = 0; k < by_id.size(); ++k) {
    const Backend& backend = backends[by_id[k]];
    if (backend.id.empty())
      throw std::invalid_argument(fmt::format("Maglev backend at index {} has an empty id", by_id[k]));
    if (k > 0 && backend.id == backends[by_id[k - 1]].id)
      throw std::invalid_argument(fmt::format(
          "Maglev backend id \"{}\" appears twice (indices {} and {})", backend.id,
          std::min(by_id[k - 1], by_id[k]), std::max(by_id[k - 1], by_id[k])));
  }

  const auto weighted = std::ranges::count_if(backends, [](const Backend& b) { return b.weight > 0; });
  if (static_cast<uint64_t>(weighted) > table_size)
    throw std::invalid_argument(fmt::format(
        "Maglev table size {} is smaller than the {} backends with a non-zero weight "
        "(each needs at least one slot; the paper suggests more than 100 slots per backend)",
        table_size, weighted));
}

// One weighted backend while the table fills.
struct Filler {
  uint32_t backend_index;  // into the caller's list: what the table stores
  uint32_t weight;
  uint32_t rank;           // position in id order: breaks ties, see below
  uint32_t next_slot;      // where its permutation continues
  uint32_t skip;
  uint32_t turns_taken = 0;

  // next_slot = (next_slot + skip) % M without a division (the build's inner
  // loop): both are below M <= 2^24, so their sum is below 2M.
  void advance(uint32_t table_size) {
    next_slot += skip;
    if (next_slot >= table_size) next_slot -= table_size;
  }
};

}  // namespace

// Weights: stride scheduling, the exact form of Katran's credit scheme.
//
// The paper fills round-robin: in each round every backend takes one turn,
// claiming the next still-empty slot of its permutation. With weights, a
// backend of weight w takes its k-th turn at virtual time k / w, and turns
// are taken in order of virtual time (stride scheduling, Waldspurger 1995).
// With equal weights this IS the paper's round-robin. It is what Katran's
// MaglevHashV2 does with credits (every round each backend earns its weight,
// and takes a turn once it has max_weight), except that we compare the exact
// fractions k / w instead of rounding them up to whole rounds.
//
// Why not Katran's first variant (MaglevHash: each backend takes `weight`
// turns in a row in the first round, then one turn per round): shares
// follow the weights only when the weights add up to about M, so weights
// such as {1, 2, 3, 4} come out nearly equal; and when they do add up to M,
// the last round is cut short and the backends first in turn order keep the
// remainder. Interleaving the turns one at a time keeps the error below
// about one slot per backend, for weights of any scale:
//
// Let the M-th (last) turn happen at virtual time t. Backend i has then taken
// every turn k with k / w_i < t and possibly some with k / w_i == t, so
// slots_i = t * w_i + e_i with -1 <= e_i <= 0. Summing, M = t * W + E
// (E = sum of e_j, -N <= E <= 0), so t = (M - E) / W and
//     slots_i - M * w_i / W = e_i * (1 - w_i / W) - (E - e_i) * w_i / W,
// which lies in [-1, (N - 1) * w_i / W]: under one slot for equal weights,
// 1.2 slots for weights {1, 2, 3, 4}, whatever M.
//
// Ties (turns at the same virtual time, e.g. every turn with equal weights)
// go to the backend whose id sorts first (std::string compares as unsigned
// char, so this order is the same everywhere). Using the ids' order rather
// than the caller's list order is what makes the table independent of how
// the list is ordered: whichever backend moves first wins a slot two
// backends both want next.
std::vector<uint32_t> build_maglev_table(const std::vector<Backend>& backends, uint32_t table_size) {
  validate(backends, table_size);

  std::vector<uint32_t> weighted_by_id;
  for (uint32_t i = 0; i < backends.size(); ++i) {
    if (backends[i].weight > 0) weighted_by_id.push_back(i);
  }
  if (weighted_by_id.empty()) return {};  // see the header: an empty pool is a state, not an error
  // A lone backend owns every slot whatever its permutation; filling directly
  // skips a walk that, for a large table, is one cache miss per slot.
  if (weighted_by_id.size() == 1) return std::vector<uint32_t>(table_size, weighted_by_id.front());
  std::ranges::sort(weighted_by_id, {}, [&](uint32_t i) -> const std::string& { return backends[i].id; });

  // The paper's permutation for backend i: slot_j = (offset + j * skip) % M,
  // with skip in [1, M - 1], hence coprime with the prime M, so the walk
  // visits every slot. It is followed incrementally from `next_slot`
  // instead of being stored (N * M entries).
  const uint64_t size = table_size;
  std::vector<Filler> fillers;
  fillers.reserve(weighted_by_id.size());
  for (uint32_t rank = 0; rank < weighted_by_id.size(); ++rank) {
    const Backend& backend = backends[weighted_by_id[rank]];
    const uint64_t offset = siphash_2_4(kOffsetKey, backend.id) % size;
    // For M = 2, M - 1 = 1 and every skip is 1, which still visits both slots.
    const uint64_t skip = siphash_2_4(kSkipKey, backend.id) % (size - 1) + 1;
    fillers.push_back({.backend_index = weighted_by_id[rank],
                       .weight = backend.weight,
                       .rank = rank,
                       .next_slot = static_cast<uint32_t>(offset),
                       .skip = static_cast<uint32_t>(skip)});
  }

  // `fillers` becomes a min-heap on the virtual time of each backend's next
  // turn, (turns_taken + 1) / weight, ties to the lower rank. Comparing
  // a/b < c/d as a*d < c*b is exact: turns <= M <= 2^24 and weights < 2^32,
  // so each product is below 2^57.
  auto turns_later = [](const Filler& x, const Filler& y) {
    const uint64_t x_time = uint64_t{x.turns_taken + 1} * y.weight;
    const uint64_t y_time = uint64_t{y.turns_taken + 1} * x.weight;
    return x_time != y_time ? x_time > y_time : x.rank > y.rank;
  };
  std::ranges::make_heap(fillers, turns_later);

  std::vector<uint32_t> table(table_size, kNoBackend);
  for (uint32_t filled = 0; filled < table_size; ++filled) {
    std::ranges::pop_heap(fillers, turns_later);  // the next turn moves to the back
    Filler& filler = fillers.back();
    // Walk the permutation to its first slot nobody has claimed yet. Over
    // the whole build this costs O(M log M) steps in expectation (the
    // paper's analysis), since a backend never revisits a slot.
    while (table[filler.next_slot] != kNoBackend) filler.advance(table_size);
    table[filler.next_slot] = filler.backend_index;
    filler.advance(table_size);
    ++filler.turns_taken;
    std::ranges::push_heap(fillers, turns_later);
  }
  return table;
}

uint32_t lookup(const std::vector<uint32_t>& table, uint64_t flow_hash) {
  if (table.empty()) return kNoBackend;
  return table[flow_hash % table.size()];
}

}  // namespace xdpgw::lb
