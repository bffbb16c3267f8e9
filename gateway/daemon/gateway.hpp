// The running service: owns the datapath and the running config, and changes
// both only through apply_config(), at start, on every reload and when the
// kernel's view of its ports changes. The jobs around it are components of
// their own (pipeline supervisor, LB control, kernel watch, event log,
// captures, route mirror); this class wires them to the config.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "daemon/captures.hpp"
#include "daemon/daemon.hpp"
#include "daemon/event_log.hpp"
#include "daemon/flood_watch.hpp"
#include "daemon/kernel_support.hpp"
#include "daemon/kernel_watch.hpp"
#include "daemon/lb_control.hpp"
#include "daemon/observe.hpp"
#include "daemon/pipeline_supervisor.hpp"
#include "daemon/snat_table.hpp"
#include "datapath/apply.hpp"
#include "datapath/datapath.hpp"
#include "flow_export/exporter.hpp"
#include "routing/route_mirror.hpp"

namespace xdpgw::daemon {

// What apply_config() read from the kernel besides the config: the
// namespace's addresses (delivered locally) and each port's MAC and MTU
// (written into nexthops). When the kernel's differ, the config is applied
// again.
struct KernelView {
  std::set<std::pair<int, std::array<uint8_t, 16>>> local_addresses;
  std::map<uint32_t, std::pair<std::array<uint8_t, 6>, uint32_t>> ports;  // ifindex -> MAC, MTU
  bool operator==(const KernelView&) const = default;
  static KernelView read(const config::Config& cfg);
};

class Gateway {
 public:
  // Loads (or adopts) the datapath, attaches every port and applies `cfg`.
  Gateway(boost::asio::io_context& io, std::string config_path, config::Config cfg,
          const RunOptions& opts);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Re-reads the config file. Any failure (parse, validation, a change that
  // needs a restart, the kernel refusing a map) leaves the running
  // generation in place.
  ReloadResult reload();

  const config::Config& config() const { return cfg_; }
  LbControl& lb() { return lb_; }
  EventLog& events() { return events_; }
  Captures& captures() { return captures_; }

  nlohmann::json status() const;
  nlohmann::json stats(bool all) const;
  nlohmann::json flows(size_t limit) const;
  std::vector<control::MetricFamily> metric_families() const;

 private:
  void apply_config(const config::Config& next, bool initial);
  void attach_port(const config::Port& p, config::AttachMode mode);
  void sync_route_mirror();
  void set_log_level(const std::string& level) const;
  ReloadResult refuse(std::string why);
  ReloadResult accept(std::string what);

  // The kernel changed (an event, or found by the periodic resync): follow
  // ports by name, apply again when addresses or a port's MAC or MTU
  // changed, refresh nexthops. True when something had to change.
  bool sync_with_kernel(const KernelChanges& changes, const std::string& cause);
  bool follow_ports(const std::string& cause);
  std::optional<std::string> port_name(uint32_t ifindex) const;
  std::optional<std::string> missing_port() const;

  std::string config_path_;
  config::Config cfg_;
  bool log_level_from_command_line_ = false;
  KernelSupport kernel_;
  Datapath dp_;
  AppliedState state_;
  KernelView applied_view_;
  ReloadCounters reloads_;
  std::set<std::string> missing_ports_;
  // Ports re-attached after they came back, by what noticed ("link event",
  // "resync"), and the last one: `xdpgw status`.
  std::map<std::string, uint64_t> reattached_by_;
  nlohmann::json last_reattach_;
  // Components; destroyed before the datapath.
  LbControl lb_;
  FloodWatch flood_watch_;
  PipelineSupervisor pipeline_;
  Captures captures_;
  EventLog events_;
  routing::RouteMirror route_mirror_;
  flow_export::Exporter exporter_;  // [flow_export]
  SnatTable snat_;                  // [[snat]] expiry and observation
  KernelWatch kernel_watch_;
};

}  // namespace xdpgw::daemon
