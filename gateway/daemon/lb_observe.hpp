// What an operator sees of the load balancer: per-VIP and per-backend
// counters with health and drain state, connection-table occupancy, and the
// flows themselves (`xdpgw flows`).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/metrics.hpp"
#include "datapath/datapath.hpp"
#include "datapath/lb_apply.hpp"

namespace xdpgw::daemon {

// Per-CPU LB counters (vip_stats, backend_stats) of one id, summed.
xdpgw_lb_counter read_lb_counter(int map_fd, uint32_t id);
// A VIP's SYN-cookie counters (synproxy_stats), summed over CPUs.
xdpgw_synproxy_counter read_synproxy_counter(int map_fd, uint32_t vip_id);
// One conn_stats counter (enum xdpgw_conn_stat), summed over CPUs.
uint64_t read_conn_stat(int map_fd, uint32_t key);

// Entries in the connection table (a full walk; cost grows with the table).
size_t count_flows(int conn_table_fd);

// VIPs with their counters and backends (weight, health, drain, counters).
nlohmann::json lb_json(const config::Config& cfg, const Datapath& dp, const LbRuntime& lb);

// Up to `limit` flows of the connection table plus the total count.
nlohmann::json flows_json(const Datapath& dp, size_t limit);

std::vector<control::MetricFamily> lb_metrics(const config::Config& cfg, const Datapath& dp,
                                              const LbRuntime& lb);

std::string format_lb(const nlohmann::json& lb);
std::string format_flows(const nlohmann::json& flows);

}  // namespace xdpgw::daemon
