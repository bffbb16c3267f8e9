// xdpgw-gen: sends UDP frames out of an interface at full speed or at a set
// rate with the kernel's live-frames generator (see gen/live_frames.hpp),
// over a chosen number of flows, with 64-byte, fixed or IMIX sizes, IPv4 or
// IPv6, and reports how many frames it offered.
//
//   xdpgw-gen --netns gen --dev g0 --dst-mac 02:b0:01:00:00:02
//             --src 198.18.1.2 --dst 198.18.2.2 --flows 64 --size 64 --count 5000000
//
// `--self-check` checks the generator program's frames against the test
// harness's frame builder (lengths, checksums, flows, size classes) and needs
// no interface.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "gen/live_frames.hpp"
#include "gen/system.hpp"
#include "gen/traffic.hpp"
#include "harness/frame.hpp"

namespace {

using namespace xdpgw;
using namespace xdpgw::bench;

// One run of the program per frame index, compared byte for byte with the
// harness's independently built frame. Returns the number of mismatches.
int self_check() {
  struct Case {
    IpFamily family;
    FrameMix mix;
    uint32_t flows;
    uint16_t sport_base;
  };
  const std::vector<Case> cases = {
      {IpFamily::kIpv4, FrameMix::fixed(64), 1, 1024},
      {IpFamily::kIpv4, FrameMix::imix(), 64, 1024},
      {IpFamily::kIpv6, FrameMix::fixed(64), 64, 1024},
      {IpFamily::kIpv6, FrameMix::imix(), 64, 1024},
      // More flows than source ports: the source address moves on.
      {IpFamily::kIpv4, FrameMix::fixed(128), 70'000, 65'000},
      {IpFamily::kIpv6, FrameMix::fixed(100), 70'000, 65'000},
  };
  int failures = 0;
  for (const Case& c : cases) {
    const bool v6 = c.family == IpFamily::kIpv6;
    TrafficSpec spec{.family = c.family,
                     .src_mac = test::mac("02:b0:00:00:00:01"),
                     .dst_mac = test::mac("02:b0:00:00:00:02"),
                     .src_ip = v6 ? "2001:2:0:1::2" : "198.18.1.2",
                     .dst_ip = v6 ? "2001:2:0:2::2" : "198.18.2.2",
                     .sport_base = c.sport_base,
                     .flows = c.flows,
                     .mix = c.mix};
    // Plain test runs need no interface: the namespace is only entered for
    // the ifindex lookup, and lo exists everywhere.
    LiveFrameGenerator generator(spec, "/proc/self/ns/net", "lo");
    // Frame indexes that cover every size class, the wrap of the flow
    // counter and the first frames of the second source address.
    std::vector<uint64_t> indexes;
    for (uint64_t n = 0; n < 40; ++n) indexes.push_back(n);
    const uint32_t span = 65536u - c.sport_base;
    for (uint64_t n : {uint64_t{span} - 1, uint64_t{span}, uint64_t{span} + 1,
                       uint64_t{c.flows} - 1, uint64_t{c.flows}, uint64_t{c.flows} + 1}) {
      if (n >= 40) indexes.push_back(n);
    }
    std::ranges::sort(indexes);
    const auto [first, last] = std::ranges::unique(indexes);
    indexes.erase(first, last);

    uint64_t next = 0;
    for (uint64_t n : indexes) {
      // The program numbers frames by its own counter: run it up to n.
      for (; next < n; ++next) generator.build_one();
      const std::vector<uint8_t> got = generator.build_one();
      ++next;
      const std::vector<uint8_t> want = reference_frame(spec, n);
      const std::string name = fmt::format("{} {} flows={} frame {}", to_string(c.family),
                                           c.mix.name, c.flows, n);
      if (got != want) {
        ++failures;
        std::cerr << "MISMATCH " << name << "\nprogram wrote:\n" << test::hex_dump(got)
                  << "expected:\n" << test::hex_dump(want);
      } else if (auto error = test::checksum_error(got)) {
        ++failures;
        std::cerr << "BAD FRAME " << name << ": " << *error << '\n';
      }
    }
    std::cout << fmt::format("{} frames {}, {} flows: {} frames checked\n", to_string(c.family),
                             c.mix.name, c.flows, indexes.size());
  }
  std::cout << (failures == 0 ? "1 passed, 0 failed\n" : "0 passed, 1 failed\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xdpgw-gen: in-kernel (BPF_PROG_TEST_RUN live frames) UDP traffic generator"};
  bool check = false;
  std::string netns, dev, dst_mac, src_mac, src_ip, dst_ip, size = "64";
  uint16_t dst_port = 9, sport_base = 1024;
  uint32_t flows = 64, batch = 64;
  uint64_t count = 1'000'000;
  std::optional<double> rate;
  std::optional<unsigned> cpu;
  unsigned ttl = 64;
  bool json = false;
  bool realtime = false;
  app.add_flag("--self-check", check, "Check the program's frames against the frame builder, send nothing");
  app.add_option("--netns", netns, "Namespace to send from (name under /run/netns or a path); default: current");
  app.add_option("--dev", dev, "Interface the frames leave through");
  app.add_option("--dst-mac", dst_mac, "Destination MAC (the next hop's ingress)");
  app.add_option("--src-mac", src_mac, "Source MAC (default: the interface's)");
  app.add_option("--src", src_ip, "First source address (IPv4 or IPv6)");
  app.add_option("--dst", dst_ip, "Destination address (same family)");
  app.add_option("--dport", dst_port, "UDP destination port")->capture_default_str();
  app.add_option("--sport-base", sport_base, "First UDP source port")->capture_default_str();
  app.add_option("--flows", flows, "Distinct 5-tuples (source port, then source address)")->capture_default_str();
  app.add_option("--size", size, "Frame size in bytes without FCS, or 'imix' (7:4:1 of 64/590/1514)")->capture_default_str();
  app.add_option("--count", count, "Frames to send")->capture_default_str();
  app.add_option("--rate", rate, "Frames per second (default: as fast as possible)");
  app.add_option("--batch", batch, "Frames per page-pool batch, 1..256")->capture_default_str();
  app.add_option("--cpu", cpu, "Pin the sending thread to this CPU");
  app.add_option("--ttl", ttl, "IPv4 TTL / IPv6 hop limit")->capture_default_str()->check(CLI::Range(1, 255));
  app.add_flag("--realtime", realtime, "Send as SCHED_FIFO, so other processes cannot preempt the run");
  app.add_flag("--json", json, "Print the result as one JSON object");
  CLI11_PARSE(app, argc, argv);

  try {
    if (check) return self_check();
    if (dev.empty() || dst_mac.empty() || src_ip.empty() || dst_ip.empty()) {
      std::cerr << "xdpgw-gen: --dev, --dst-mac, --src and --dst are required (see --help)\n";
      return 2;
    }
    const std::string ns_path = netns.empty() ? "/proc/self/ns/net" : netns_path_of(netns);
    const InterfaceInfo interface = query_interface(ns_path, dev);
    TrafficSpec spec{
        .family = dst_ip.find(':') != std::string::npos ? IpFamily::kIpv6 : IpFamily::kIpv4,
        .src_mac = src_mac.empty() ? interface.mac : test::mac(src_mac),
        .dst_mac = test::mac(dst_mac),
        .src_ip = src_ip,
        .dst_ip = dst_ip,
        .dst_port = dst_port,
        .sport_base = sport_base,
        .flows = flows,
        .ttl = static_cast<uint8_t>(ttl),
        .mix = FrameMix::parse(size)};
    if (cpu) pin_current_thread(*cpu);
    install_stop_signal_handlers();
    LiveFrameGenerator generator(spec, ns_path, dev);
    std::optional<ScopedRealtime> sched_fifo;
    if (realtime) sched_fifo.emplace();
    const GenRunResult result =
        generator.run({.frames = count, .rate_pps = rate, .batch_size = batch});
    sched_fifo.reset();
    if (json) {
      nlohmann::json out = {
          {"frames_offered", result.frames_offered},
          {"frame_span_seconds", result.seconds()},
          {"wall_seconds", std::chrono::duration<double>(result.wall_time).count()},
          {"offered_mpps", result.offered_mpps()},
          {"idle_invocations", result.idle_invocations},
          {"interrupted", result.interrupted},
          {"family", to_string(spec.family)},
          {"frame_size", spec.mix.name},
          {"mean_frame_bytes", spec.mix.mean_length()},
          {"flows", spec.flows},
          {"rate_pps", rate ? nlohmann::json(*rate) : nlohmann::json(nullptr)},
          {"cpu", cpu ? nlohmann::json(*cpu) : nlohmann::json(nullptr)},
      };
      std::cout << out.dump() << '\n';
    } else {
      std::cout << fmt::format(
          "offered {} frames in {:.3f} s (first to last frame; {:.3f} s wall): {:.3f} Mpps "
          "({}, frames {}, {} flows){}\n",
          result.frames_offered, result.seconds(),
          std::chrono::duration<double>(result.wall_time).count(), result.offered_mpps(),
          to_string(spec.family), spec.mix.name, spec.flows,
          result.interrupted ? ", interrupted" : "");
    }
    return result.interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-gen: " << e.what() << '\n';
    return 1;
  }
}
