// The few functions of the Config types themselves (config.hpp): what they
// compute from a validated Config, not how it is validated.
#include <map>

#include <fmt/format.h>

#include "config/config.hpp"

namespace xdpgw::config {

std::string describe(const AclRule& r) {
  std::string text(to_string(r.action));
  const std::size_t bare = text.size();
  if (r.src) text += " src " + r.src->to_string();
  if (!r.src_set.empty()) text += " src @" + r.src_set;
  if (r.dst) text += " dst " + r.dst->to_string();
  if (!r.dst_set.empty()) text += " dst @" + r.dst_set;
  if (r.protocol != AclProtocol::kAny) text += " " + std::string(to_string(r.protocol));
  auto range = [](const PortRange& p) {
    return p.first == p.last ? fmt::format("{}", p.first) : fmt::format("{}-{}", p.first, p.last);
  };
  if (r.src_ports) text += " sport " + range(*r.src_ports);
  if (r.dst_ports) text += " dport " + range(*r.dst_ports);
  if (!r.in_port.empty()) text += " in " + r.in_port;
  if (r.state == AclState::kNew) text += " state new";
  if (r.state == AclState::kEstablished) text += " state established";
  if (text.size() == bare) text += " any";
  return text;
}

std::vector<uint32_t> keep_acl_stats_slots(const std::vector<AclRule>& running, std::vector<AclRule>& next) {
  std::map<std::string_view, uint32_t> running_slot;
  std::vector<bool> taken(kMaxAclRules, false);  // by the running config
  for (const AclRule& r : running) {
    running_slot.emplace(r.name, r.stats_slot);
    if (r.stats_slot < kMaxAclRules) taken[r.stats_slot] = true;
  }
  std::vector<bool> used(kMaxAclRules, false);  // by `next`
  std::vector<AclRule*> fresh;
  for (AclRule& r : next) {
    if (auto it = running_slot.find(r.name); it != running_slot.end()) {
      r.stats_slot = it->second;
      used[r.stats_slot] = true;
    } else {
      fresh.push_back(&r);
    }
  }
  // Slots the running config does not count into first, then any unused.
  std::vector<uint32_t> zero;
  for (bool avoid_running : {true, false}) {
    for (uint32_t slot = 0; slot < kMaxAclRules && !fresh.empty(); ++slot) {
      if (used[slot] || (avoid_running && taken[slot])) continue;
      used[slot] = true;
      fresh.front()->stats_slot = slot;
      zero.push_back(slot);
      fresh.erase(fresh.begin());
    }
  }
  return zero;
}

std::string Backend::id() const {
  const std::string a = addr.family == IpFamily::kV6 ? fmt::format("[{}]", addr.to_string())
                                                      : addr.to_string();
  return port == 0 ? a + ":*" : fmt::format("{}:{}", a, port);
}

}  // namespace xdpgw::config
