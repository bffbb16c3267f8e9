// The load balancer's control side, one place for what changes which
// backends take new flows: health checks, operator drain, and the BGP
// announcements that follow from them. Each change rebuilds the VIP's Maglev
// table in the active generation and tells the announcer which VIPs this
// instance can serve.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "announce/announcer.hpp"
#include "config/config.hpp"
#include "control/metrics.hpp"
#include "daemon/periodic.hpp"
#include "datapath/lb_apply.hpp"
#include "lb/health.hpp"
#include "proxy/proxy.hpp"

namespace xdpgw {
class Datapath;
}

namespace xdpgw::daemon {

class LbControl {
 public:
  // A port of the running config that is missing now, if any: no VIP is
  // servable then.
  using MissingPort = std::function<std::optional<std::string>()>;

  // `running` is the gateway's running config, read on every call. Takes
  // over the VIP and backend ids of an adopted datapath's generation.
  LbControl(boost::asio::io_context& io, Datapath& dp, const config::Config& running,
            MissingPort missing_port);
  LbControl(const LbControl&) = delete;
  LbControl& operator=(const LbControl&) = delete;

  // What apply() needs: ids, health and drain.
  LbRuntime& runtime() { return lb_; }
  const LbRuntime& runtime() const { return lb_; }

  // After the first apply: health checks start, and with [announce] the
  // announcer (which cannot change on reload).
  void start(const std::string& instance);
  // After every later apply: the checks of the new config; announcements.
  void sync();

  std::string set_drained(const std::string& vip, const std::string& backend, bool drained);
  // A health check changed its verdict on a backend of a VIP.
  void set_healthy(const std::string& vip, const std::string& backend, bool healthy,
                   const std::string& reason);
  void update_announcements();
  announce::Announcer* announcer() { return announcer_ ? &*announcer_ : nullptr; }
  // mode = "proxy" VIPs (gateway/proxy/): listeners and spliced
  // connections, with the same Maglev weights, health and drain.
  proxy::ProxyService& proxy() { return proxy_; }
  const proxy::ProxyService& proxy() const { return proxy_; }

  // Backends must have a resolved neighbour before XDP can send to them:
  // when the FIB answers "no neighbour" the packet goes to the kernel, which
  // resolves it for a NAT-rewritten packet but drops a DSR-encapsulated one
  // (its source is our own tunnel address). So the kernel is asked to
  // resolve every backend's next hop, at apply and on neighbour changes.
  void warm_backend_neighbours() const;

  nlohmann::json json() const;
  void status(nlohmann::json& status) const;
  void metrics(std::vector<control::MetricFamily>& out) const;
  const Periodic& announce_job() const { return announce_job_; }

 private:
  void sync_health();
  std::vector<announce::VipReadiness> vip_readiness() const;

  boost::asio::io_context& io_;
  Datapath& dp_;
  const config::Config& cfg_;
  MissingPort missing_port_;
  LbRuntime lb_;
  lb::HealthChecker health_;
  // After lb_ (its weights) and health_: destroyed first.
  proxy::ProxyService proxy_;
  std::optional<announce::Announcer> announcer_;
  // A VIP waiting for its first health checks becomes servable when they
  // complete, which no state change reports: readiness is recomputed
  // every second while announcing.
  Periodic announce_job_;
};

}  // namespace xdpgw::daemon
