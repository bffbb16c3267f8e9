// `xdpgw capture`: punted packets from the AF_XDP pipeline, or dropped ones
// from XDP's perf buffers (one capture of drops at a time; a finished one
// is kept until the next starts, for its status). Either writes pcapng to
// an absolute path the daemon creates, or to the descriptor that came with
// the request (`-w -`: the CLI's stdout).
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "daemon/drop_capture.hpp"

namespace xdpgw {
class Datapath;
}

namespace xdpgw::daemon {

class PipelineSupervisor;

class Captures {
 public:
  Captures(const Datapath& dp, const PipelineSupervisor& pipeline)
      : dp_(dp), pipeline_(pipeline) {}

  // The control command: args "what" (punted|drops), "file", "count",
  // "snaplen", or "status" / "stop".
  nlohmann::json command(const nlohmann::json& args, std::vector<UniqueFd>& fds);

 private:
  nlohmann::json punted(const nlohmann::json& args, std::vector<UniqueFd>& fds);
  nlohmann::json drops(const nlohmann::json& args, std::vector<UniqueFd>& fds);

  const Datapath& dp_;
  const PipelineSupervisor& pipeline_;
  std::unique_ptr<DropCapture> drop_capture_;
};

}  // namespace xdpgw::daemon
