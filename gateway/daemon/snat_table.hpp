// The daemon's side of source NAT (bpf/lib/snat.h): translations end when
// their flow's state-aware timeout passes (XDP never deletes one: its
// tables are HASHes, not LRUs, so no new flow can evict a live one), and
// what the tables hold is shown in `xdpgw flows`, `xdpgw stats` and metrics.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "daemon/periodic.hpp"
#include "datapath/abi.hpp"

namespace xdpgw {
class Datapath;
}

namespace xdpgw::daemon {

// Seconds a translation of protocol `proto` in `state` (XDPGW_SNAT_S_*)
// lives after its last packet.
uint32_t snat_timeout_s(uint8_t proto, uint32_t state, const config::NatTimeouts& t);

// What one expiry pass did.
struct SnatExpiryPass {
  uint64_t scanned = 0;
  std::map<uint8_t, uint64_t> expired;  // by protocol
};

// Deletes every translation in `flows_fd` idle past its timeout at `now_ns`
// (CLOCK_MONOTONIC, never behind XDP's bpf_ktime_get_coarse_ns): each flow first, then its port
// in `ports_fd` (while the port is still owned, no new flow can take it;
// once the flow is gone, a packet of it starts a new translation). An entry
// is read again just before it goes, so a packet that arrived since the walk
// keeps it.
SnatExpiryPass expire_snat(int flows_fd, int ports_fd, const config::NatTimeouts& t, uint64_t now_ns);

// The same removal for every translation `doomed(key, value)` names.
using SnatDoomed = std::function<bool(const xdpgw_flow_key&, const xdpgw_snat_flow&)>;
SnatExpiryPass remove_snat_translations(int flows_fd, int ports_fd, const SnatDoomed& doomed);

class SnatTable {
 public:
  // `running` is the gateway's config, read on every run.
  SnatTable(boost::asio::io_context& io, const Datapath& dp, const config::Config& running);
  SnatTable(const SnatTable&) = delete;
  SnatTable& operator=(const SnatTable&) = delete;

  // After every apply: re-times (and first starts) the expiry job, and ends
  // translations to addresses `nat` no longer translates to.
  void configure(const config::Nat& nat);
  // One expiry pass now (the job's body; tests call it too).
  void expire_now();

  nlohmann::json flows(size_t limit) const;
  nlohmann::json stats() const;
  void metrics(std::vector<control::MetricFamily>& out) const;
  const Periodic& job() const { return job_; }

 private:
  // Translations and ports in use by translated address (and protocol).
  struct Usage {
    std::map<std::string, uint64_t> translations;                          // by address
    std::map<std::pair<std::string, std::string>, uint64_t> ports_in_use;  // by address, protocol
  };
  Usage usage() const;

  const Datapath& dp_;
  const config::Config& cfg_;
  std::map<uint8_t, uint64_t> expired_;  // by protocol, since start
  uint64_t passes_ = 0;
  uint64_t ended_by_config_ = 0;
  bool started_ = false;
  Periodic job_;
};

}  // namespace xdpgw::daemon
