// routing.source = "kernel": mirrors the kernel's routes and neighbours into
// XDP's own tries (kr_routes4, kr_routes6) and nexthops (kr_nexthops), and
// keeps them equal as the kernel changes.
//
// How:
//  - at enable: subscribe to rtnetlink (routes, neighbours, links, addresses,
//    rules), then dump routes, neighbours and rules, and write the
//    difference between what the maps hold and what the kernel says (maps a
//    previous daemon left pinned are adopted this way, entry by entry, with
//    no gap);
//  - per netlink event: update the model (kernel_routes.hpp) and write only
//    the entries whose decision changed, in place (no config generation);
//    nexthops before the routes that use them, freed ones after;
//  - link, address and rule events, a netlink overrun (ENOBUFS), and an IPv6
//    multipath route losing one path schedule a full resync (the kernel does
//    not announce every route it flushes on link down);
//  - a slow periodic resync (routing.resync_interval_ms) is the safety net:
//    it counts the entries it found different (status, metrics).
//
// Everything runs on the daemon's io_context thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <cstdint>
#include <map>
#include <memory>

struct nlmsghdr;
#include <set>
#include <string>
#include <vector>

#include "control/metrics.hpp"
#include "routing/kernel_routes.hpp"
#include "routing/rtnl_events.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::routing {

// What a nexthop out of a gateway port needs of it for the rewrite.
struct PortIdentity {
  std::array<uint8_t, 6> mac{};
  uint32_t mtu = 0;
};

// The three maps the mirror writes (fds owned by the Datapath).
struct MirrorMaps {
  int routes4 = -1;
  int routes6 = -1;
  int nexthops = -1;
};

class RouteMirror {
 public:
  RouteMirror(boost::asio::io_context& io, MirrorMaps maps);
  RouteMirror(const RouteMirror&) = delete;
  RouteMirror& operator=(const RouteMirror&) = delete;
  // Stops listening; the maps keep their entries (a restarted daemon adopts
  // them).
  ~RouteMirror();

  // Starts mirroring (or, when running, takes the new settings). `ports`:
  // ifindexes of the gateway's ports, whose unresolved nexthops the mirror
  // asks the kernel to resolve. `fib_available`: bpf_fib_lookup loads in XDP
  // (multipath / policy prefixes need it; without, they go to the kernel).
  void enable(std::set<uint32_t> ports, std::chrono::milliseconds resync_interval,
              bool fib_available);
  // Stops mirroring and empties the maps (another source took over).
  void disable();
  bool enabled() const { return subscription_ != nullptr; }

  // A full resync now (tests, `xdpgw status` never calls it). Returns the
  // number of entries that differed.
  uint64_t resync(const std::string& cause);

  nlohmann::json status() const;
  std::vector<control::MetricFamily> metrics() const;

 private:
  struct NexthopSlot {
    uint32_t id = 0;
    uint32_t refs = 0;
    xdpgw_knexthop written{};
  };
  struct Batch {
    std::vector<std::pair<Prefix, std::optional<Entry>>> routes;
    std::set<NeighKey> nexthops_written;  // new or changed values
    std::vector<NeighKey> nexthops_freed;
  };

  void on_events_done(std::chrono::steady_clock::time_point started);
  void schedule_resync(const std::string& cause);
  void schedule_periodic();
  // Processes one netlink message (event or dump line).
  void handle(const ::nlmsghdr* nlh);
  // Recomputes the entries of `dirty` (and the nexthops of host prefixes
  // among them), writes what changed; returns how many entries changed.
  // `examples`: a few of the changes, described, for the log.
  uint64_t apply_dirty(std::set<Prefix> dirty, std::vector<std::string>* examples = nullptr);
  void commit(Batch& b);
  // A nexthop id for `k` (one more user); nullopt when the table is full.
  std::optional<uint32_t> acquire(const NeighKey& k, Batch& b);
  void release(const NeighKey& k, Batch& b);
  void write_nexthop(uint32_t id, const xdpgw_knexthop& v);
  void write_route(const Prefix& p, const std::optional<Entry>& e);
  void adopt_maps();
  uint64_t verify_maps();
  // The MAC and MTU of every gateway port, for the nexthops out of it.
  void read_port_identities();
  void dump_into_model();
  void clear_maps();

  boost::asio::io_context& io_;
  MirrorMaps maps_;
  std::unique_ptr<RtnlEvents> subscription_;  // null while disabled
  boost::asio::steady_timer resync_timer_;
  boost::asio::steady_timer periodic_timer_;
  std::chrono::milliseconds resync_interval_{60'000};
  std::set<uint32_t> ports_;
  std::map<uint32_t, PortIdentity> port_ids_;  // by ifindex, read at each resync
  bool fib_available_ = true;
  std::string pending_resync_;  // cause of a scheduled resync; empty = none

  KernelRoutes model_;
  std::map<Prefix, Entry> desired_;  // what the tries hold
  std::map<NeighKey, NexthopSlot> nexthops_;
  std::vector<uint32_t> free_ids_;
  uint32_t next_id_ = 0;
  std::array<bool, 2> policy_logged_{};

  // status
  std::chrono::system_clock::time_point last_event_{}, last_resync_{};
  uint64_t events_ = 0, entry_writes_ = 0, fib_prefixes_ = 0;
  std::map<std::string, uint64_t> resyncs_;  // by cause
  uint64_t periodic_with_difference_ = 0, differences_found_ = 0;
  uint64_t errors_ = 0;
  std::string last_error_;
  std::chrono::microseconds last_resync_took_{0};
  double last_event_to_write_us_ = 0;
};

}  // namespace xdpgw::routing
