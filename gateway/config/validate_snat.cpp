// [[snat]] and [nat]: which IPv4 flows leave translated, to what, and how
// long an idle translation lives.
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {
namespace {

constexpr std::string_view kTable = "[[snat]]";

// The sources of a rule: prefixes and "@set" names, IPv4 only (NAT66 is not
// done). false after a reported error.
bool check_sources(const RawSnatRule& raw, const Policy& policy, SnatRule& rule, ErrorList& errors) {
  if (raw.src.empty()) {
    errors.add(raw.pos, "{} needs at least one source in `src`", kTable);
    return false;
  }
  bool ok = true;
  for (const auto& entry : raw.src) {
    if (entry.value.starts_with('@')) {
      const PrefixSet* set = policy.find_set(std::string_view(entry.value).substr(1));
      if (set == nullptr) {
        errors.add(entry.pos, "src {:?}: no [[prefix_set]] of that name", entry.value);
        ok = false;
        continue;
      }
      for (const IpPrefix& p : set->prefixes)
        if (p.addr.family == IpFamily::kV4) rule.sources.push_back(p);
      continue;
    }
    auto prefix = check_prefix(entry, "src", errors);
    if (!prefix) {
      ok = false;
    } else if (prefix->addr.family != IpFamily::kV4) {
      errors.add(entry.pos, "src {:?}: source NAT is IPv4 only (NAT66 is not done)", entry.value);
      ok = false;
    } else {
      rule.sources.push_back(*prefix);
    }
  }
  std::sort(rule.sources.begin(), rule.sources.end());
  rule.sources.erase(std::unique(rule.sources.begin(), rule.sources.end()), rule.sources.end());
  return ok;
}

bool check_translation(const RawSnatRule& raw, SnatRule& rule, ErrorList& errors) {
  if (!raw.has_to || raw.to.empty()) {
    errors.add(raw.has_to ? raw.to_pos : raw.pos,
               "{} needs `to`: \"masquerade\" or a list of IPv4 addresses", kTable);
    return false;
  }
  if (raw.to.size() == 1 && raw.to[0].value == "masquerade") {
    rule.masquerade = true;
    return true;
  }
  if (raw.to.size() > kMaxSnatAddrs) {
    errors.add(raw.to_pos, "`to` lists {} addresses; at most {}", raw.to.size(), kMaxSnatAddrs);
    return false;
  }
  bool ok = true;
  for (const auto& text : raw.to) {
    std::string why;
    auto addr = IpAddr::parse(text.value, &why);
    if (!addr) {
      errors.add(text.pos, "to {:?}: {} (or write \"masquerade\" alone)", text.value, why);
      ok = false;
    } else if (addr->family != IpFamily::kV4) {
      errors.add(text.pos, "to {:?}: source NAT is IPv4 only (NAT66 is not done)", text.value);
      ok = false;
    } else if (std::find(rule.to.begin(), rule.to.end(), *addr) != rule.to.end()) {
      errors.add(text.pos, "to {:?} is listed twice", text.value);
      ok = false;
    } else {
      rule.to.push_back(*addr);
    }
  }
  return ok;
}

std::vector<uint8_t> protocols_of(SnatProtocol p) {
  switch (p) {
    case SnatProtocol::kTcp: return {IPPROTO_TCP};
    case SnatProtocol::kUdp: return {IPPROTO_UDP};
    case SnatProtocol::kIcmp: return {IPPROTO_ICMP};
    case SnatProtocol::kAny: break;
  }
  return {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
}

uint32_t timeout(const RawInteger& raw, std::string_view key, uint32_t fallback, int64_t lo,
                 int64_t hi, ErrorList& errors) {
  if (!raw) return fallback;
  auto v = check_range(*raw, key, lo, hi, errors);
  return v ? static_cast<uint32_t>(*v) : fallback;
}

}  // namespace

Nat check_nat(const RawConfig& raw, const std::vector<Port>& ports, const Policy& policy,
              ErrorList& errors) {
  Nat nat;
  // Which rule a (egress, protocol, source prefix) belongs to: the most
  // specific prefix wins in XDP, so only the same key in two rules makes
  // the result depend on their order.
  std::map<std::tuple<std::string, uint8_t, IpPrefix>, SourcePos> owner;
  std::size_t matches = 0;
  for (const RawSnatRule& r : raw.snat) {
    SnatRule rule;
    rule.line = r.pos.line;
    bool ok = check_sources(r, policy, rule, errors);
    if (const auto* port = require(r.out_port, "out_port", kTable, r.pos, errors)) {
      auto it = std::find_if(ports.begin(), ports.end(),
                             [&](const Port& p) { return p.name == port->value; });
      if (it == ports.end()) {
        errors.add(port->pos, "out_port {:?} is not a [[port]]", port->value);
        ok = false;
      } else {
        rule.out_port = it->name;
        rule.out_ifindex = it->ifindex;
      }
    } else {
      ok = false;
    }
    if (auto p = check_choice(r.protocol, "protocol", kSnatProtocols, errors)) rule.protocol = *p;
    else if (r.protocol) ok = false;
    ok = check_translation(r, rule, errors) && ok;
    if (r.ports) {
      if (auto range = check_port_range(*r.ports, "ports", errors)) {
        if (range->first == 0) {
          errors.add(r.ports->pos, "ports {:?} must start at 1 or above", r.ports->value);
          ok = false;
        } else {
          rule.ports = *range;
        }
      } else {
        ok = false;
      }
    }
    if (auto w = check_choice(r.when_full, "when_full", kSnatWhenFull, errors)) rule.when_full = *w;
    else if (r.when_full) ok = false;
    if (!ok) continue;
    for (uint8_t proto : protocols_of(rule.protocol)) {
      for (const IpPrefix& p : rule.sources) {
        auto [it, fresh] = owner.try_emplace({rule.out_port, proto, p}, r.pos);
        if (!fresh) {
          errors.add(r.pos,
                     "{} overlaps the rule at {}: both translate {} {} leaving {}, so the "
                     "result would depend on their order",
                     kTable, line_col(it->second), p.to_string(),
                     proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "icmp",
                     rule.out_port);
          ok = false;
        }
        ++matches;
      }
    }
    if (ok) nat.rules.push_back(std::move(rule));
  }
  if (matches > kMaxSnatMatches && !raw.snat.empty())
    errors.add(raw.snat.front().pos, "[[snat]] rules expand to {} (port, protocol, prefix) entries; at most {}",
               matches, kMaxSnatMatches);

  if (raw.nat) {
    const RawNat& n = *raw.nat;
    constexpr int64_t kDay = 86400;
    NatTimeouts& t = nat.timeouts;
    t.tcp_established_s = timeout(n.tcp_established_s, "tcp_established_s", t.tcp_established_s, 1, 7 * kDay, errors);
    t.tcp_transitory_s = timeout(n.tcp_transitory_s, "tcp_transitory_s", t.tcp_transitory_s, 1, kDay, errors);
    t.tcp_closed_s = timeout(n.tcp_closed_s, "tcp_closed_s", t.tcp_closed_s, 1, kDay, errors);
    t.udp_s = timeout(n.udp_s, "udp_s", t.udp_s, 1, kDay, errors);
    t.udp_replied_s = timeout(n.udp_replied_s, "udp_replied_s", t.udp_replied_s, 1, kDay, errors);
    t.icmp_s = timeout(n.icmp_s, "icmp_s", t.icmp_s, 1, kDay, errors);
    t.expiry_interval_ms =
        timeout(n.expiry_interval_ms, "expiry_interval_ms", t.expiry_interval_ms, 100, 60'000, errors);
  }
  return nat;
}

}  // namespace xdpgw::config::detail

namespace xdpgw::config {

std::vector<SnatMatch> snat_matches(const Nat& nat) {
  std::vector<SnatMatch> out;
  for (std::size_t i = 0; i < nat.rules.size(); ++i) {
    const SnatRule& r = nat.rules[i];
    for (uint8_t proto : detail::protocols_of(r.protocol))
      for (const IpPrefix& p : r.sources)
        out.push_back({.ifindex = r.out_ifindex, .proto = proto, .source = p, .rule = i});
  }
  return out;
}

}  // namespace xdpgw::config
