// Watches the load balancer for SYN floods, from counters XDP keeps anyway:
// each second, how many TCP flows became embryonic without being proven
// (lb_embryonic inserts minus deletes; shared.h, xdpgw_embryonic), and how
// many new flows each VIP started. Above a rate of unproven flows the
// instance is "under a SYN flood": the transition in and out is logged once
// each way, and status and metrics show it, with each VIP's new-flow rate.
// Established flows are unaffected either way (they live in conn_table);
// this is for the operator to see.
//
// It also drives SYN cookies for VIPs with [vip.synproxy] mode = "auto":
// each VIP's SYN rate (new flows, plus the SYNs met while cookies are on) turns
// them on at its threshold_syn_per_second and off once the rate has stayed
// below it for kCalmSeconds; each transition is logged once. The state is
// written to synproxy_active every second, so a restarted daemon or a
// reload that changed a VIP's mode corrects it within a second.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "daemon/periodic.hpp"
#include "datapath/lb_apply.hpp"

namespace xdpgw {
class Datapath;
}

namespace xdpgw::daemon {

class FloodWatch {
 public:
  // Unproven TCP flows per second from which a flood is reported, and how
  // long the rate must stay below it before the flood is over.
  static constexpr uint64_t kFloodUnprovenPerSecond = 1000;
  static constexpr int kCalmSeconds = 5;

  // `running` and `lb` are the gateway's, read on every run.
  FloodWatch(boost::asio::io_context& io, const Datapath& dp, const config::Config& running,
             const LbRuntime& lb);
  FloodWatch(const FloodWatch&) = delete;
  FloodWatch& operator=(const FloodWatch&) = delete;

  // One measurement; the job calls it every second (tests call it too).
  void sample();

  bool flooded() const { return flooded_; }
  void status(nlohmann::json& lb_status) const;
  void metrics(std::vector<control::MetricFamily>& out) const;
  const Periodic& job() const { return job_; }

 private:
  const Datapath& dp_;
  const config::Config& cfg_;
  const LbRuntime& lb_;
  std::chrono::steady_clock::time_point last_sample_{};
  uint64_t last_inserted_ = 0, last_deleted_ = 0;
  struct VipSynState {
    uint64_t last_syns = 0;  // new flows + SYNs met with cookies on, at the last sample
    double syn_per_second = 0;
    bool cookies = false;  // synproxy "auto": on now
    int calm_seconds = 0;
  };
  const config::Vip* find_vip(const std::string& name) const;
  void watch_synproxy(const config::Vip& vip, uint32_t vip_id, uint64_t new_flows,
                      double seconds, bool first);

  std::map<std::string, uint64_t> last_new_flows_;  // by VIP name
  std::map<std::string, double> new_flows_per_second_;
  std::map<std::string, VipSynState> syn_state_;  // by VIP name
  double unproven_per_second_ = 0;
  bool flooded_ = false;
  int calm_seconds_ = 0;
  uint64_t floods_ = 0;
  std::chrono::system_clock::time_point flood_since_{};
  Periodic job_;
};

}  // namespace xdpgw::daemon
