// The benchmark topology of scripts/netns/bench-topology.sh, owned by the
// runner: `up` on construction, `down` on destruction. Names and addresses
// below mirror that script (its header is the reference).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xdpgw::bench {

// Addresses behind the gateway ports (RFC 2544 / RFC 5180 benchmarking
// ranges): the generator sends from the A side to the B side.
inline constexpr std::string_view kGenHost4 = "198.18.1.2";
inline constexpr std::string_view kSinkHost4 = "198.18.2.2";
inline constexpr std::string_view kGenHost6 = "2001:2:0:1::2";
inline constexpr std::string_view kSinkHost6 = "2001:2:0:2::2";
inline constexpr std::string_view kGenSubnet4 = "198.18.1.0/24";
inline constexpr std::string_view kSinkSubnet4 = "198.18.2.0/24";
inline constexpr std::string_view kGenSubnet6 = "2001:2:0:1::/64";
inline constexpr std::string_view kSinkSubnet6 = "2001:2:0:2::/64";

// Gateway interfaces in every gateway namespace.
inline constexpr std::string_view kGatewayIngress = "xgw0";  // faces the generator
inline constexpr std::string_view kGatewayEgress = "xgw1";   // faces the sink

// The generator namespace's injection veth pair (bench-topology.sh): the
// hop generators inject into kGenInject; the generator program on kGenHop
// rewrites and redirects each frame to the path.
inline constexpr std::string_view kGenInject = "xi0";
inline constexpr std::string_view kGenHop = "xi1";

// The path without a gateway: generator cabled straight to the sink.
inline constexpr std::string_view kDirectPath = "direct";

class BenchTopology {
 public:
  // Runs `script up prefix paths...`. Throws std::runtime_error with the
  // script's output when it fails (after running `down`).
  BenchTopology(std::filesystem::path script, std::string prefix, std::vector<std::string> paths);
  BenchTopology(const BenchTopology&) = delete;
  BenchTopology& operator=(const BenchTopology&) = delete;
  // `script down prefix`: deletes every namespace (and with it every veth,
  // XDP attachment and neighbour entry) the topology made.
  ~BenchTopology();

  const std::string& prefix() const noexcept { return prefix_; }
  const std::vector<std::string>& paths() const noexcept { return paths_; }

  std::string gen_netns() const { return prefix_ + "-gen"; }
  std::string sink_netns() const { return prefix_ + "-sink"; }
  // The gateway namespace of a path (none for the direct path).
  std::string gateway_netns(std::string_view path) const { return prefix_ + "-" + std::string(path); }

  static std::string gen_ifname(std::string_view path) { return "g-" + std::string(path); }
  static std::string sink_ifname(std::string_view path) { return "s-" + std::string(path); }

 private:
  std::filesystem::path script_;
  std::string prefix_;
  std::vector<std::string> paths_;
};

}  // namespace xdpgw::bench
