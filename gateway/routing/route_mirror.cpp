#include "routing/route_mirror.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "datapath/neigh.hpp"
#include "datapath/netdev.hpp"
#include "datapath/rtnl.hpp"
#include "routing/kernel_rtnl.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::routing {
namespace {

using Clock = std::chrono::steady_clock;

// A netlink event on a link or an address, a rule, or an overrun waits this
// long for more of its kind before the resync it causes runs.
constexpr auto kResyncDebounce = std::chrono::milliseconds(20);

// IFF_LOWER_UP is in <linux/if.h>, which clashes with <net/if.h>.
constexpr unsigned kIffLowerUp = 1u << 16;

xdpgw_knexthop nexthop_value(const NeighKey& k, const std::optional<NeighState>& n,
                              const std::map<uint32_t, PortIdentity>& ports) {
  xdpgw_knexthop v{};
  v.ifindex = k.ifindex;
  v.family = k.family;
  std::memcpy(v.addr, k.addr.data(), 16);
  if (n && n->usable) {
    v.flags = XDPGW_NH_F_RESOLVED;
    std::memcpy(v.dmac, n->mac.data(), 6);
  }
  // What the rewrite needs of the egress, as static nexthops carry it; a
  // device that is no gateway port keeps MTU 0, which XDP passes to the
  // kernel (pass_egress_not_port).
  if (auto port = ports.find(k.ifindex); port != ports.end()) {
    std::memcpy(v.smac, port->second.mac.data(), 6);
    v.mtu = port->second.mtu;
  }
  return v;
}

bool same(const xdpgw_knexthop& a, const xdpgw_knexthop& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

bool same(const xdpgw_kroute& a, const xdpgw_kroute& b) {
  return a.nexthop_id == b.nexthop_id && a.pass_reason == b.pass_reason && a.flags == b.flags;
}

std::string family_name(uint8_t family) { return family == AF_INET ? "IPv4" : "IPv6"; }

double seconds_since(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point{}) return -1;
  return std::chrono::duration<double>(std::chrono::system_clock::now() - t).count();
}

}  // namespace

RouteMirror::RouteMirror(boost::asio::io_context& io, MirrorMaps maps)
    : io_(io), maps_(maps), resync_timer_(io), periodic_timer_(io) {}

RouteMirror::~RouteMirror() {
  resync_timer_.cancel();
  periodic_timer_.cancel();
  subscription_.reset();
}

void RouteMirror::enable(std::set<uint32_t> ports, std::chrono::milliseconds resync_interval,
                         bool fib_available) {
  ports_ = std::move(ports);
  fib_available_ = fib_available;
  const bool interval_changed = resync_interval != resync_interval_;
  resync_interval_ = resync_interval;
  if (subscription_) {
    if (interval_changed) schedule_periodic();
    return;
  }
  // Subscribe first, dump second (rtnl_events.hpp).
  subscription_ = std::make_unique<RtnlEvents>(
      io_, "routing: kernel route mirror",
      std::initializer_list<int>{RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_IFADDR,
                                 RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
                                 RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE},
      RtnlEvents::Handlers{
          .message = [this](const nlmsghdr* nlh) { handle(nlh); },
          .batch_done = [this](Clock::time_point started) { on_events_done(started); },
          .overrun =
              [this] {
                // The kernel dropped events: only a dump tells what they were.
                spdlog::warn("routing: netlink event queue overrun (ENOBUFS); full resync");
                schedule_resync("overrun");
              },
          .failed =
              [this](const std::string& error) {
                ++errors_;
                last_error_ = error;
                spdlog::error("routing: kernel route mirror: {}; resyncing", error);
                schedule_resync("error");
              }});
  if (!fib_available_)
    spdlog::warn("routing: bpf_fib_lookup is not available to XDP on this kernel: multipath "
                 "and policy-routed prefixes go to the kernel (pass_routing_off)");
  uint64_t fixed = 0;
  try {
    adopt_maps();
    fixed = resync("start");
  } catch (...) {
    subscription_.reset();
    throw;
  }
  spdlog::info("routing: kernel route mirror on: {} kernel routes, {} neighbours -> {} trie "
               "entries, {} nexthops ({} entries written, {} ms)",
               model_.route_count(), model_.neighbour_count(), desired_.size(), nexthops_.size(),
               fixed, last_resync_took_.count() / 1000.0);
  schedule_periodic();
}

void RouteMirror::disable() {
  if (!subscription_) return;
  resync_timer_.cancel();
  periodic_timer_.cancel();
  subscription_.reset();
  pending_resync_.clear();
  clear_maps();
  model_ = KernelRoutes{};
  desired_.clear();
  nexthops_.clear();
  free_ids_.clear();
  next_id_ = 0;
  policy_logged_ = {};
  spdlog::info("routing: kernel route mirror off, its tables emptied");
}

// ---- events ---------------------------------------------------------------

void RouteMirror::on_events_done(Clock::time_point started) {
  last_event_ = std::chrono::system_clock::now();
  apply_dirty(model_.take_dirty());
  last_event_to_write_us_ =
      std::chrono::duration<double, std::micro>(Clock::now() - started).count();
}

void RouteMirror::handle(const nlmsghdr* nlh) {
  ++events_;
  switch (nlh->nlmsg_type) {
    case RTM_NEWROUTE:
      if (auto r = parse_route(nlh)) model_.add_route(*r, (nlh->nlmsg_flags & NLM_F_REPLACE) != 0);
      break;
    case RTM_DELROUTE:
      if (auto r = parse_route(nlh); r && model_.remove_route(*r)) schedule_resync("multipath");
      break;
    case RTM_NEWNEIGH:
      if (auto n = parse_neigh(nlh)) model_.set_neighbour(n->key, n->state);
      break;
    case RTM_DELNEIGH:
      if (auto n = parse_neigh(nlh)) model_.remove_neighbour(n->key);
      break;
    case RTM_NEWLINK: {
      // Admin or carrier state changed: the kernel flushes (or restores)
      // routes through the device without a route event for each.
      const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
      if (ifi->ifi_change & (IFF_UP | IFF_RUNNING | kIffLowerUp)) schedule_resync("link");
      break;
    }
    case RTM_DELLINK: schedule_resync("link"); break;
    case RTM_NEWADDR:
    case RTM_DELADDR: schedule_resync("address"); break;
    case RTM_NEWRULE:
    case RTM_DELRULE: schedule_resync("rule"); break;
    default: break;
  }
}

void RouteMirror::schedule_resync(const std::string& cause) {
  if (!pending_resync_.empty()) return;
  pending_resync_ = cause;
  resync_timer_.expires_after(kResyncDebounce);
  resync_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !subscription_) return;
    const std::string why = std::exchange(pending_resync_, {});
    try {
      resync(why);
    } catch (const std::exception& e) {
      ++errors_;
      last_error_ = e.what();
      spdlog::error("routing: kernel route mirror resync ({}) failed, retrying: {}", why, e.what());
      schedule_resync("retry");
    }
  });
}

void RouteMirror::schedule_periodic() {
  periodic_timer_.expires_after(resync_interval_);
  periodic_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !subscription_) return;
    try {
      resync("periodic");
    } catch (const std::exception& e) {
      ++errors_;
      last_error_ = e.what();
      spdlog::error("routing: kernel route mirror periodic resync failed: {}", e.what());
    }
    schedule_periodic();
  });
}

// ---- resync ---------------------------------------------------------------

void RouteMirror::dump_into_model() { model_ = dump_kernel(); }

void RouteMirror::read_port_identities() {
  port_ids_.clear();
  for (uint32_t ifindex : ports_) {
    char name[IF_NAMESIZE] = {};
    if (!if_indextoname(ifindex, name)) continue;  // gone: no nexthop can use it
    try {
      const netdev::Interface dev = netdev::describe(name);
      port_ids_[ifindex] = PortIdentity{.mac = dev.mac, .mtu = dev.mtu};
    } catch (const std::exception& e) {
      spdlog::debug("routing: port {}: {}", name, e.what());
    }
  }
}

uint64_t RouteMirror::resync(const std::string& cause) {
  const auto started = Clock::now();
  // Link events resync: a port's MAC or MTU change reaches its nexthops here.
  read_port_identities();
  dump_into_model();
  std::set<Prefix> dirty;
  for (const auto& [p, e] : desired_) dirty.insert(p);
  for (const auto& p : model_.candidates()) dirty.insert(p);
  // Every nexthop is compared too: the neighbour table was read anew.
  for (const auto& [k, slot] : nexthops_) dirty.insert(Prefix::host(k.family, k.addr));
  std::vector<std::string> examples;
  uint64_t differences = apply_dirty(std::move(dirty), &examples);
  differences += verify_maps();
  last_resync_ = std::chrono::system_clock::now();
  last_resync_took_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  ++resyncs_[cause];
  if (cause == "periodic") {
    differences_found_ += differences;
    if (differences > 0) {
      ++periodic_with_difference_;
      spdlog::warn("routing: periodic resync found {} entries that differed from the kernel "
                   "(events missed?); fixed: {}",
                   differences, fmt::join(examples, ", "));
    }
  } else if (cause != "start") {
    spdlog::info("routing: resync ({}): {} entries updated in {} ms", cause, differences,
                 last_resync_took_.count() / 1000.0);
  }
  return differences;
}

// ---- writing the maps -----------------------------------------------------

uint64_t RouteMirror::apply_dirty(std::set<Prefix> dirty, std::vector<std::string>* examples) {
  Batch b;
  auto note = [&](std::string what) {
    if (examples != nullptr && examples->size() < 5) examples->push_back(std::move(what));
  };
  uint64_t changed = 0;
  for (const Prefix& p : dirty) {
    std::optional<Entry> want = model_.decide(p);
    const auto have_it = desired_.find(p);
    const std::optional<Entry> have =
        have_it == desired_.end() ? std::nullopt : std::optional<Entry>(have_it->second);
    if (want != have) {
      // Acquire before release: a prefix moving between users of one
      // nexthop keeps its id.
      if (want && want->nexthop && !acquire(*want->nexthop, b))
        want = Entry{.pass_reason = XDPGW_R_PASS_NO_NEIGH};
      if (have && have->nexthop) release(*have->nexthop, b);
      if (want)
        desired_[p] = *want;
      else
        desired_.erase(p);
      b.routes.emplace_back(p, want);
      ++changed;
      note(fmt::format("{} {}", p.to_string(), want ? (have ? "changed" : "added") : "removed"));
    }
    // A neighbour at this address changed: the nexthops it resolves.
    if (p.len != p.max_len()) continue;
    const NeighKey from{.family = p.family, .addr = p.addr, .ifindex = 0};
    for (auto it = nexthops_.lower_bound(from);
         it != nexthops_.end() && it->first.family == p.family && it->first.addr == p.addr; ++it) {
      if (it->second.refs == 0) continue;
      const xdpgw_knexthop v = nexthop_value(it->first, model_.neighbour(it->first), port_ids_);
      if (same(v, it->second.written) || b.nexthops_written.contains(it->first)) continue;
      b.nexthops_written.insert(it->first);
      ++changed;
      note(fmt::format("nexthop {} {}", it->first.to_string(),
                       v.flags & XDPGW_NH_F_RESOLVED ? "resolved" : "unresolved"));
    }
  }
  commit(b);
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) {
    bool& logged = policy_logged_[family == AF_INET ? 0 : 1];
    const bool policy = model_.policy_mode(family);
    if (policy == logged) continue;
    logged = policy;
    if (policy)
      spdlog::warn("routing: {}: {}: the kernel route mirror cannot be exact, every {} packet "
                   "asks bpf_fib_lookup instead (as routing.source = \"fib\")",
                   family_name(family), model_.policy_reason(family), family_name(family));
    else
      spdlog::info("routing: {}: only the default rules again: kernel routes mirrored",
                   family_name(family));
  }
  return changed;
}

std::optional<uint32_t> RouteMirror::acquire(const NeighKey& k, Batch& b) {
  auto it = nexthops_.find(k);
  if (it != nexthops_.end()) {
    ++it->second.refs;
    return it->second.id;
  }
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else if (next_id_ < XDPGW_MAX_KNEXTHOPS) {
    id = next_id_++;
  } else {
    ++errors_;
    last_error_ = fmt::format("more than {} nexthops: {} left to the kernel", XDPGW_MAX_KNEXTHOPS,
                              k.to_string());
    return std::nullopt;
  }
  nexthops_.emplace(k, NexthopSlot{.id = id, .refs = 1, .written = {}});
  b.nexthops_written.insert(k);
  // Like a static nexthop: until the kernel knows the MAC, packets go to the
  // kernel; asking it to resolve now gets them onto XDP sooner.
  const auto n = model_.neighbour(k);
  if ((!n || !n->usable) && ports_.contains(k.ifindex)) {
    try {
      neigh::request_resolution(neigh::Key{.family = k.family, .addr = k.addr, .ifindex = k.ifindex});
    } catch (const std::exception& e) {
      spdlog::debug("routing: resolve {}: {}", k.to_string(), e.what());
    }
  }
  return id;
}

void RouteMirror::release(const NeighKey& k, Batch& b) {
  auto it = nexthops_.find(k);
  if (it == nexthops_.end() || it->second.refs == 0) return;
  if (--it->second.refs == 0) b.nexthops_freed.push_back(k);
}

void RouteMirror::commit(Batch& b) {
  // Nexthops first, so no route points at an id before it holds its value;
  // freed ids last, once no route points at them.
  for (const NeighKey& k : b.nexthops_written) {
    auto it = nexthops_.find(k);
    if (it == nexthops_.end()) continue;
    const xdpgw_knexthop v = nexthop_value(k, model_.neighbour(k), port_ids_);
    write_nexthop(it->second.id, v);
    it->second.written = v;
  }
  for (const auto& [p, e] : b.routes) write_route(p, e);
  for (const NeighKey& k : b.nexthops_freed) {
    auto it = nexthops_.find(k);
    if (it == nexthops_.end() || it->second.refs != 0) continue;
    write_nexthop(it->second.id, xdpgw_knexthop{});
    free_ids_.push_back(it->second.id);
    nexthops_.erase(it);
  }
}

void RouteMirror::write_nexthop(uint32_t id, const xdpgw_knexthop& v) {
  check_errno(bpf_map_update_elem(maps_.nexthops, &id, &v, BPF_ANY),
              fmt::format("write kr_nexthops[{}]", id));
  ++entry_writes_;
}

void RouteMirror::write_route(const Prefix& p, const std::optional<Entry>& e) {
  xdpgw_kroute value{};
  if (e) {
    value.pass_reason = e->pass_reason;
    value.flags = e->ask_fib ? XDPGW_KROUTE_F_FIB : 0;
    if (e->nexthop) value.nexthop_id = nexthops_.at(*e->nexthop).id;
  }
  int rc;
  if (p.family == AF_INET) {
    xdpgw_lpm_v4_key key{.prefixlen = p.len, .addr = 0};
    std::memcpy(&key.addr, p.addr.data(), 4);
    rc = e ? bpf_map_update_elem(maps_.routes4, &key, &value, BPF_ANY)
           : bpf_map_delete_elem(maps_.routes4, &key);
  } else {
    xdpgw_lpm_v6_key key{.prefixlen = p.len, .addr = {}};
    std::memcpy(key.addr, p.addr.data(), 16);
    rc = e ? bpf_map_update_elem(maps_.routes6, &key, &value, BPF_ANY)
           : bpf_map_delete_elem(maps_.routes6, &key);
  }
  if (rc != 0 && !(errno == ENOENT && !e))
    throw_errno(errno, fmt::format("{} kernel route {}", e ? "write" : "delete", p.to_string()));
  ++entry_writes_;
}

namespace {

// Every (prefix, value) of a kernel-route trie.
std::vector<std::pair<Prefix, xdpgw_kroute>> read_trie(int fd, uint8_t family) {
  std::vector<std::pair<Prefix, xdpgw_kroute>> out;
  const size_t key_size = family == AF_INET ? sizeof(xdpgw_lpm_v4_key) : sizeof(xdpgw_lpm_v6_key);
  std::array<uint8_t, sizeof(xdpgw_lpm_v6_key)> key{}, next{};
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) == 0) {
    first = false;
    key = next;
    xdpgw_kroute v{};
    if (bpf_map_lookup_elem(fd, key.data(), &v) != 0) continue;
    uint32_t len;
    std::memcpy(&len, key.data(), 4);
    Addr a{};
    std::memcpy(a.data(), key.data() + 4, key_size - 4);
    out.emplace_back(Prefix::make(family, a, static_cast<uint8_t>(len)), v);
  }
  return out;
}

}  // namespace

void RouteMirror::adopt_maps() {
  // What an earlier daemon (or nothing) left: nexthops keep their ids, the
  // tries become the "written" state the first resync diffs against, so an
  // adopted datapath changes entry by entry, never through an empty table.
  std::map<uint32_t, NeighKey> by_id;
  for (uint32_t id = 0; id < XDPGW_MAX_KNEXTHOPS; ++id) {
    xdpgw_knexthop v{};
    if (bpf_map_lookup_elem(maps_.nexthops, &id, &v) != 0 || v.family == 0) continue;
    NeighKey k{.family = v.family, .addr = {}, .ifindex = v.ifindex};
    std::memcpy(k.addr.data(), v.addr, 16);
    if (nexthops_.contains(k)) continue;  // a duplicate: left to verify_maps
    nexthops_.emplace(k, NexthopSlot{.id = id, .refs = 0, .written = v});
    by_id.emplace(id, k);
    next_id_ = std::max(next_id_, id + 1);
  }
  for (uint32_t id = 0; id < next_id_; ++id)
    if (!by_id.contains(id)) free_ids_.push_back(id);
  std::reverse(free_ids_.begin(), free_ids_.end());
  for (auto [fd, family] : {std::pair{maps_.routes4, uint8_t(AF_INET)},
                            std::pair{maps_.routes6, uint8_t(AF_INET6)}}) {
    for (const auto& [p, v] : read_trie(fd, family)) {
      Entry e{.pass_reason = v.pass_reason, .ask_fib = (v.flags & XDPGW_KROUTE_F_FIB) != 0};
      if (!e.ask_fib && e.pass_reason == 0) {
        auto k = by_id.find(v.nexthop_id);
        if (k == by_id.end()) {
          // Forward through an id nobody holds: a value no decision
          // produces, so the first resync rewrites it.
          e.pass_reason = UINT16_MAX;
        } else {
          e.nexthop = k->second;
          ++nexthops_.at(k->second).refs;
        }
      }
      desired_[p] = e;
    }
  }
  // Adopted nexthops no entry uses: freed by the first commit.
  Batch b;
  for (const auto& [k, slot] : nexthops_)
    if (slot.refs == 0) b.nexthops_freed.push_back(k);
  commit(b);
  if (!desired_.empty() || !nexthops_.empty())
    spdlog::info("routing: adopted {} kernel-route entries and {} nexthops from the pinned maps",
                 desired_.size(), nexthops_.size());
}

uint64_t RouteMirror::verify_maps() {
  // What the maps hold against what the mirror wrote: a difference here is
  // a write that got lost or someone else's.
  uint64_t fixed = 0;
  for (auto [fd, family] : {std::pair{maps_.routes4, uint8_t(AF_INET)},
                            std::pair{maps_.routes6, uint8_t(AF_INET6)}}) {
    std::set<Prefix> seen;
    for (const auto& [p, v] : read_trie(fd, family)) {
      seen.insert(p);
      const auto it = desired_.find(p);
      if (it == desired_.end()) {
        write_route(p, std::nullopt);
        ++fixed;
        continue;
      }
      xdpgw_kroute want{.nexthop_id = it->second.nexthop ? nexthops_.at(*it->second.nexthop).id : 0,
                        .pass_reason = it->second.pass_reason,
                        .flags = uint16_t(it->second.ask_fib ? XDPGW_KROUTE_F_FIB : 0)};
      if (!same(v, want)) {
        write_route(p, it->second);
        ++fixed;
      }
    }
    for (const auto& [p, e] : desired_)
      if (p.family == family && !seen.contains(p)) {
        write_route(p, e);
        ++fixed;
      }
  }
  std::set<uint32_t> used;
  for (auto& [k, slot] : nexthops_) {
    used.insert(slot.id);
    xdpgw_knexthop v{};
    if (bpf_map_lookup_elem(maps_.nexthops, &slot.id, &v) == 0 && same(v, slot.written)) continue;
    write_nexthop(slot.id, slot.written);
    ++fixed;
  }
  for (uint32_t id = 0; id < next_id_; ++id) {
    if (used.contains(id)) continue;
    xdpgw_knexthop v{};
    if (bpf_map_lookup_elem(maps_.nexthops, &id, &v) == 0 && v.family == 0) continue;
    write_nexthop(id, xdpgw_knexthop{});
    ++fixed;
  }
  return fixed;
}

void RouteMirror::clear_maps() {
  for (auto [fd, family] : {std::pair{maps_.routes4, uint8_t(AF_INET)},
                            std::pair{maps_.routes6, uint8_t(AF_INET6)}})
    for (const auto& [p, v] : read_trie(fd, family)) write_route(p, std::nullopt);
  for (uint32_t id = 0; id < next_id_; ++id) write_nexthop(id, xdpgw_knexthop{});
}

// ---- observing ------------------------------------------------------------

nlohmann::json RouteMirror::status() const {
  size_t v4 = 0, v6 = 0, fib = 0, pass = 0;
  for (const auto& [p, e] : desired_) {
    ++(p.family == AF_INET ? v4 : v6);
    if (e.ask_fib) ++fib;
    else if (e.pass_reason) ++pass;
  }
  size_t resolved = 0;
  for (const auto& [k, slot] : nexthops_)
    if (slot.written.flags & XDPGW_NH_F_RESOLVED) ++resolved;
  nlohmann::json policy = nlohmann::json::object();
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
    policy[family == AF_INET ? "ipv4" : "ipv6"] = model_.policy_mode(family)
                                                      ? nlohmann::json(model_.policy_reason(family))
                                                      : nlohmann::json(nullptr);
  return {{"enabled", enabled()},
          {"kernel_routes", model_.route_count()},
          {"neighbours", model_.neighbour_count()},
          {"entries_v4", v4},
          {"entries_v6", v6},
          {"entries_fib", fib},
          {"entries_pass", pass},
          {"nexthops", nexthops_.size()},
          {"nexthops_resolved", resolved},
          {"policy_fallback", policy},
          {"events", events_},
          {"last_event_seconds_ago", seconds_since(last_event_)},
          {"last_event_batch_us", last_event_to_write_us_},
          {"resyncs", resyncs_},
          {"last_resync_seconds_ago", seconds_since(last_resync_)},
          {"last_resync_ms", last_resync_took_.count() / 1000.0},
          {"periodic_resyncs_with_difference", periodic_with_difference_},
          {"differences_found", differences_found_},
          {"resync_interval_ms", resync_interval_.count()},
          {"entry_writes", entry_writes_},
          {"errors", errors_},
          {"last_error", last_error_}};
}

std::vector<control::MetricFamily> RouteMirror::metrics() const {
  using control::MetricFamily;
  using control::Sample;
  const nlohmann::json s = status();
  std::vector<MetricFamily> out;
  out.push_back(MetricFamily{"xdpgw_route_mirror_entries",
                             "Kernel-route trie entries XDP holds (routing.source = \"kernel\")",
                             "gauge",
                             {Sample{{{"family", "ipv4"}}, double(s["entries_v4"].get<size_t>())},
                              Sample{{{"family", "ipv6"}}, double(s["entries_v6"].get<size_t>())}}});
  out.push_back(MetricFamily{"xdpgw_route_mirror_nexthops", "Nexthops of the kernel-route tries",
                             "gauge",
                             {Sample{{}, double(s["nexthops"].get<size_t>())}}});
  out.push_back(MetricFamily{"xdpgw_route_mirror_events_total",
                             "rtnetlink messages the route mirror processed", "counter",
                             {Sample{{}, double(events_)}}});
  MetricFamily resyncs{"xdpgw_route_mirror_resyncs_total",
                       "Full resyncs of the route mirror, by cause", "counter", {}};
  for (const auto& [cause, n] : resyncs_) resyncs.samples.push_back(Sample{{{"cause", cause}}, double(n)});
  out.push_back(std::move(resyncs));
  out.push_back(MetricFamily{"xdpgw_route_mirror_differences_total",
                             "Entries the periodic resync found different from the kernel "
                             "(events the mirror missed)",
                             "counter", {Sample{{}, double(differences_found_)}}});
  out.push_back(MetricFamily{"xdpgw_route_mirror_errors_total",
                             "Route mirror failures (each followed by a resync)", "counter",
                             {Sample{{}, double(errors_)}}});
  return out;
}

}  // namespace xdpgw::routing
