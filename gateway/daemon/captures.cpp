#include "daemon/captures.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

#include "daemon/pipeline_supervisor.hpp"
#include "datapath/datapath.hpp"
#include "pipeline/pcap.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::daemon {
namespace {

struct CaptureOutput {
  std::unique_ptr<pipeline::PcapngWriter> writer;
  std::string name;  // for the log
};

CaptureOutput capture_output(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
  const auto snaplen = args.value("snaplen", uint32_t{XDPGW_CAPTURE_MAX_SNAPLEN});
  if (snaplen == 0 || snaplen > XDPGW_CAPTURE_MAX_SNAPLEN)
    throw std::runtime_error(
        fmt::format("snaplen {} out of range 1..{}", snaplen, XDPGW_CAPTURE_MAX_SNAPLEN));
  const std::string file = args.at("file").get<std::string>();
  if (file == "-") {
    if (fds.size() != 1)
      throw std::runtime_error(fmt::format(
          "capture to \"-\" needs one file descriptor with the request, got {}", fds.size()));
    return {std::make_unique<pipeline::PcapngWriter>(std::move(fds.front()), snaplen),
            "the client's output"};
  }
  if (file.empty() || file.front() != '/')
    throw std::runtime_error("capture file must be an absolute path");
  return {std::make_unique<pipeline::PcapngWriter>(file, snaplen), file};
}

}  // namespace

nlohmann::json Captures::command(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
  const std::string what = args.value("what", "punted");
  if (what == "drops") return drops(args, fds);
  if (what == "punted") return punted(args, fds);
  throw std::runtime_error(fmt::format("cannot capture {:?}: \"punted\" or \"drops\"", what));
}

nlohmann::json Captures::punted(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
  pipeline::Pipeline* p = pipeline_.running();
  if (p == nullptr)
    throw std::runtime_error("no AF_XDP pipeline runs ([punt] has no rules): nothing is punted");
  if (args.value("status", false)) {
    // only report
  } else if (args.value("stop", false)) {
    p->stop_capture();
  } else {
    auto out = capture_output(args, fds);
    p->start_capture(std::move(out.writer), args.value("count", uint64_t{0}));
    spdlog::info("capture of punted packets into {} started", out.name);
  }
  const auto st = p->capture_status();
  return {{"running", st.running}, {"records", st.records}, {"error", st.error}};
}

nlohmann::json Captures::drops(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
  auto to_json = [](const DropCapture::Status& st) -> nlohmann::json {
    return {{"running", st.running}, {"records", st.records}, {"lost", st.lost + st.failed},
            {"error", st.error}, {"reasons", st.reasons}};
  };
  if (!(dp_.features() & XDPGW_FEAT_CAPTURE) && !args.value("stop", false))
    throw std::runtime_error("drop capture is off: this kernel's XDP programs cannot call "
                             "bpf_perf_event_output (see xdpgw status, xdpgw check --kernel)");
  if (args.value("stop", false)) {
    if (!drop_capture_) return to_json({});
    auto st = drop_capture_->status();
    drop_capture_.reset();
    st.running = false;
    spdlog::info("capture of dropped packets stopped: {} written, {} lost", st.records, st.lost);
    return to_json(st);
  }
  if (!args.value("status", false)) {
    if (drop_capture_ && drop_capture_->status().running)
      throw std::runtime_error("a capture of dropped packets is already running");
    auto out = capture_output(args, fds);
    drop_capture_.reset();
    drop_capture_ = std::make_unique<DropCapture>(
        dp_, std::move(out.writer), args.value("count", uint64_t{0}),
        args.value("snaplen", uint32_t{XDPGW_CAPTURE_MAX_SNAPLEN}));
    spdlog::info("capture of dropped packets into {} started", out.name);
  }
  return to_json(drop_capture_ ? drop_capture_->status() : DropCapture::Status{});
}

}  // namespace xdpgw::daemon
