// What the daemon follows of the kernel's network state, by rtnetlink
// events rather than by polling: links (a port that goes, comes back under
// a new ifindex, changes MAC or MTU, loses carrier), addresses (the
// gateway's own, delivered locally), neighbours (the MACs of nexthops and
// backends) and routes (the way to a backend). Each batch of events is
// acted on when it is read. A slow periodic resync compares everything
// anyway, as the safety net, and counts how often it found something the
// events had missed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/metrics.hpp"
#include "daemon/periodic.hpp"
#include "routing/rtnl_events.hpp"

namespace xdpgw::daemon {

// What a batch of events (or the resync) asks the gateway to look at.
struct KernelChanges {
  bool links = false;       // ports by name, their MAC and MTU
  bool addresses = false;   // the namespace's local addresses
  bool neighbours = false;  // nexthop and backend neighbours, routes to backends
  bool any() const { return links || addresses || neighbours; }
};

class KernelWatch {
 public:
  // Looks at what `changes` names; `cause` is "link event", "address event",
  // "neighbour event" or "resync". Returns true when something had to be
  // updated.
  using Sync = std::function<bool(const KernelChanges& changes, const std::string& cause)>;
  // Whether an ifindex is one of the gateway's ports now (neighbour events
  // elsewhere do not concern it), and its name for the log.
  using PortName = std::function<std::optional<std::string>(uint32_t ifindex)>;

  KernelWatch(boost::asio::io_context& io, Sync sync, PortName port_name,
              std::chrono::milliseconds resync_interval);
  KernelWatch(const KernelWatch&) = delete;
  KernelWatch& operator=(const KernelWatch&) = delete;

  void set_resync_interval(std::chrono::milliseconds interval) { resync_.set_interval(interval); }

  nlohmann::json status() const;
  void metrics(std::vector<control::MetricFamily>& out) const;
  const Periodic& resync_job() const { return resync_; }

 private:
  void on_message(const ::nlmsghdr* nlh);
  void on_batch_done();
  void resync(const std::string& cause);
  void run_sync(const KernelChanges& changes, const std::string& cause);

  Sync sync_;
  PortName port_name_;
  KernelChanges pending_;
  std::string pending_cause_;
  std::map<std::string, uint64_t> events_;  // by kind
  uint64_t overruns_ = 0;
  uint64_t repairs_ = 0;  // resyncs that found what events had missed
  uint64_t event_syncs_ = 0, event_sync_failures_ = 0;
  std::string last_error_;
  // Route events come in floods (a routing daemon loading a full table):
  // they only matter for the way to backends, and wait for a quiet moment.
  boost::asio::steady_timer route_settle_;
  bool route_settle_armed_ = false;
  routing::RtnlEvents subscription_;
  Periodic resync_;
};

}  // namespace xdpgw::daemon
