// A BIRD 2 routing daemon started by a test, in a namespace the test made:
// the upstream router of a scale-out topology, or the BGP speaker an xdpgw
// instance drives. Stopped and its files removed on destruction.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "harness/child_process.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"

namespace xdpgw::test {

class BirdDaemon {
 public:
  // Writes `config` to bird.conf in a directory of its own and runs
  // `bird -f` with it inside `ns`; returns once BIRD answers on its control
  // socket (`socket`, or bird.ctl in that directory). Throws with BIRD's
  // output when it exits or does not answer.
  BirdDaemon(const Netns& ns, std::string_view config,
             std::optional<std::filesystem::path> socket = std::nullopt);
  BirdDaemon(const BirdDaemon&) = delete;
  BirdDaemon& operator=(const BirdDaemon&) = delete;
  ~BirdDaemon();

  const std::filesystem::path& dir() const noexcept { return dir_; }
  const std::filesystem::path& socket() const noexcept { return socket_; }
  // `birdc -s SOCKET <command>`; its output, or the failure thrown.
  std::string birdc(std::string_view command) const;
  // Waits (bounded) until `show protocols NAME` says Established.
  void wait_established(std::string_view protocol,
                        std::chrono::seconds timeout = std::chrono::seconds(30)) const;
  // Everything BIRD wrote to stdout and stderr.
  std::string log() const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path socket_;
  std::optional<ChildProcess> process_;
};

}  // namespace xdpgw::test
