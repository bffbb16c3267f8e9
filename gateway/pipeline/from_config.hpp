// [punt] of a validated Config -> what the pipeline runs with.
#pragma once

#include "config/config.hpp"
#include "pipeline/pipeline.hpp"

namespace xdpgw::pipeline {

// Rules carry the same match the datapath gets (to_punt_rule in apply), so
// the pipeline classifies exactly what XDP punted for each rule.
PipelineConfig from_config(const config::Punt& punt);

}  // namespace xdpgw::pipeline
