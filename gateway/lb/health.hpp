// Active health checks of load-balancer backends: TCP connect or HTTP GET,
// with interval, timeout and rise/fall hysteresis, on the daemon's
// io_context. The checker decides "healthy or not" and reports transitions;
// what a transition does (rebuild the VIP's Maglev table without the backend,
// or with it again) is the daemon's business.
//
// Threading: everything runs on the io_context given to the constructor, and
// every member function must be called from that io_context's thread (or
// while it is not running). The daemon runs one thread; so do the tests.
//
// Initial state. A target starts in the state its `initial` says, the four
// states of HAProxy's `init-state` server option:
//   kUp        healthy now; the first failed check takes it down (HAProxy's
//              default). This is our default too: a daemon restart must not
//              empty every Maglev table for rise * interval (xdpgw restarts
//              without losing packets), and a dead backend still leaves
//              after one check instead of `fall`.
//   kFullyUp   healthy now; needs `fall` consecutive failures to go down.
//   kDown      unhealthy now; the first successful check brings it up.
//   kFullyDown unhealthy now; needs `rise` consecutive successes (what a
//              backend added by a reload should usually use, so it gets no
//              traffic before it proved it serves).
// The initial state is not reported through the callback (nothing changed);
// set_targets() returns it.
//
// Operator drain is not the checker's business: `xdpgw backend drain` is
// LbRuntime's (datapath/lb_apply.hpp), which combines it with the health
// reported here (a backend takes new flows iff healthy && !drained).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xdpgw::lb {

enum class ProbeKind : uint8_t { kTcp, kHttp };
enum class InitialState : uint8_t { kUp, kFullyUp, kDown, kFullyDown };

std::string_view to_string(ProbeKind kind);
std::string_view to_string(InitialState state);

struct HealthCheck {
  ProbeKind kind = ProbeKind::kTcp;
  // Time from the end of one check to the start of the next.
  std::chrono::milliseconds interval{2000};
  // Covers the whole check: connect, and for HTTP also request and response.
  std::chrono::milliseconds timeout{1000};
  uint32_t rise = 2;  // consecutive successes to go up
  uint32_t fall = 3;  // consecutive failures to go down

  // HTTP only.
  std::string http_path = "/";  // request target, starts with '/'
  std::string http_host;        // Host header; empty = the target's address
  uint16_t status_min = 200;    // a status in [status_min, status_max] passes
  uint16_t status_max = 399;

  bool operator==(const HealthCheck&) const = default;
};

struct HealthTarget {
  // Unique key the daemon chooses, e.g. "198.18.0.10:80/198.18.5.10:80"; it
  // is what callbacks and status() name.
  std::string id;
  boost::asio::ip::tcp::endpoint endpoint;  // IPv4 or IPv6 address + port
  HealthCheck check;
  // Used when the target is created, and when a reload changes its endpoint
  // or check; a target kept across a reload keeps its state.
  InitialState initial = InitialState::kUp;
};

// (target id, healthy, human-readable reason). Called on the io_context
// thread, exactly once per change of health state, never after stop() or
// destruction. It may call status(); it must not call set_targets() or
// stop() (defer those with asio::post).
using HealthCallback =
    std::function<void(const std::string& id, bool healthy, const std::string& reason)>;

struct TargetStatus {
  std::string id;
  bool healthy = false;  // what the checks say, after rise/fall hysteresis
  uint32_t consecutive_ok = 0;
  uint32_t consecutive_fail = 0;
  uint64_t successes = 0;  // checks completed since the target was (re)created
  uint64_t failures = 0;
  std::string last_result;  // "" before the first check completes
};

namespace detail {
class Probe;
}

class HealthChecker {
 public:
  HealthChecker(boost::asio::io_context& io, HealthCallback on_change);
  // Stops every probe (see stop()).
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;
  HealthChecker(HealthChecker&&) = delete;
  HealthChecker& operator=(HealthChecker&&) = delete;

  // Replaces the target set (start and every config reload). A target whose
  // id, endpoint and check are unchanged keeps its probe loop, its state and
  // its counters; one whose endpoint or check changed restarts in its
  // `initial` state; new ones start in theirs; missing ones stop. Returns the
  // status of every target after the change, in the given order: the
  // daemon's source of truth for targets no callback will mention.
  // Throws std::invalid_argument (naming the target and the field) when a
  // target is invalid or ids repeat; then nothing changes.
  std::vector<TargetStatus> set_targets(std::vector<HealthTarget> targets);

  std::optional<TargetStatus> status(const std::string& id) const;
  std::vector<TargetStatus> status() const;  // sorted by id

  // Cancels every probe in flight and every timer. No callback runs after
  // this returns; cancelled handlers still queued on the io_context finish
  // without effect (they own what they touch, so the checker may be
  // destroyed before they run). Idempotent; set_targets() after stop()
  // throws std::logic_error.
  void stop() noexcept;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<const HealthCallback> on_change_;
  std::map<std::string, std::shared_ptr<detail::Probe>> probes_;
  bool stopped_ = false;
};

// Checks one target description; throws std::invalid_argument naming the
// target id and the offending field. set_targets() calls it.
void validate(const HealthTarget& target);

}  // namespace xdpgw::lb
