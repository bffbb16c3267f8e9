// Keeps BIRD announcing exactly the VIP addresses this instance should
// attract traffic for.
//
// The daemon says, for every VIP, whether it is servable here (ports up,
// at least one usable backend whose health is known). An address is
// announced while any VIP on it is servable, the operator has not withdrawn
// the instance and the daemon is not shutting down. Whenever that set
// differs from what BIRD last accepted, the include file is rewritten and
// BIRD reconfigured (bird.hpp); a failed exchange is retried with backoff
// on the daemon's 1 s tick, and the first exchange after start always runs,
// which clears whatever a crashed predecessor left announced.
//
// Threading: everything on the io_context given to the constructor.
#pragma once

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "announce/bird.hpp"
#include "config/config.hpp"
#include "control/metrics.hpp"

namespace xdpgw::announce {

struct VipReadiness {
  std::string name;
  config::IpAddr addr;
  bool servable = false;
  std::string why;  // "2 of 3 backends usable", "no usable backend", ...
};

class Announcer {
 public:
  Announcer(boost::asio::io_context& io, std::string instance, config::Announce settings);
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  // The VIPs as they stand now; starts an exchange with BIRD when the set
  // to announce changed, or when a failed one is due for a retry.
  void update(std::vector<VipReadiness> vips);

  // Operator maintenance: while withdrawn nothing is announced (XDP keeps
  // serving whatever still arrives). Not persistent: a restart announces.
  void set_withdrawn(bool withdrawn);
  bool withdrawn() const { return withdrawn_; }

  // Shutdown: withdraws every address and calls `done` once BIRD has
  // answered (accepted or not) or nothing needed withdrawing. update() no
  // longer announces anything afterwards.
  void withdraw_for_shutdown(std::function<void()> done);

  // What BIRD accepted last; nullopt until the first exchange succeeded.
  const std::optional<std::set<config::IpAddr>>& announced() const { return accepted_; }

  nlohmann::json status() const;
  std::vector<control::MetricFamily> metrics() const;

 private:
  std::set<config::IpAddr> wanted() const;
  void sync();
  void finish_exchange(const std::set<config::IpAddr>& sent, ConfigureResult result);
  void record_failure(std::string message);

  boost::asio::io_context& io_;
  std::string instance_;
  config::Announce settings_;
  BirdProtocols protocols_;
  std::vector<VipReadiness> vips_;
  bool withdrawn_ = false;
  bool shutting_down_ = false;
  std::function<void()> shutdown_done_;

  std::optional<std::set<config::IpAddr>> accepted_;
  bool in_flight_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::optional<bool> last_ok_;
  std::string last_reply_;
  std::string last_error_;
  uint64_t accepted_count_ = 0;
  uint64_t failed_count_ = 0;
};

// `xdpgw status` / `xdpgw announce`: Announcer::status() for people.
std::string format_status(const nlohmann::json& status);

}  // namespace xdpgw::announce
