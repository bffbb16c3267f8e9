#include "runner/topology.hpp"

#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/run.hpp"

namespace xdpgw::bench {

BenchTopology::BenchTopology(std::filesystem::path script, std::string prefix,
                             std::vector<std::string> paths)
    : script_(std::move(script)), prefix_(std::move(prefix)), paths_(std::move(paths)) {
  std::string cmd = test::shell_quote(script_.string()) + " up " + test::shell_quote(prefix_);
  for (const std::string& path : paths_) cmd += " " + test::shell_quote(path);
  const test::CmdResult result = test::run_cmd(cmd + " 2>&1");
  if (!result.ok()) {
    test::run_cmd(test::shell_quote(script_.string()) + " down " + test::shell_quote(prefix_));
    throw std::runtime_error(fmt::format("{} failed (exit {}):\n{}", cmd, result.exit_status,
                                         result.output));
  }
}

BenchTopology::~BenchTopology() {
  try {
    const test::CmdResult result = test::run_cmd(test::shell_quote(script_.string()) + " down " +
                                                 test::shell_quote(prefix_) + " 2>&1");
    if (!result.ok()) std::cerr << "xdpgw-bench: topology down failed: " << result.output << '\n';
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-bench: topology down failed: " << e.what() << '\n';
  }
}

}  // namespace xdpgw::bench
