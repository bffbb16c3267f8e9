// [policy], [[prefix_set]], [[acl]] and [ratelimit]: what the datapath
// lets through, and how fast.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {
namespace {

// Names of rate-limit classes and prefix sets.
bool is_valid_class_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxClassNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// The required `name` of a rate-limit class or prefix set: valid and not
// taken by an earlier one (`names` collects them). `text` is what was
// written (empty when absent), `ok` false after a reported error.
struct NameCheck {
  std::string text;
  bool ok = false;
};
NameCheck check_name_value(const Located<std::string>& name, std::string_view what,
                           std::map<std::string, SourcePos, std::less<>>& names, ErrorList& errors) {
  if (!is_valid_class_name(name.value)) {
    errors.add(name.pos, "{} name {:?} must match [a-z0-9_-]{{1,{}}}", what, name.value,
               kMaxClassNameLength);
    return {name.value, false};
  }
  if (auto [first, inserted] = names.emplace(name.value, name.pos); !inserted) {
    errors.add(name.pos, "duplicate {} {:?} (first at {})", what, name.value,
               line_col(first->second));
    return {name.value, false};
  }
  return {name.value, true};
}
NameCheck check_name(const RawString& raw, std::string_view what, std::string_view table,
                     SourcePos table_pos, std::map<std::string, SourcePos, std::less<>>& names,
                     ErrorList& errors) {
  const auto* name = require(raw, "name", table, table_pos, errors);
  if (name == nullptr) return {};
  return check_name_value(*name, what, names, errors);
}

// An entry of a [[prefix_set]]: "ADDR/LEN" without host bits, or a bare
// address (a host: /32, /128), as block lists often write them. On failure
// the message says what is wrong.
std::optional<IpPrefix> parse_set_entry(std::string_view text, std::string* why) {
  if (text.find('/') == std::string_view::npos) {
    auto addr = IpAddr::parse(text, why);
    if (!addr) return std::nullopt;
    return IpPrefix{.addr = *addr, .length = addr->max_prefix_length()};
  }
  auto prefix = IpPrefix::parse(text, why);
  if (prefix && prefix->has_host_bits()) {
    *why = fmt::format("has host bits set; did you mean {:?}?", prefix->network().to_string());
    return std::nullopt;
  }
  return prefix;
}

// Errors reported per set file before the rest are summed up in one line:
// a file of the wrong format would otherwise bury everything else.
constexpr std::size_t kMaxErrorsPerSetFile = 20;

std::vector<PrefixSet> check_prefix_sets(const std::vector<RawPrefixSet>& raw_sets,
                                         ErrorList& errors) {
  constexpr std::string_view kTable = "[[prefix_set]]";
  std::vector<PrefixSet> sets;
  std::map<std::string, SourcePos, std::less<>> names;
  for (std::size_t i = 0; i < raw_sets.size(); ++i) {
    const RawPrefixSet& raw = raw_sets[i];
    if (i == kMaxPrefixSets) {
      errors.add(raw.pos, "more than {} prefix sets", kMaxPrefixSets);
      break;
    }
    PrefixSet set;
    const NameCheck name = check_name(raw.name, "prefix set", kTable, raw.pos, names, errors);
    set.name = name.text;
    std::string why;
    for (const Located<std::string>& text : raw.prefixes) {
      if (auto prefix = parse_set_entry(text.value, &why)) {
        set.prefixes.push_back(*prefix);
      } else {
        errors.add(text.pos, "prefix {:?}: {}", text.value, why);
      }
    }
    std::size_t file_errors = 0;
    SourcePos first_unreported;
    for (const Located<std::string>& text : raw.file_entries) {
      if (auto prefix = parse_set_entry(text.value, &why)) {
        set.prefixes.push_back(*prefix);
      } else if (++file_errors <= kMaxErrorsPerSetFile) {
        errors.add_in(raw.file_path, text.pos, "{:?}: {}", text.value, why);
      } else if (file_errors == kMaxErrorsPerSetFile + 1) {
        first_unreported = text.pos;
      }
    }
    if (file_errors > kMaxErrorsPerSetFile)
      errors.add_in(raw.file_path, first_unreported,
                    "{} more lines from here on are not prefixes (the first {} are reported)",
                    file_errors - kMaxErrorsPerSetFile, kMaxErrorsPerSetFile);
    // Feeds overlap and repeat themselves: duplicates are merged, not errors.
    std::sort(set.prefixes.begin(), set.prefixes.end());
    set.prefixes.erase(std::unique(set.prefixes.begin(), set.prefixes.end()), set.prefixes.end());
    // A set with errors is still known by name, so rules that use it do not
    // pile "no such set" on top (the Config is discarded anyway).
    if (name.ok) sets.push_back(std::move(set));
  }
  return sets;
}

// Which families one side of an ACL rule can match: {v4, v6}.
std::pair<bool, bool> side_families(const std::optional<IpPrefix>& prefix, const PrefixSet* set) {
  if (prefix) return {prefix->addr.family == IpFamily::kV4, prefix->addr.family == IpFamily::kV6};
  if (set == nullptr) return {true, true};
  std::pair<bool, bool> families{false, false};
  for (const IpPrefix& p : set->prefixes) {
    (p.addr.family == IpFamily::kV4 ? families.first : families.second) = true;
    if (families.first && families.second) break;
  }
  return families;
}

// One side of an [[acl]] rule: a prefix, or "@name" of a [[prefix_set]].
// False (reported) on an error.
bool check_acl_side(const RawString& raw, std::string_view key, const Policy& policy,
                    std::optional<IpPrefix>& prefix, std::string& set_name, ErrorList& errors) {
  if (!raw) return true;
  if (raw->value.starts_with('@')) {
    const std::string_view name = std::string_view(raw->value).substr(1);
    if (policy.find_set(name) == nullptr) {
      errors.add(raw->pos, "{} {:?}: no [[prefix_set]] named {:?}", key, raw->value, name);
      return false;
    }
    set_name = name;
    return true;
  }
  prefix = check_prefix(*raw, key, errors);
  return prefix.has_value();
}

std::optional<AclRule> check_acl_rule(const RawAclRule& raw,
                                      const std::set<std::string, std::less<>>& declared_ports,
                                      const std::vector<Port>& ports, const Policy& policy,
                                      ErrorList& errors) {
  constexpr std::string_view kTable = "[[acl]]";
  AclRule rule;
  rule.line = raw.pos.line;
  bool ok = true;
  // check_choice is quiet about an absent key; require reports it.
  const bool has_action = require(raw.action, "action", kTable, raw.pos, errors) != nullptr;
  const auto action = check_choice(raw.action, "action", kAclActions, errors);
  if (has_action && action) rule.action = *action;
  ok = ok && action.has_value();
  ok = check_acl_side(raw.src, "src", policy, rule.src, rule.src_set, errors) && ok;
  ok = check_acl_side(raw.dst, "dst", policy, rule.dst, rule.dst_set, errors) && ok;
  if (rule.src && rule.dst && rule.src->addr.family != rule.dst->addr.family) {
    errors.add(raw.dst->pos, "dst {:?} is {} but src {:?} is {}", raw.dst->value,
               to_string(rule.dst->addr.family), raw.src->value, to_string(rule.src->addr.family));
    ok = false;
  } else if (ok) {
    const PrefixSet* src_set = policy.find_set(rule.src_set);
    const PrefixSet* dst_set = policy.find_set(rule.dst_set);
    const auto src = side_families(rule.src, rule.src_set.empty() ? nullptr : src_set);
    const auto dst = side_families(rule.dst, rule.dst_set.empty() ? nullptr : dst_set);
    rule.matches_v4 = src.first && dst.first;
    rule.matches_v6 = src.second && dst.second;
    // An empty set matches nothing (a feed may be empty today); two sides
    // that can never agree on a family are a mistake.
    const bool src_empty = !src.first && !src.second, dst_empty = !dst.first && !dst.second;
    if (!rule.matches_v4 && !rule.matches_v6 && !src_empty && !dst_empty) {
      errors.add(raw.dst->pos, "dst {:?} and src {:?} have no address family in common",
                 raw.dst->value, raw.src->value);
      ok = false;
    }
  }
  bool protocol_valid = true;
  if (raw.protocol) {
    if (auto value = check_choice(raw.protocol, "protocol", kAclProtocols, errors)) {
      rule.protocol = *value;
    } else {
      ok = protocol_valid = false;
    }
  }
  const bool has_ports = rule.protocol == AclProtocol::kTcp || rule.protocol == AclProtocol::kUdp;
  for (auto [text, range, key] : {std::tuple{&raw.src_ports, &rule.src_ports, "src_ports"},
                                  std::tuple{&raw.dst_ports, &rule.dst_ports, "dst_ports"}}) {
    if (!*text) continue;
    if (!has_ports) {
      // An invalid protocol was reported already; do not pile on.
      if (protocol_valid) errors.add((*text)->pos, "{} needs protocol = \"tcp\" or \"udp\"", key);
      ok = false;
      continue;
    }
    ok = (*range = check_port_range(**text, key, errors)).has_value() && ok;
  }
  if (raw.state) {
    if (auto value = check_choice(raw.state, "state", kAclStates, errors)) rule.state = *value;
    else ok = false;
  }
  if (raw.in_port) {
    if (!declared_ports.contains(raw.in_port->value)) {
      errors.add(raw.in_port->pos, "in_port {:?} is not declared in a [[port]]",
                 raw.in_port->value);
      ok = false;
    } else {
      rule.in_port = raw.in_port->value;
      const auto port = std::find_if(ports.begin(), ports.end(),
                                     [&](const Port& p) { return p.name == rule.in_port; });
      rule.in_ifindex = port == ports.end() ? 0 : port->ifindex;
    }
  }
  if (!ok) return std::nullopt;
  return rule;
}

// The datapath keeps one LPM trie per side and family holding every prefix
// the rules name there, plus /0 (shared.h): at most kMaxAclPrefixes each.
void check_acl_prefix_counts(const std::vector<AclRule>& rules,
                             const std::vector<const RawAclRule*>& raw, const Policy& policy,
                             ErrorList& errors) {
  for (auto [key, prefix_of, set_of, raw_of] :
       {std::tuple{"src", &AclRule::src, &AclRule::src_set, &RawAclRule::src},
        std::tuple{"dst", &AclRule::dst, &AclRule::dst_set, &RawAclRule::dst}}) {
    for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
      std::unordered_set<IpPrefix, IpPrefixHash> stored;
      stored.insert(IpPrefix{.addr = {.family = family, .bytes = {}}, .length = 0});
      std::set<std::string, std::less<>> sets_counted;
      for (std::size_t i = 0; i < rules.size(); ++i) {
        const AclRule& rule = rules[i];
        if (!rule.matches(family)) continue;
        if (const auto& prefix = rule.*prefix_of) stored.insert(*prefix);
        const std::string& name = rule.*set_of;
        if (!name.empty() && sets_counted.insert(name).second) {
          for (const IpPrefix& p : policy.find_set(name)->prefixes)
            if (p.addr.family == family) stored.insert(p);
        }
        if (stored.size() > kMaxAclPrefixes) {
          const auto& at = (*raw[i]).*raw_of;
          errors.add(at->pos, "{} {:?}: [[acl]] rules name more than {} distinct {} {} prefixes",
                     key, at->value, kMaxAclPrefixes - 1, to_string(family), key);
          return;
        }
      }
    }
  }
}

std::vector<AclRule> check_acl(const std::vector<RawAclRule>& raw_rules,
                               const std::vector<RawPort>& raw_ports,
                               const std::vector<Port>& ports, const Policy& policy,
                               ErrorList& errors) {
  std::vector<AclRule> rules;
  std::vector<const RawAclRule*> raw_of_rule;
  const auto declared_ports = declared_port_names(raw_ports);
  std::map<std::string, SourcePos, std::less<>> names;
  for (std::size_t i = 0; i < raw_rules.size(); ++i) {
    if (i == kMaxAclRules) {
      errors.add(raw_rules[i].pos, "more than {} [[acl]] rules", kMaxAclRules);
      break;
    }
    bool name_ok = true;
    if (const auto& name = raw_rules[i].name) {
      // "default" is the default action's row in the stats and metrics.
      if (name->value == "default") {
        errors.add(name->pos, "acl rule name \"default\" is reserved for [policy] acl_default");
        name_ok = false;
      } else {
        name_ok = check_name_value(*name, "acl rule", names, errors).ok;
      }
    }
    auto rule = check_acl_rule(raw_rules[i], declared_ports, ports, policy, errors);
    if (rule && name_ok) {
      if (raw_rules[i].name) {
        rule->name = raw_rules[i].name->value;
        rule->named = true;
      }
      rule->stats_slot = static_cast<uint32_t>(i);
      rules.push_back(std::move(*rule));
      raw_of_rule.push_back(&raw_rules[i]);
    }
  }
  // Unnamed rules are named after what they do: describe() always has a
  // space, which written names cannot, so the two never collide.
  std::map<std::string, int, std::less<>> described;
  for (AclRule& rule : rules) {
    if (rule.named) continue;
    std::string text = describe(rule);
    const int n = ++described[text];
    rule.name = n == 1 ? std::move(text) : fmt::format("{} #{}", text, n);
  }
  check_acl_prefix_counts(rules, raw_of_rule, policy, errors);
  return rules;
}

// A required integer key within [1, max]; nullopt (reported) otherwise.
std::optional<int64_t> check_bounded(const RawInteger& raw, std::string_view key,
                                      std::string_view table, SourcePos table_pos, int64_t max,
                                      ErrorList& errors) {
  const auto* value = require(raw, key, table, table_pos, errors);
  if (value == nullptr) return std::nullopt;
  return check_range(*value, key, 1, max, errors);
}

// bytes_per_second and burst_bytes: both or neither. False on an error.
bool check_byte_limit(const RawRateClass& rc, RateClass& cls, ErrorList& errors) {
  if (!rc.bytes_per_second && !rc.burst_bytes) return true;
  if (!rc.bytes_per_second || !rc.burst_bytes) {
    const auto& given = rc.bytes_per_second ? *rc.bytes_per_second : *rc.burst_bytes;
    errors.add(given.pos, "bytes_per_second and burst_bytes go together: set both or neither");
    return false;
  }
  auto rate = check_range(*rc.bytes_per_second, "bytes_per_second", kMinBytesPerSecond,
                          kMaxBytesPerSecond, errors);
  auto burst = check_range(*rc.burst_bytes, "burst_bytes", kMinBurstBytes, kMaxBurstBytes, errors);
  if (!rate || !burst) return false;
  cls.bytes_per_second = static_cast<uint64_t>(*rate);
  cls.burst_bytes = static_cast<uint64_t>(*burst);
  return true;
}

RateLimit check_ratelimit(const std::optional<RawRateLimit>& raw, ErrorList& errors) {
  constexpr std::string_view kTable = "[[ratelimit.class]]";
  RateLimit rl;
  if (!raw) return rl;
  std::map<std::string, SourcePos, std::less<>> names;
  std::map<IpPrefix, SourcePos> sources;
  std::size_t per_family[2] = {0, 0};
  for (std::size_t i = 0; i < raw->classes.size(); ++i) {
    const RawRateClass& rc = raw->classes[i];
    if (i == kMaxRateClasses) {
      errors.add(rc.pos, "more than {} rate-limit classes", kMaxRateClasses);
      break;
    }
    RateClass cls;
    const NameCheck name = check_name(rc.name, "class", kTable, rc.pos, names, errors);
    bool ok = name.ok;
    cls.name = name.text;
    auto pps = check_bounded(rc.packets_per_second, "packets_per_second", kTable, rc.pos,
                             kMaxPacketsPerSecond, errors);
    auto burst = check_bounded(rc.burst, "burst", kTable, rc.pos, kMaxBurst, errors);
    ok = check_byte_limit(rc, cls, errors) && ok && pps && burst;
    for (const Located<std::string>& text : rc.sources) {
      auto prefix = check_prefix(text, "source", errors);
      if (!prefix) {
        ok = false;
      } else if (auto [first, inserted] = sources.emplace(*prefix, text.pos); !inserted) {
        errors.add(text.pos, "source {:?} is already in a class (first at {})",
                   prefix->to_string(), line_col(first->second));
        ok = false;
      } else if (++per_family[prefix->addr.family == IpFamily::kV4 ? 0 : 1] >
                 kMaxRateSourcesPerFamily) {
        errors.add(text.pos, "more than {} {} rate-limit sources", kMaxRateSourcesPerFamily,
                   to_string(prefix->addr.family));
        ok = false;
      } else {
        cls.sources.push_back(*prefix);
      }
    }
    if (!ok) continue;
    cls.packets_per_second = static_cast<uint64_t>(*pps);
    cls.burst = static_cast<uint64_t>(*burst);
    rl.classes.push_back(std::move(cls));
  }
  if (const auto& def = raw->default_class) {
    const auto it = std::find_if(rl.classes.begin(), rl.classes.end(),
                                 [&](const RateClass& c) { return c.name == def->value; });
    if (it != rl.classes.end()) {
      rl.default_class = static_cast<uint32_t>(it - rl.classes.begin());
    } else if (!names.contains(def->value)) {
      errors.add(def->pos, "default_class {:?} is not a [[ratelimit.class]]", def->value);
    }
  }
  return rl;
}

}  // namespace

Policy check_policy(const RawConfig& raw, const std::vector<Port>& ports, ErrorList& errors) {
  Policy policy;
  if (raw.policy)
    policy.acl_default = check_choice(raw.policy->acl_default, "acl_default", kAclActions, errors)
                             .value_or(policy.acl_default);
  policy.prefix_sets = check_prefix_sets(raw.prefix_sets, errors);
  policy.acl = check_acl(raw.acl, raw.ports, ports, policy, errors);
  policy.ratelimit = check_ratelimit(raw.ratelimit, errors);
  return policy;
}

}  // namespace xdpgw::config::detail
