// What an operator sees of the AF_XDP pipeline: its sockets, what it did
// with the packets it received, where its UMEM frames are, and whether its
// thread stopped on an error.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "control/metrics.hpp"
#include "pipeline/pipeline.hpp"

namespace xdpgw::daemon {

nlohmann::json pipeline_json(const pipeline::Pipeline& p);
std::vector<control::MetricFamily> pipeline_metrics(const pipeline::Pipeline& p);
// For a pipeline the config asks for that could not start.
nlohmann::json failed_pipeline_json(const std::string& error);
control::MetricFamily pipeline_up_metric(bool up);
std::string format_pipeline(const nlohmann::json& pipeline);

}  // namespace xdpgw::daemon
