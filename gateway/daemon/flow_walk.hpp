// Reading XDP's flow tables (conn_table, lb_embryonic, snat_flows): one
// batched walk, and the text of their endpoints for the CLI and status.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "datapath/abi.hpp"

namespace xdpgw::daemon {

// Walks a HASH keyed by xdpgw_flow_key in batches (one syscall per 4096
// entries, not per entry), calling `visit(key, value)` until it returns
// false.
template <typename Value = xdpgw_flow, typename Visit>
void walk_flows(int fd, Visit visit) {
  constexpr uint32_t kBatch = 4096;
  std::vector<xdpgw_flow_key> keys(kBatch);
  std::vector<Value> values(kBatch);
  uint64_t in_batch = 0, out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   values.data(), &count, &opts);
    if (err && errno != ENOENT) throw_errno(errno, "walk a flow table");
    for (uint32_t i = 0; i < count; ++i)
      if (!visit(keys[i], values[i])) return;
    if (err) return;  // ENOENT: that was the last batch
    in_batch = out_batch;
    first = false;
  }
}

// "198.18.1.2", "2001:2::1" (IPv4 in the first 4 bytes).
std::string addr_text(const uint8_t* addr, uint8_t family);
// "198.18.1.2:80", "[2001:2::1]:80"; port in network order.
std::string endpoint_text(const uint8_t* addr, uint8_t family, uint16_t port_be);
// "tcp", "udp", "icmp", "icmpv6", "other".
std::string_view proto_name(uint8_t proto);

}  // namespace xdpgw::daemon
