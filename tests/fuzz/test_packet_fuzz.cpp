// Hostile-packet fuzzing of the XDP entry program through BPF_PROG_TEST_RUN.
//
// Every frame (seeded, reproducible; see README.md) goes through the real
// dispatcher, which tail-calls the real handlers, loaded by the daemon's own
// loader. For every frame:
//   - the action is XDP_PASS, XDP_DROP or XDP_REDIRECT;
//   - exactly one verdict reason moved, by one packet and the frame's bytes,
//     and its class matches the action (drop_* / pass_* or missed_tail_call
//     / fwd_redirect); at most the handler slot the dispatcher chose moved;
//   - the reason is the one an independent userspace reference
//     (reference_model.hpp) derives from the documented parse and routing
//     rules, so any divergence between the BPF parser and those rules fails;
//   - a malformed frame is never redirected and never modified, a passed
//     frame is never modified, a forwarded one differs only in MACs, TTL /
//     hop limit and the IPv4 checksum (RFC 1624).
// At the end the counters summed over all frames equal the frames sent (and
// their bytes), and every reason the routing under test makes reachable was
// reached, so the generator cannot silently stop exploring.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "datapath/abi.hpp"
#include "datapath/datapath.hpp"
#include "fuzz/frame_generator.hpp"
#include "fuzz/reference_model.hpp"
#include "harness/frame.hpp"
#include "harness/netns.hpp"
#include "harness/prog_run.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test::fuzz {
namespace {

// ---- run parameters from the environment -------------------------------------

// The CI default: 3 route sources x 100,000 frames, the same frames every run.
constexpr uint64_t kDefaultSeed = 0x5eed2026;
constexpr uint64_t kDefaultFrames = 100'000;
// Below this many frames per run, unreached reasons are reported, not failed.
constexpr uint64_t kCoverageMinFrames = 20'000;
// Failing frames described in full; the rest are only counted.
constexpr int kMaxReportedFrames = 10;

std::optional<uint64_t> parse_number(std::string_view text) {
  int base = 10;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    text.remove_prefix(2);
    base = 16;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

struct FuzzParams {
  uint64_t seed = kDefaultSeed;
  uint64_t frames = kDefaultFrames;
  std::optional<uint64_t> only;  // replay this one frame, printing everything
};

// XDPGW_FUZZ_SEED (decimal, 0x-hex, or "random"), XDPGW_FUZZ_FRAMES (per
// route source), XDPGW_FUZZ_ONLY (index of one frame to replay).
FuzzParams params_from_env() {
  FuzzParams p;
  auto number = [](const char* name) -> std::optional<uint64_t> {
    const char* text = std::getenv(name);
    if (!text || !*text) return std::nullopt;
    auto value = parse_number(text);
    if (!value) throw std::invalid_argument(fmt::format("{}={:?} is not a number", name, text));
    return value;
  };
  const char* seed = std::getenv("XDPGW_FUZZ_SEED");
  if (seed && std::string_view(seed) == "random") {
    std::random_device device;
    p.seed = static_cast<uint64_t>(device()) << 32 | device();
  } else if (auto value = number("XDPGW_FUZZ_SEED")) {
    p.seed = *value;
  }
  if (auto value = number("XDPGW_FUZZ_FRAMES")) p.frames = *value;
  p.only = number("XDPGW_FUZZ_ONLY");
  return p;
}

// ---- counters -----------------------------------------------------------------------

// Every entry of a per-CPU counter array, summed over CPUs, read with one
// bpf_map_lookup_batch per call: one syscall instead of one per entry (42
// verdict reasons), which is what makes per-frame counter checks cheap.
class PercpuCounters {
 public:
  PercpuCounters(int map_fd, uint32_t entries)
      : fd_(map_fd),
        entries_(entries),
        cpus_(possible_cpus()),
        keys_(entries),
        raw_(static_cast<std::size_t>(entries) * cpus_),
        sums_(entries) {
    static_assert(sizeof(xdpgw_counter) % 8 == 0, "per-CPU values are 8-byte aligned");
  }

  std::span<const xdpgw_counter> read() {
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    uint32_t out_batch = 0;
    uint32_t count = entries_;
    const int rc = bpf_map_lookup_batch(fd_, nullptr, &out_batch, keys_.data(), raw_.data(),
                                        &count, &opts);
    // ENOENT: the batch reached the end of the array, which is the point.
    if (rc < 0 && rc != -ENOENT && errno != ENOENT) {
      throw_errno(rc == -1 ? errno : rc, fmt::format("bpf_map_lookup_batch(map fd {})", fd_));
    }
    if (count != entries_) {
      throw std::runtime_error(
          fmt::format("bpf_map_lookup_batch returned {} of {} entries", count, entries_));
    }
    std::fill(sums_.begin(), sums_.end(), xdpgw_counter{});
    for (uint32_t i = 0; i < count; ++i) {
      xdpgw_counter& sum = sums_.at(keys_[i]);
      for (unsigned cpu = 0; cpu < cpus_; ++cpu) {
        sum.packets += raw_[std::size_t{i} * cpus_ + cpu].packets;
        sum.bytes += raw_[std::size_t{i} * cpus_ + cpu].bytes;
      }
    }
    return sums_;
  }

 private:
  int fd_;
  uint32_t entries_;
  unsigned cpus_;
  std::vector<uint32_t> keys_;
  std::vector<xdpgw_counter> raw_;
  std::vector<xdpgw_counter> sums_;
};

struct Delta {
  uint32_t index;
  uint64_t packets;
  uint64_t bytes;
};

std::vector<Delta> moved(std::span<const xdpgw_counter> before,
                         std::span<const xdpgw_counter> after) {
  std::vector<Delta> out;
  for (uint32_t i = 0; i < before.size(); ++i) {
    if (after[i].packets != before[i].packets || after[i].bytes != before[i].bytes) {
      out.push_back({i, after[i].packets - before[i].packets, after[i].bytes - before[i].bytes});
    }
  }
  return out;
}

// The action a reason's class allows (missed_tail_call: whichever the
// settings say, both allowed).
bool action_fits_reason(uint32_t action, uint32_t reason) {
  if (reason == XDPGW_R_MISSED_TAIL_CALL) return action == XDP_PASS || action == XDP_DROP;
  switch (abi::reason_outcome(reason)) {
    case abi::Outcome::kDrop: return action == XDP_DROP;
    case abi::Outcome::kPass: return action == XDP_PASS;
    case abi::Outcome::kForward: return action == XDP_REDIRECT;
    default: return false;  // steer_cpu (steering is off), unspec
  }
}

std::string names(const std::set<uint32_t>& reasons) {
  std::string out;
  for (uint32_t r : reasons) out += (out.empty() ? "" : "|") + reason_name(r);
  return out;
}

std::string first_difference(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return fmt::format("size {} -> {}", a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return fmt::format("byte {} {:#04x} -> {:#04x}", i, a[i], b[i]);
  }
  return "none";
}

// ---- one fuzz run ---------------------------------------------------------------------

struct Campaign {
  std::string name;
  RouteSource source;
  uint64_t stream;  // frame stream: each route source gets its own frames
  const RoutingModel* routing;
  const AddressPool* pool;
  uint32_t ingress_ifindex = 0;
  std::vector<MacAddr> port_macs;  // for FIB forwards: the source MAC is one of them
  std::set<uint32_t> must_reach;   // reasons the routing makes reachable
};

// Reasons every run must reach, whatever the route source: not IP and every
// parse error (the parse_error column of XDPGW_REASONS) but
// drop_eth_truncated (the kernel never hands XDP fewer than 14 bytes). Not
// parse errors, so not here either: drop_meta_missing (every stage function
// is given a parse result) and missed_tail_call (every slot is installed).
std::set<uint32_t> parse_reasons() {
  std::set<uint32_t> out{XDPGW_R_PASS_NOT_IP};
  for (uint32_t r = 0; r < XDPGW_R_COUNT; ++r)
    if (abi::reason_is_parse_error(r) && r != XDPGW_R_DROP_ETH_TRUNCATED) out.insert(r);
  return out;
}

class FuzzRunner {
 public:
  FuzzRunner(Datapath& dp, const Campaign& c, const FuzzParams& params)
      : dp_(dp),
        c_(c),
        params_(params),
        verdicts_(dp.verdict_stats_fd(), XDPGW_R_COUNT),
        // Every entry, used slot or not: a count in a spare one is a bug too.
        handlers_(dp.handler_stats_fd(), XDPGW_PROG_ARRAY_SIZE) {}

  void run() {
    ASSERT_EQ(dp_.read_settings().cpu_count, 0u) << "steering must be off (steer_cpu is not final)";
    const uint64_t first = params_.only.value_or(0);
    const uint64_t end = params_.only ? first + 1 : params_.frames;
    std::cout << fmt::format(
        "[ fuzz     ] {}: {} frames, seed {:#x} (reproduce: XDPGW_FUZZ_SEED={:#x} "
        "XDPGW_FUZZ_FRAMES={}; one frame: XDPGW_FUZZ_ONLY=<index>)\n",
        c_.name, end - first, params_.seed, params_.seed, params_.frames);
    const auto started = std::chrono::steady_clock::now();
    const auto slow_start = read_verdicts(dp_.verdict_stats_fd());
    const auto handlers_now = handlers_.read();
    const std::vector<xdpgw_counter> handlers_start(handlers_now.begin(), handlers_now.end());
    const auto verdicts_now = verdicts_.read();
    std::vector<xdpgw_counter> before(verdicts_now.begin(), verdicts_now.end());
    std::vector<xdpgw_counter> handlers_before = handlers_start;

    for (uint64_t i = first; i < end; ++i) {
      Rng rng(frame_seed(params_.seed, c_.stream, i));
      const GeneratedFrame frame = generate_frame(rng, *c_.pool);
      const Parsed parsed = parse_frame(frame.bytes);
      const Expected expected = predict(parsed, frame.bytes, c_.source, *c_.routing);
      const TestRunResult out = prog_test_run(dp_.dispatcher_fd(), frame.bytes,
                                              {.ingress_ifindex = c_.ingress_ifindex});
      const auto after = verdicts_.read();
      const auto handlers_after = handlers_.read();
      const auto problems = check(frame.bytes, parsed, expected, out, moved(before, after),
                                  moved(handlers_before, handlers_after));
      if (!problems.empty() || params_.only) report(i, frame, parsed, expected, out, problems);
      before.assign(after.begin(), after.end());
      handlers_before.assign(handlers_after.begin(), handlers_after.end());
      sent_packets_ += 1;
      sent_bytes_ += frame.bytes.size();
      expected_malformed_ += expected.malformed;
      expected_handled_ += expected.handler.has_value();
    }

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    check_totals(slow_start, handlers_start);
    print_histogram(seconds);
    if (!params_.only) check_coverage();
    EXPECT_EQ(failed_frames_, 0u) << failed_frames_ << " of " << sent_packets_
                                  << " frames failed (first " << kMaxReportedFrames
                                  << " shown above); seed " << fmt::format("{:#x}", params_.seed);
  }

 private:
  std::vector<std::string> check(std::span<const uint8_t> in, const Parsed& parsed,
                                 const Expected& expected, const TestRunResult& out,
                                 const std::vector<Delta>& reasons,
                                 const std::vector<Delta>& handlers) {
    std::vector<std::string> problems;
    auto problem = [&problems]<typename... Args>(fmt::format_string<Args...> f, Args&&... args) {
      problems.push_back(fmt::format(f, std::forward<Args>(args)...));
    };

    // The action.
    if (out.action != XDP_PASS && out.action != XDP_DROP && out.action != XDP_REDIRECT) {
      problem("action {} is never allowed", action_name(out.action));
    }

    // Exactly one reason, by exactly one packet of this frame's size.
    std::optional<uint32_t> reason;
    for (const Delta& d : reasons) reached_[d.index] += d.packets;
    if (reasons.size() != 1) {
      std::string list;
      for (const Delta& d : reasons) list += fmt::format(" {}+{}", reason_name(d.index), d.packets);
      problem("{} verdict reasons moved (want exactly 1):{}", reasons.size(), list);
    } else {
      const Delta& d = reasons.front();
      reason = d.index;
      if (d.packets != 1 || d.bytes != in.size()) {
        problem("{} moved by {} packets / {} bytes, want 1 / {}", reason_name(d.index), d.packets,
                d.bytes, in.size());
      }
      if (!action_fits_reason(out.action, d.index)) {
        problem("{} with reason {}", action_name(out.action), reason_name(d.index));
      }
      if (!expected.reasons.contains(d.index)) {
        problem("reason {}, the reference says {}", reason_name(d.index), names(expected.reasons));
      }
    }

    // The handler slot the dispatcher chose, if any, counted once.
    std::optional<uint32_t> slot;
    if (handlers.size() > 1 || (handlers.size() == 1 && handlers.front().packets != 1)) {
      problem("{} handler counters moved", handlers.size());
    } else if (handlers.size() == 1) {
      slot = handlers.front().index;
    }
    if (slot != expected.handler) {
      problem("handler {}, the reference says {}", slot_name(slot), slot_name(expected.handler));
    }

    // The bytes.
    if (expected.malformed) {
      if (out.action == XDP_REDIRECT) problem("a malformed frame was redirected");
      if (!std::ranges::equal(out.data, in)) {
        problem("a malformed frame was modified ({})", first_difference(in, out.data));
      }
    }
    const bool rewritten = reason.has_value() && *reason == XDPGW_R_FWD_REDIRECT;
    if (out.action == XDP_PASS && !std::ranges::equal(out.data, in)) {
      problem("a passed frame was modified ({})", first_difference(in, out.data));
    } else if (!rewritten && out.action != XDP_PASS && !std::ranges::equal(out.data, in)) {
      problem("a {} frame was modified ({})", action_name(out.action),
              first_difference(in, out.data));
    }
    if (rewritten && !expected.malformed) {
      if (auto wrong = check_forward_rewrite(in, out.data, parsed)) problem("rewrite: {}", *wrong);
      if (out.data.size() >= 12) {
        MacAddr dmac, smac;
        std::copy_n(out.data.begin(), 6, dmac.begin());
        std::copy_n(out.data.begin() + 6, 6, smac.begin());
        if (expected.dmac && dmac != *expected.dmac) {
          problem("destination MAC {}, want {}", to_string(dmac), to_string(*expected.dmac));
        }
        if (expected.smac && smac != *expected.smac) {
          problem("source MAC {}, want {}", to_string(smac), to_string(*expected.smac));
        }
        if (!expected.smac && std::ranges::find(c_.port_macs, smac) == c_.port_macs.end()) {
          problem("source MAC {} is no port's", to_string(smac));
        }
      }
    }
    return problems;
  }

  void report(uint64_t index, const GeneratedFrame& frame, const Parsed& parsed,
              const Expected& expected, const TestRunResult& out,
              const std::vector<std::string>& problems) {
    if (!problems.empty()) ++failed_frames_;
    if (!problems.empty() && failed_frames_ > kMaxReportedFrames) return;
    std::string text = fmt::format(
        "{} frame {} (XDPGW_FUZZ_SEED={:#x} XDPGW_FUZZ_ONLY={}), {} bytes\n", c_.name, index,
        params_.seed, index, frame.bytes.size());
    for (const auto& p : problems) text += "  problem: " + p + "\n";
    text += fmt::format("  made as:   {}\n  reference: {}; expects {}, handler {}\n", frame.recipe,
                        parsed.describe(), names(expected.reasons), slot_name(expected.handler));
    text += fmt::format("  datapath:  {}\n  in:\n{}", action_name(out.action),
                        hex_dump(frame.bytes));
    if (!std::ranges::equal(out.data, frame.bytes)) text += "  out:\n" + hex_dump(out.data);
    if (problems.empty()) {
      std::cout << text;
    } else {
      ADD_FAILURE() << text;
    }
  }

  // Independent of the per-frame batch reads: the daemon's own reader.
  void check_totals(const std::array<xdpgw_counter, XDPGW_R_COUNT>& start,
                    const std::vector<xdpgw_counter>& handlers_start) {
    const auto end = read_verdicts(dp_.verdict_stats_fd());
    uint64_t packets = 0, bytes = 0;
    for (uint32_t r = 0; r < XDPGW_R_COUNT; ++r) {
      packets += end[r].packets - start[r].packets;
      bytes += end[r].bytes - start[r].bytes;
    }
    EXPECT_EQ(packets, sent_packets_) << "verdict counters summed over all frames";
    EXPECT_EQ(bytes, sent_bytes_) << "verdict byte counters summed over all frames";
    EXPECT_EQ(end[XDPGW_R_STEER_CPU].packets, start[XDPGW_R_STEER_CPU].packets);
    const auto handlers_end = handlers_.read();
    uint64_t handled = 0;
    for (uint32_t s = 0; s < XDPGW_PROG_ARRAY_SIZE; ++s) {
      handled += handlers_end[s].packets - handlers_start[s].packets;
    }
    EXPECT_EQ(handled, expected_handled_) << "handler counters summed over all frames";
  }

  void print_histogram(double seconds) const {
    std::string text = fmt::format(
        "[ fuzz     ] {}: {} frames ({} malformed by the reference) in {:.1f} s, {:.1f} us/frame\n",
        c_.name, sent_packets_, expected_malformed_, seconds,
        sent_packets_ ? seconds * 1e6 / static_cast<double>(sent_packets_) : 0.0);
    for (uint32_t r = 0; r < XDPGW_R_COUNT; ++r) {
      if (reached_[r]) text += fmt::format("    {:<28} {:>8}\n", reason_name(r), reached_[r]);
    }
    std::cout << text;
  }

  void check_coverage() const {
    std::string missing;
    for (uint32_t r : c_.must_reach) {
      if (!reached_[r]) missing += " " + reason_name(r);
    }
    if (missing.empty()) return;
    if (params_.frames >= kCoverageMinFrames) {
      ADD_FAILURE() << c_.name << ": reasons never reached in " << sent_packets_
                    << " frames (the generator no longer explores them):" << missing;
    } else {
      std::cout << "[ fuzz     ] not reached in this short run:" << missing << "\n";
    }
  }

  Datapath& dp_;
  const Campaign& c_;
  const FuzzParams& params_;
  PercpuCounters verdicts_;
  PercpuCounters handlers_;
  std::array<uint64_t, XDPGW_R_COUNT> reached_{};
  uint64_t sent_packets_ = 0, sent_bytes_ = 0, failed_frames_ = 0;
  uint64_t expected_malformed_ = 0, expected_handled_ = 0;  // by the reference
};

// ---- addresses and routing under test -------------------------------------------------

const MacAddr kHostAMac = mac("02:00:00:00:0a:02");
const MacAddr kHostBMac = mac("02:00:00:00:0b:02");
const MacAddr kPort0Mac = mac("02:00:00:00:0a:01");
const MacAddr kPort1Mac = mac("02:00:00:00:0b:01");
// Known to apply as a port (its MAC and MTU are on the nexthop) but not in
// tx_ports (its device is gone): the redirect check refuses it.
constexpr uint32_t kGhostPort = 999'999;
// A nexthop's interface that is no port at all.
constexpr uint32_t kNotAPort = 424'242;

AddressPool address_pool() {
  AddressPool pool;
  pool.macs = {kPort0Mac, kPort1Mac, kHostAMac, kHostBMac, mac("ff:ff:ff:ff:ff:ff"),
               mac("01:00:5e:00:00:05"), mac("02:12:34:56:78:9a")};
  // Forwardable destinations several times over, so that a good share of
  // the frames that survive parsing is rewritten and redirected.
  for (const char* a : {"198.18.2.2", "198.18.2.2", "198.18.2.2", "198.18.2.2", "198.18.2.200",
                        "198.18.2.200", "198.18.2.99", "198.18.2.1", "198.18.1.1", "198.18.1.2",
                        "198.18.2.77", "198.18.3.9", "198.18.4.9", "198.18.5.9", "198.18.6.9",
                        "198.18.7.9", "198.19.0.1", "224.0.0.5", "239.1.2.3", "255.255.255.255",
                        "10.0.0.1", "0.0.0.0"}) {
    pool.v4.push_back(ipv4(a));
  }
  for (const char* a : {"2001:2:0:2::2", "2001:2:0:2::2", "2001:2:0:2::2", "2001:2:0:2::2",
                        "2001:2:0:2:8000::9", "2001:2:0:2:8000::9", "2001:2:0:2::99",
                        "2001:2:0:2::1", "2001:2:0:1::1", "2001:2:0:1::2", "2001:2:0:2::77",
                        "2001:2:0:3::9", "2001:2:0:4::9", "2001:2:0:5::9", "2001:2:0:6::9",
                        "2001:2:0:9::1", "ff02::1", "ff05::2", "fe80::1", "fe80::2", "::1", "::"}) {
    pool.v6.push_back(ipv6(a));
  }
  return pool;
}

ModelRoute route(std::string_view prefix, unsigned length, uint32_t nexthop) {
  ModelRoute r{.prefix = {}, .length = length, .nexthop_id = nexthop};
  if (prefix.find(':') != std::string_view::npos) {
    const auto a = ipv6(prefix);
    r.prefix.assign(a.begin(), a.end());
  } else {
    const auto a = ipv4(prefix);
    r.prefix.assign(a.begin(), a.end());
  }
  return r;
}

// Every static-routing outcome has addresses that lead to it: forward on
// either port (longest prefix wins), unresolved nexthop, a nexthop id with
// no entry, egress through a non-port, over the egress MTU (port 0 has a
// smaller one), a port that left tx_ports.
RoutingModel static_routing(uint32_t port0, uint32_t port1) {
  RoutingModel m;
  m.ports[port0] = {.mtu = 1400, .mac = kPort0Mac, .in_tx_ports = true};
  m.ports[port1] = {.mtu = 1500, .mac = kPort1Mac, .in_tx_ports = true};
  m.ports[kGhostPort] = {.mtu = 1500, .mac = mac("02:00:00:00:0c:01"), .in_tx_ports = false};
  m.nexthops[1] = {.ifindex = port1, .resolved = true, .dmac = kHostBMac};
  m.nexthops[2] = {.ifindex = port0, .resolved = true, .dmac = kHostAMac};
  m.nexthops[3] = {.ifindex = port1, .resolved = false, .dmac = {}};
  m.nexthops[4] = {.ifindex = kNotAPort, .resolved = true, .dmac = kHostBMac};
  m.nexthops[5] = {.ifindex = kGhostPort, .resolved = true, .dmac = kHostBMac};
  m.routes4 = {route("198.18.2.0", 24, 1), route("198.18.2.128", 25, 2),
               route("198.18.3.0", 24, 3), route("198.18.4.0", 24, 4),
               route("198.18.5.0", 24, 5), route("198.18.6.0", 24, 4000),
               route("198.18.7.0", 24, 5000)};
  m.routes6 = {route("2001:2:0:2::", 64, 1), route("2001:2:0:2:8000::", 65, 2),
               route("2001:2:0:3::", 64, 3), route("2001:2:0:4::", 64, 4),
               route("2001:2:0:5::", 64, 5), route("2001:2:0:6::", 64, 4000)};
  m.local4 = {ipv4("198.18.1.1"), ipv4("198.18.2.1")};
  m.local6 = {ipv6("2001:2:0:1::1"), ipv6("2001:2:0:2::1")};
  return m;
}

void set_route_source(Datapath& dp, uint32_t source) {
  auto s = dp.read_settings();
  s.route_source = source;
  dp.write_settings(s);
}

// ---- fixtures ---------------------------------------------------------------------------

class PacketFuzz : public ::testing::Test {
 protected:
  PacketFuzz() : params_(params_from_env()), dp_(std::make_unique<Datapath>(LoadOptions{})) {}

  FuzzParams params_;
  std::unique_ptr<Datapath> dp_;
  AddressPool pool_ = address_pool();
};

// The gateway namespace of test_router.cpp's RouterTest: two real ports
// (veths to a host namespace) with the demo topology's addresses, permanent
// neighbours for host B, forwarding on; the routing model is written into
// the active config generation.
class RoutedPacketFuzz : public PacketFuzz {
 protected:
  RoutedPacketFuzz()
      : port0_(gw_, hosts_,
               {.a = {.mac = kPort0Mac, .addresses = {"198.18.1.1/24", "2001:2:0:1::1/64"}},
                .b = {.mac = kHostAMac}}),
        port1_(gw_, hosts_,
               {.a = {.mac = kPort1Mac, .addresses = {"198.18.2.1/24", "2001:2:0:2::1/64"}},
                .b = {.mac = kHostBMac}}),
        model_(static_routing(static_cast<uint32_t>(port0_.ifindex_a()),
                              static_cast<uint32_t>(port1_.ifindex_a()))) {
    gw_.sysctl("net.ipv4.ip_forward", "1");
    gw_.sysctl("net.ipv6.conf.all.forwarding", "1");
    for (const char* addr : {"198.18.2.2", "2001:2:0:2::2"}) {
      gw_.exec_ok(fmt::format("ip neigh replace {} lladdr {} nud permanent dev {}", addr,
                              to_string(kHostBMac), port1_.name_a()));
    }
    write_model();
  }

  void write_model() {
    auto in = gw_.enter();  // tx_ports resolves ifindexes in this namespace
    auto update = [](int fd, const void* key, const void* value, std::string_view what) {
      check_errno(bpf_map_update_elem(fd, key, value, BPF_ANY), what);
    };
    for (const auto& [ifindex, p] : model_.ports) {
      if (p.in_tx_ports) {
        bpf_devmap_val tx{};
        tx.ifindex = ifindex;
        update(dp_->tx_ports_fd(), &ifindex, &tx, "tx_ports");
      }
    }
    for (const auto& [id, n] : model_.nexthops) {
      // As apply writes them: the egress port's MAC and MTU on the nexthop,
      // an unbounded MTU when the egress is no port.
      xdpgw_nexthop nh{.ifindex = n.ifindex, .flags = n.resolved ? XDPGW_NH_F_RESOLVED : 0u,
                       .dmac = {}, .smac = {}, .mtu = UINT32_MAX};
      std::memcpy(nh.dmac, n.dmac.data(), 6);
      if (auto port = model_.ports.find(n.ifindex); port != model_.ports.end()) {
        std::memcpy(nh.smac, port->second.mac.data(), 6);
        nh.mtu = port->second.mtu;
      }
      update(dp_->nexthops_fd(), &id, &nh, "nexthops");
    }
    for (const ModelRoute& r : model_.routes4) {
      xdpgw_lpm_v4_key key{.prefixlen = r.length, .addr = 0};
      std::memcpy(&key.addr, r.prefix.data(), 4);
      xdpgw_route value{.nexthop_id = r.nexthop_id};
      update(dp_->routes_v4_fd(), &key, &value, "routes4");
    }
    for (const ModelRoute& r : model_.routes6) {
      xdpgw_lpm_v6_key key{.prefixlen = r.length, .addr = {}};
      std::memcpy(key.addr, r.prefix.data(), 16);
      xdpgw_route value{.nexthop_id = r.nexthop_id};
      update(dp_->routes_v6_fd(), &key, &value, "routes6");
    }
    // Local addresses as apply writes them: in the local table and as host
    // routes (after the routes, which they override).
    const uint8_t one = 1;
    const xdpgw_route local{.nexthop_id = XDPGW_NH_LOCAL};
    for (const Ipv4Addr& a : model_.local4) {
      xdpgw_addr_key key{.family = AF_INET, .addr = {}};
      std::memcpy(key.addr, a.data(), 4);
      update(dp_->local_addrs_fd(), &key, &one, "local");
      xdpgw_lpm_v4_key host{.prefixlen = 32, .addr = 0};
      std::memcpy(&host.addr, a.data(), 4);
      update(dp_->routes_v4_fd(), &host, &local, "routes4[local]");
    }
    for (const Ipv6Addr& a : model_.local6) {
      xdpgw_addr_key key{.family = AF_INET6, .addr = {}};
      std::memcpy(key.addr, a.data(), 16);
      update(dp_->local_addrs_fd(), &key, &one, "local");
      xdpgw_lpm_v6_key host{.prefixlen = 128, .addr = {}};
      std::memcpy(host.addr, a.data(), 16);
      update(dp_->routes_v6_fd(), &host, &local, "routes6[local]");
    }
  }

  Campaign campaign(std::string name, RouteSource source, uint64_t stream) const {
    return {.name = std::move(name),
            .source = source,
            .stream = stream,
            .routing = &model_,
            .pool = &pool_,
            .ingress_ifindex = static_cast<uint32_t>(port0_.ifindex_a()),
            .port_macs = {kPort0Mac, kPort1Mac},
            .must_reach = {}};
  }

  Netns gw_{"gw"};
  Netns hosts_{"hosts"};
  VethPair port0_;
  VethPair port1_;
  RoutingModel model_;
};

// ---- the reference and the generator on their own (no BPF) -----------------------------

struct KnownFrame {
  std::string name;
  std::vector<uint8_t> frame;
  std::optional<uint32_t> drop;      // drop reason, or nullopt for an acceptable frame
  std::optional<uint32_t> slot = {};  // handler slot the dispatcher picks
};

// Answers worked out by hand from the documented rules (the same cases
// tests/bpf/test_dispatch.cpp puts to the datapath), so the reference is
// checked on its own before it judges the datapath.
std::vector<KnownFrame> known_frames() {
  const Ipv4Fields v4{.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")};
  const Ipv6Fields v6{.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")};
  auto eth = [] { return FrameBuilder().eth(kPort0Mac, kHostAMac); };
  auto with_byte = [](std::vector<uint8_t> f, std::size_t at, uint8_t v) {
    f.at(at) = v;
    return f;
  };
  auto proto = [](Ipv4Fields f, uint8_t p) {
    f.protocol = p;
    return f;
  };
  auto next = [](Ipv6Fields f, uint8_t n) {
    f.next_header = n;
    return f;
  };
  Ipv4Fields fragment = v4;
  fragment.more_fragments = true;
  FrameBuilder six_ext = eth().ipv6(v6), seven_ext = eth().ipv6(v6);
  for (int i = 0; i < 6; ++i) six_ext.dest_opts();
  for (int i = 0; i < 7; ++i) seven_ext.dest_opts();
  const auto tcp4 = eth().ipv4(v4).tcp({.sport = 1, .dport = 2}).payload(10).build();
  return {
      {"tcp4", tcp4, std::nullopt, XDPGW_SLOT_TCP},
      {"tcp4_eth_padding", eth().ipv4(v4).tcp({}).eth_trailer(6).build(), std::nullopt, XDPGW_SLOT_TCP},
      {"udp6_six_ext_headers", six_ext.udp({}).build(), std::nullopt, XDPGW_SLOT_UDP},
      {"icmp4", eth().ipv4(v4).icmp_echo(1, 1).build(), std::nullopt, XDPGW_SLOT_ICMP},
      {"icmp4_in_ipv6", eth().ipv6(v6).icmp_echo(1, 1).build(), std::nullopt, XDPGW_SLOT_OTHER},
      {"ipv4_fragment_udp", eth().ipv4(fragment).udp({}).payload(8).build(), std::nullopt, XDPGW_SLOT_OTHER},
      {"ipv6_fragment_tcp", eth().ipv6(v6).fragment(0, true).tcp({}).build(), std::nullopt, XDPGW_SLOT_OTHER},
      {"qinq_udp6", eth().qinq(1).vlan(2).ipv6(v6).udp({}).build(), std::nullopt, XDPGW_SLOT_UDP},
      {"arp", eth().ethertype(0x0806).payload(28).build(), std::nullopt},
      {"cut_in_vlan_tag", truncate(eth().vlan(1).ipv4(v4).udp({}).build(), 16), XDPGW_R_DROP_VLAN_TRUNCATED},
      {"three_tags", eth().qinq(1).vlan(2).vlan(3).ipv4(v4).udp({}).build(), XDPGW_R_DROP_VLAN_TOO_DEEP},
      {"ipv4_cut_header", truncate(tcp4, 30), XDPGW_R_DROP_IPV4_TRUNCATED},
      {"ipv4_version_6", with_byte(eth().ipv4(v4).udp({}).build(), 14, 0x65), XDPGW_R_DROP_IPV4_BAD_VERSION},
      {"ipv4_ihl_4", eth().ipv4(v4).ipv4_ihl(4).udp({}).build(), XDPGW_R_DROP_IPV4_BAD_IHL},
      {"ipv4_ihl_past_end", eth().ipv4(v4).ipv4_ihl(15).build(), XDPGW_R_DROP_IPV4_TRUNCATED},
      {"ipv4_totlen_19", eth().ipv4(v4).ipv4_total_length(19).udp({}).build(), XDPGW_R_DROP_IPV4_BAD_TOTLEN},
      {"ipv4_totlen_past_end", eth().ipv4(v4).ipv4_total_length(1500).udp({}).build(), XDPGW_R_DROP_IPV4_TRUNCATED},
      {"ipv6_version_4", with_byte(eth().ipv6(v6).udp({}).build(), 14, 0x40), XDPGW_R_DROP_IPV6_BAD_VERSION},
      {"ipv6_payload_past_end", eth().ipv6(v6).ipv6_payload_length(100).udp({}).build(), XDPGW_R_DROP_IPV6_TRUNCATED},
      {"ipv6_ext_past_payload", eth().ipv6(v6).hop_by_hop(1).ipv6_payload_length(8).eth_trailer(16).build(), XDPGW_R_DROP_IPV6_BAD_PAYLOAD_LEN},
      {"ipv6_ext_missing", eth().ipv6(next(v6, 0)).build(), XDPGW_R_DROP_IPV6_EXT_TRUNCATED},
      {"ipv6_seven_ext_headers", seven_ext.udp({}).build(), XDPGW_R_DROP_IPV6_EXT_TOO_DEEP},
      {"ipv6_l4_past_offset_bound", eth().ipv6(v6).dest_opts(127).udp({}).build(), XDPGW_R_DROP_IPV6_EXT_TOO_DEEP},
      {"tcp4_short", eth().ipv4(proto(v4, 6)).payload(19).build(), XDPGW_R_DROP_TCP_TRUNCATED, XDPGW_SLOT_TCP},
      {"tcp4_short_with_padding", eth().ipv4(proto(v4, 6)).payload(10).eth_trailer(20).build(), XDPGW_R_DROP_TCP_TRUNCATED, XDPGW_SLOT_TCP},
      {"tcp4_doff_4", eth().ipv4(v4).tcp({}).tcp_doff(4).build(), XDPGW_R_DROP_TCP_BAD_DOFF, XDPGW_SLOT_TCP},
      {"tcp6_doff_past_payload", eth().ipv6(v6).tcp({}).tcp_doff(15).payload(8).build(), XDPGW_R_DROP_TCP_BAD_DOFF, XDPGW_SLOT_TCP},
      {"udp4_short", eth().ipv4(proto(v4, 17)).payload(7).build(), XDPGW_R_DROP_UDP_TRUNCATED, XDPGW_SLOT_UDP},
      {"udp4_len_7", eth().ipv4(v4).udp({}).udp_length(7).payload(4).build(), XDPGW_R_DROP_UDP_BAD_LEN, XDPGW_SLOT_UDP},
      {"udp6_len_past_payload", eth().ipv6(v6).udp({}).udp_length(40).payload(4).build(), XDPGW_R_DROP_UDP_BAD_LEN, XDPGW_SLOT_UDP},
      {"icmp4_short", eth().ipv4(proto(v4, 1)).payload(7).build(), XDPGW_R_DROP_ICMP_TRUNCATED, XDPGW_SLOT_ICMP},
      {"icmp6_short", eth().ipv6(next(v6, 58)).payload(3).build(), XDPGW_R_DROP_ICMPV6_TRUNCATED, XDPGW_SLOT_ICMPV6},
  };
}

TEST(ReferenceModel, AgreesWithHandWorkedCases) {
  for (const KnownFrame& k : known_frames()) {
    SCOPED_TRACE(k.name);
    const Parsed p = parse_frame(k.frame);
    EXPECT_EQ(p.malformed(), k.drop.has_value()) << p.describe();
    if (k.drop) {
      EXPECT_EQ(reason_name(p.drop_reason), reason_name(*k.drop));
    }
    EXPECT_EQ(slot_name(p.slot), slot_name(k.slot));
  }
}

TEST(ReferenceModel, StaticRoutingOutcomes) {
  const RoutingModel m = static_routing(10, 11);
  auto outcome = [&m](std::string_view dst, std::size_t payload) {
    const auto f = FrameBuilder()
                       .eth(kPort0Mac, kHostAMac)
                       .ipv4({.src = ipv4("198.18.1.2"), .dst = ipv4(dst)})
                       .udp({})
                       .payload(payload)
                       .build();
    return predict(parse_frame(f), f, RouteSource::kStatic, m);
  };
  auto reason = [&](std::string_view dst, std::size_t payload = 0) {
    return names(outcome(dst, payload).reasons);
  };
  EXPECT_EQ(reason("198.18.2.2"), "fwd_redirect");
  EXPECT_EQ(outcome("198.18.2.2", 0).dmac, kHostBMac);
  EXPECT_EQ(outcome("198.18.2.2", 0).smac, kPort1Mac);
  EXPECT_EQ(outcome("198.18.2.200", 0).dmac, kHostAMac) << "the /25 is longer than the /24";
  EXPECT_EQ(reason("198.18.2.200", 1400 - 28), "fwd_redirect") << "1400 bytes fit port 0's MTU";
  EXPECT_EQ(reason("198.18.2.200", 1400 - 27), "pass_frag_needed");
  EXPECT_EQ(reason("198.18.2.1"), "pass_local_dest");
  EXPECT_EQ(reason("198.18.3.9"), "pass_no_neigh");
  EXPECT_EQ(reason("198.18.4.9"), "pass_egress_not_port");
  EXPECT_EQ(reason("198.18.5.9"), "pass_egress_not_port") << "a port that left tx_ports";
  EXPECT_EQ(reason("198.18.6.9"), "pass_no_neigh") << "nexthop id without an entry";
  EXPECT_EQ(reason("198.19.0.1"), "pass_no_route");
  EXPECT_EQ(reason("239.1.2.3"), "pass_multicast");
  EXPECT_EQ(reason("255.255.255.255"), "pass_multicast");
}

TEST(ReferenceModel, ForwardRewriteCheck) {
  const Ipv4Fields ip{.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2"), .ttl = 64};
  Ipv4Fields decremented = ip;
  decremented.ttl = 63;
  const auto in = FrameBuilder().eth(kPort0Mac, kHostAMac).ipv4(ip).udp({}).build();
  const auto out = FrameBuilder().eth(kHostBMac, kPort1Mac).ipv4(decremented).udp({}).build();
  const Parsed p = parse_frame(in);
  EXPECT_EQ(check_forward_rewrite(in, out, p), std::nullopt);
  EXPECT_NE(check_forward_rewrite(in, in, p), std::nullopt) << "TTL not decremented";
  auto wrong_checksum = out;
  wrong_checksum[24] ^= 1;
  EXPECT_NE(check_forward_rewrite(in, wrong_checksum, p), std::nullopt);
  auto payload_changed = out;
  payload_changed.back() ^= 1;
  EXPECT_NE(check_forward_rewrite(in, payload_changed, p), std::nullopt);
}

TEST(FrameGenerator, FramesDependOnlyOnSeedStreamAndIndex) {
  const AddressPool pool = address_pool();
  auto frame = [&pool](uint64_t seed, uint64_t stream, uint64_t index) {
    Rng rng(frame_seed(seed, stream, index));
    return generate_frame(rng, pool).bytes;
  };
  EXPECT_EQ(frame(7, 1, 123), frame(7, 1, 123));
  EXPECT_NE(frame(7, 1, 123), frame(7, 1, 124));
  EXPECT_NE(frame(7, 1, 123), frame(7, 2, 123));
  EXPECT_NE(frame(7, 1, 123), frame(8, 1, 123));
  for (uint64_t i = 0; i < 2000; ++i) {
    const auto f = frame(7, 1, i);
    ASSERT_GE(f.size(), kMinFrame);
    ASSERT_LE(f.size(), kMaxLinearFrame);
  }
}

// ---- the fuzz runs -----------------------------------------------------------------------

TEST_F(PacketFuzz, RouteSourceNone) {
  set_route_source(*dp_, XDPGW_ROUTE_NONE);
  const RoutingModel no_routing;
  Campaign c{.name = "route source none",
             .source = RouteSource::kNone,
             .stream = 1,
             .routing = &no_routing,
             .pool = &pool_,
             .ingress_ifindex = 0,
             .port_macs = {},
             .must_reach = parse_reasons()};
  c.must_reach.insert(XDPGW_R_PASS_ROUTING_OFF);
  FuzzRunner(*dp_, c, params_).run();
}

TEST_F(RoutedPacketFuzz, StaticRoutes) {
  set_route_source(*dp_, XDPGW_ROUTE_STATIC);
  Campaign c = campaign("static routes", RouteSource::kStatic, 2);
  c.must_reach = parse_reasons();
  c.must_reach.insert({XDPGW_R_FWD_REDIRECT, XDPGW_R_PASS_IPV4_FRAGMENT,
                       XDPGW_R_PASS_IPV6_FRAGMENT, XDPGW_R_PASS_IPV4_OPTIONS,
                       XDPGW_R_PASS_IPV6_HOP_BY_HOP, XDPGW_R_PASS_TTL_EXCEEDED,
                       XDPGW_R_PASS_LOCAL_DEST, XDPGW_R_PASS_MULTICAST, XDPGW_R_PASS_LINK_LOCAL,
                       XDPGW_R_PASS_NO_ROUTE, XDPGW_R_PASS_NO_NEIGH, XDPGW_R_PASS_FRAG_NEEDED,
                       XDPGW_R_PASS_EGRESS_NOT_PORT, XDPGW_R_PASS_VLAN_TAGGED});
  auto in = gw_.enter();  // ingress_ifindex is looked up in this namespace
  FuzzRunner(*dp_, c, params_).run();
}

TEST_F(RoutedPacketFuzz, KernelFib) {
  set_route_source(*dp_, XDPGW_ROUTE_FIB);
  Campaign c = campaign("kernel fib", RouteSource::kFib, 3);
  c.must_reach = parse_reasons();
  c.must_reach.insert({XDPGW_R_FWD_REDIRECT, XDPGW_R_PASS_NO_ROUTE, XDPGW_R_PASS_NO_NEIGH,
                       XDPGW_R_PASS_LOCAL_DEST, XDPGW_R_PASS_TTL_EXCEEDED});
  auto in = gw_.enter();  // bpf_fib_lookup uses this namespace's tables
  FuzzRunner(*dp_, c, params_).run();
}

}  // namespace
}  // namespace xdpgw::test::fuzz
