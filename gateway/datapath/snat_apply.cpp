#include "datapath/snat_apply.hpp"

#include <bpf/bpf.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "datapath/datapath.hpp"
#include "datapath/netdev.hpp"

namespace xdpgw {

std::vector<xdpgw_snat_rule> snat_rule_values(const config::Nat& nat, const PrimaryAddress& primary) {
  std::vector<xdpgw_snat_rule> out;
  for (std::size_t i = 0; i < nat.rules.size(); ++i) {
    const config::SnatRule& r = nat.rules[i];
    xdpgw_snat_rule v{};
    v.rule_id = static_cast<uint32_t>(i);
    v.flags = r.when_full == config::SnatWhenFull::kPass ? XDPGW_SNAT_F_PASS_WHEN_FULL : 0u;
    v.port_lo = r.ports.first;
    v.port_hi = r.ports.last;
    if (r.masquerade) {
      if (auto addr = primary(r.out_port)) {
        std::memcpy(&v.addrs[0], addr->data(), 4);
        v.addr_count = 1;
      } else {
        spdlog::warn("[[snat]] at line {}: port {} has no IPv4 address to masquerade as; its new "
                     "flows are refused until it has one",
                     r.line, r.out_port);
      }
    } else {
      for (const auto& a : r.to) std::memcpy(&v.addrs[v.addr_count++], a.bytes.data(), 4);
    }
    out.push_back(v);
  }
  return out;
}

void check_snat_addresses_owned(const config::Nat& nat,
                                const std::vector<std::array<uint8_t, 4>>& local) {
  for (const auto& r : nat.rules)
    for (const auto& a : r.to) {
      std::array<uint8_t, 4> v4{};
      std::memcpy(v4.data(), a.bytes.data(), 4);
      if (std::find(local.begin(), local.end(), v4) == local.end())
        throw std::runtime_error(fmt::format(
            "[[snat]] at line {}: to {} is not an address of the gateway (replies would never "
            "reach it); add it to a port first",
            r.line, a.to_string()));
    }
}

std::vector<std::array<uint8_t, 4>> local_ipv4_addresses() {
  std::vector<std::array<uint8_t, 4>> local;
  for (const auto& a : netdev::local_addresses()) {
    if (a.family != AF_INET) continue;
    std::array<uint8_t, 4> v4{};
    std::memcpy(v4.data(), a.addr.data(), 4);
    local.push_back(v4);
  }
  return local;
}

void fill_snat(const ConfigTables& t, const config::Nat& nat) {
  if (!nat.enabled()) return;
  check_snat_addresses_owned(nat, local_ipv4_addresses());
  const auto values = snat_rule_values(nat, [](std::string_view port) { return netdev::primary_ipv4(port); });
  for (const config::SnatMatch& m : config::snat_matches(nat)) {
    xdpgw_snat_match_key key{};
    key.prefixlen = XDPGW_SNAT_MATCH_FIXED_BITS + m.source.length;
    key.ifindex = m.ifindex;
    key.proto = m.proto;
    std::memcpy(key.addr, m.source.addr.bytes.data(), 4);
    check_errno(bpf_map_update_elem(t.snat.get(), &key, &values.at(m.rule), BPF_ANY),
                fmt::format("write snat match {} proto {}", m.source.to_string(), m.proto));
  }
}

void fill_inbound(const ConfigTables& t, const std::vector<config::Port>& ports) {
  for (const config::Port& p : ports) {
    if (!p.inbound_established_only) continue;
    const uint32_t flags = XDPGW_INBOUND_F_ESTABLISHED_ONLY;
    check_errno(bpf_map_update_elem(t.inbound.get(), &p.ifindex, &flags, BPF_ANY),
                fmt::format("write inbound of port {}", p.name));
  }
}

}  // namespace xdpgw
