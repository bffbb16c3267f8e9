// The real `xdpgw run` daemon in a gateway namespace, run the way users run
// it (scripts/demo.sh): `xdpgw run -c CONFIG --netns NS --fresh`, stopped
// with SIGTERM then `xdpgw stop -i INSTANCE --detach`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/fd.hpp"
#include "harness/child_process.hpp"

namespace xdpgw::bench {

class XdpgwDaemon {
 public:
  // Writes `config_toml` to work_dir/INSTANCE.toml, starts the daemon with
  // its log in work_dir/INSTANCE.log and waits (bounded) until it logs that
  // it is running. The config must name `instance`. Throws with the log when
  // the daemon exits or does not get there.
  XdpgwDaemon(const std::filesystem::path& xdpgw_binary, const std::string& netns,
              const std::string& instance, const std::string& config_toml,
              const std::filesystem::path& work_dir);
  XdpgwDaemon(const XdpgwDaemon&) = delete;
  XdpgwDaemon& operator=(const XdpgwDaemon&) = delete;
  // SIGTERM (XDP stays attached, maps pinned), then `stop --detach` (XDP
  // off, pins gone), then the instance's lock file.
  ~XdpgwDaemon();

  const std::string& instance() const noexcept { return instance_; }

  // Packets per verdict reason (summed over CPUs), by reason name, from the
  // pinned verdict_stats map. Zero counts are left out.
  std::map<std::string, uint64_t> verdicts() const;

  // `xdpgw stats -i INSTANCE` as the CLI prints it.
  std::string stats_text() const;

 private:
  void stop_and_detach() noexcept;

  std::filesystem::path binary_;
  std::string instance_;
  std::filesystem::path log_;
  test::ChildProcess process_;
  UniqueFd verdict_stats_;
};

}  // namespace xdpgw::bench
