#include "flow_export/scanner.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <system_error>

namespace xdpgw::flow_export {
namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpRst = 0x04;

// Per-CPU values come rounded up to 8 bytes each (bpf(2), BPF_MAP_LOOKUP_ELEM).
constexpr std::size_t kValueStride = (sizeof(xdpgw_fe_value) + 7) / 8 * 8;

uint64_t to_epoch_ms(uint64_t mono_ns, uint64_t now_mono_ns, uint64_t now_epoch_ms) {
  const uint64_t age_ms = now_mono_ns > mono_ns ? (now_mono_ns - mono_ns) / 1'000'000 : 0;
  return now_epoch_ms > age_ms ? now_epoch_ms - age_ms : 0;
}

}  // namespace

std::size_t Scanner::KeyHash::operator()(const xdpgw_fe_key& k) const noexcept {
  // FNV-1a over the key's bytes (padding is zero on both sides).
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = reinterpret_cast<const uint8_t*>(&k);
  for (std::size_t i = 0; i < sizeof k; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return static_cast<std::size_t>(h);
}

bool Scanner::KeyEq::operator()(const xdpgw_fe_key& a, const xdpgw_fe_key& b) const noexcept {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void Scanner::read_all(std::vector<xdpgw_fe_key>& keys, std::vector<uint8_t>& values) {
  const std::size_t per_key = kValueStride * ncpus_;
  if (batch_ok_) {
    // BPF_MAP_LOOKUP_BATCH: a few thousand flows per syscall instead of two
    // syscalls per flow.
    constexpr uint32_t kChunk = 4096;
    std::vector<xdpgw_fe_key> kbuf(kChunk);
    std::vector<uint8_t> vbuf(kChunk * per_key);
    uint32_t token = 0;
    bool first = true;
    for (;;) {
      uint32_t count = kChunk;
      const int rc = bpf_map_lookup_batch(flow_cache_fd_, first ? nullptr : &token, &token, kbuf.data(),
                                          vbuf.data(), &count, nullptr);
      const int err = rc ? errno : 0;
      if (rc && err != ENOENT) {
        // EINVAL/ENOTSUPP: a kernel without batch ops for this map;
        // ENOSPC cannot happen with a chunk this large for 48-byte keys
        // unless a bucket holds more, and then the walk below is right too.
        batch_ok_ = false;
        keys.clear();
        values.clear();
        break;
      }
      keys.insert(keys.end(), kbuf.begin(), kbuf.begin() + count);
      values.insert(values.end(), vbuf.begin(), vbuf.begin() + std::ptrdiff_t(count * per_key));
      first = false;
      if (err == ENOENT) return;  // the walk is complete
    }
  }
  // Keys first, then lookups: deleting while walking would restart the walk.
  xdpgw_fe_key key{}, next{};
  const void* prev = nullptr;
  std::vector<xdpgw_fe_key> all;
  while (bpf_map_get_next_key(flow_cache_fd_, prev, &next) == 0) {
    all.push_back(next);
    key = next;
    prev = &key;
  }
  std::vector<uint8_t> one(per_key);
  for (const xdpgw_fe_key& k : all) {
    if (bpf_map_lookup_elem(flow_cache_fd_, &k, one.data()) != 0) {
      if (errno != ENOENT) ++stats_.map_errors;  // ENOENT: evicted meanwhile
      continue;
    }
    keys.push_back(k);
    values.insert(values.end(), one.begin(), one.end());
  }
}

Scanner::Scanner(int flow_cache_fd, int conn_table_fd)
    : flow_cache_fd_(flow_cache_fd), conn_table_fd_(conn_table_fd) {
  const int n = libbpf_num_possible_cpus();
  if (n <= 0) throw std::system_error(-n, std::generic_category(), "libbpf_num_possible_cpus");
  ncpus_ = static_cast<unsigned>(n);
}

void Scanner::add_nat(FlowRecord& r, const xdpgw_fe_key& key, uint8_t fwd_reason) const {
  if (conn_table_fd_ < 0) return;
  const bool forward = fwd_reason == XDPGW_R_FWD_LB_NAT;
  if (!forward && fwd_reason != XDPGW_R_FWD_LB_REVERSE_NAT) return;
  // The entry of the other direction holds what the packet had before the
  // rewrite: for client -> backend (forward) the reverse entry (backend ->
  // client) holds the VIP the client addressed; for VIP -> client (reverse)
  // the client's forward entry (client -> VIP) holds the backend that sent it.
  const xdpgw_flow_key& k = key.flow;
  xdpgw_flow_key lookup{};
  xdpgw_flow entry{};
  lookup.proto = k.proto;
  lookup.family = k.family;
  std::memcpy(lookup.src, k.dst, 16);
  std::memcpy(lookup.dst, k.src, 16);
  lookup.sport = k.dport;
  lookup.dport = k.sport;
  if (bpf_map_lookup_elem(conn_table_fd_, &lookup, &entry) != 0) return;
  r.nat = true;
  r.post_src = r.src;
  r.post_dst = r.dst;
  r.post_sport = r.sport;
  r.post_dport = r.dport;
  if (forward) {
    std::copy(std::begin(entry.target), std::end(entry.target), r.dst.begin());
    r.dport = ntohs(entry.target_port);
  } else {
    std::copy(std::begin(entry.target), std::end(entry.target), r.src.begin());
    if (entry.target_port != 0) r.sport = ntohs(entry.target_port);  // 0: the VIP's port kept
  }
}

std::vector<FlowRecord> Scanner::scan(uint64_t now_mono_ns, uint64_t now_epoch_ms,
                                      const ScanTimeouts& t, bool flush) {
  ++stats_.scans;
  std::vector<xdpgw_fe_key> keys;
  std::vector<uint8_t> values;  // ncpus_ values of kValueStride per key
  read_all(keys, values);
  stats_.flows_seen = keys.size();

  std::vector<FlowRecord> out;
  const std::size_t per_key = kValueStride * ncpus_;
  Exports still;
  still.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const xdpgw_fe_key& k = keys[i];
    const uint8_t* vals = values.data() + i * per_key;
    // Merge the CPUs' shares.
    uint64_t packets = 0, bytes = 0, first = 0, last = 0;
    uint32_t egress = 0;
    uint8_t flags = 0, reason = 0;
    for (unsigned cpu = 0; cpu < ncpus_; ++cpu) {
      xdpgw_fe_value v;
      std::memcpy(&v, vals + cpu * kValueStride, sizeof v);
      if (v.packets == 0) continue;
      packets += v.packets;
      bytes += v.bytes;
      if (first == 0 || v.first_ns < first) first = v.first_ns;
      if (v.last_ns >= last) {
        last = v.last_ns;
        egress = v.egress_ifindex;
        reason = v.fwd_reason;
      }
      flags |= v.tcp_flags;
    }
    if (packets == 0) continue;

    auto it = exported_.find(k);
    Exported ex = it != exported_.end() ? it->second : Exported{0, 0, first};
    if (packets < ex.packets || bytes < ex.bytes) {
      ++stats_.evictions_seen;
      ex = Exported{0, 0, first};
    }
    const bool fin = (flags & (kTcpFin | kTcpRst)) && now_mono_ns - last >= uint64_t(kFinGrace.count());
    const bool idle = now_mono_ns > last && now_mono_ns - last >= uint64_t(t.inactive.count());
    const bool active = now_mono_ns - ex.period_start_ns >= uint64_t(t.active.count());
    const bool ended = fin || idle;
    const bool has_delta = packets > ex.packets;
    if (has_delta && (ended || active || flush)) {
      FlowRecord r;
      r.ipv6 = k.flow.family == AF_INET6;
      std::copy(std::begin(k.flow.src), std::end(k.flow.src), r.src.begin());
      std::copy(std::begin(k.flow.dst), std::end(k.flow.dst), r.dst.begin());
      r.sport = ntohs(k.flow.sport);
      r.dport = ntohs(k.flow.dport);
      r.proto = k.flow.proto;
      r.tcp_flags = flags;
      r.ingress_ifindex = k.ingress_ifindex;
      r.egress_ifindex = egress;
      r.packets = packets - ex.packets;
      r.bytes = bytes - ex.bytes;
      r.first_ms = to_epoch_ms(std::max(first, ex.period_start_ns), now_mono_ns, now_epoch_ms);
      r.last_ms = to_epoch_ms(last, now_mono_ns, now_epoch_ms);
      r.end_reason = fin ? EndReason::kEndOfFlow
                     : idle ? EndReason::kIdleTimeout
                     : flush ? EndReason::kForcedEnd
                             : EndReason::kActiveTimeout;
      add_nat(r, k, reason);
      out.push_back(r);
      ex.packets = packets;
      ex.bytes = bytes;
      ex.period_start_ns = last + 1;
    }
    if (ended) {
      // Packets counted between the lookup above and this delete are
      // lost; the flow was quiet for the grace or the inactive timeout.
      if (bpf_map_delete_elem(flow_cache_fd_, &k) != 0 && errno != ENOENT) ++stats_.map_errors;
      ++stats_.flows_ended;
      continue;
    }
    still.emplace(k, ex);
  }
  // Flows gone from the cache (evicted, or deleted by clear()) are forgotten.
  exported_ = std::move(still);
  return out;
}

void Scanner::clear() {
  xdpgw_fe_key key{};
  // Delete the first key until none is left: deleting breaks a walk.
  while (bpf_map_get_next_key(flow_cache_fd_, nullptr, &key) == 0)
    if (bpf_map_delete_elem(flow_cache_fd_, &key) != 0) {
      ++stats_.map_errors;
      break;
    }
  exported_.clear();
}

}  // namespace xdpgw::flow_export
