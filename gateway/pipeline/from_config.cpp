#include "pipeline/from_config.hpp"

#include "datapath/apply.hpp"

namespace xdpgw::pipeline {

PipelineConfig from_config(const config::Punt& punt) {
  PipelineConfig c;
  c.ports = punt.ports;
  c.tap_name = punt.tap;
  c.frame_count = punt.frames;
  c.batch = punt.batch;
  c.wait = punt.wait == config::PuntWait::kBusyPoll ? xsk::WaitMode::BusyPoll : xsk::WaitMode::Uring;
  c.bind = punt.bind == config::PuntBind::kCopy       ? xsk::BindMode::Copy
           : punt.bind == config::PuntBind::kZeroCopy ? xsk::BindMode::ZeroCopy
                                                      : xsk::BindMode::Auto;
  for (uint32_t i = 0; i < punt.rules.size(); ++i) {
    const config::PuntRule& r = punt.rules[i];
    Rule rule;
    rule.match = to_punt_rule(r, i);
    rule.action = r.action == config::PuntAction::kForward ? Action::Forward
                  : r.action == config::PuntAction::kDrop  ? Action::Drop
                                                           : Action::Pass;
    rule.out_port = r.out_port;
    rule.offload = r.mode == config::PuntMode::kFirstPacket;
    c.rules.push_back(rule);
  }
  return c;
}

}  // namespace xdpgw::pipeline
