// Shared fixture for BPF_PROG_TEST_RUN tests of the xdpgw datapath: loads the
// real object through the daemon's own loader and snapshots counters so a
// test asserts exactly which reason and handler a frame was counted under.
#pragma once

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <array>
#include <map>
#include <memory>
#include <string>

#include "datapath/abi.hpp"
#include "datapath/datapath.hpp"
#include "harness/frame.hpp"
#include "harness/prog_run.hpp"

namespace xdpgw::test {

// Packet counts of every verdict reason and handler slot at one moment.
struct CounterSnapshot {
  std::array<uint64_t, XDPGW_R_COUNT> reasons{};
  std::array<uint64_t, XDPGW_SLOT_COUNT> handlers{};

  static CounterSnapshot take(const Datapath& dp) {
    CounterSnapshot s;
    auto v = read_verdicts(dp.verdict_stats_fd());
    for (size_t r = 0; r < v.size(); ++r) s.reasons[r] = v[r].packets;
    for (uint32_t h = 0; h < XDPGW_SLOT_COUNT; ++h)
      s.handlers[h] = sum(read_percpu_counter(dp.handler_stats_fd(), h)).packets;
    return s;
  }
};

// Reasons (by name) and handlers whose counts changed between two snapshots.
struct CounterDelta {
  std::map<std::string, uint64_t> reasons;
  std::map<std::string, uint64_t> handlers;

  static CounterDelta between(const CounterSnapshot& a, const CounterSnapshot& b) {
    CounterDelta d;
    for (size_t r = 0; r < a.reasons.size(); ++r)
      if (b.reasons[r] != a.reasons[r])
        d.reasons[std::string(abi::reason_name(r))] = b.reasons[r] - a.reasons[r];
    for (size_t h = 0; h < a.handlers.size(); ++h)
      if (b.handlers[h] != a.handlers[h])
        d.handlers[std::string(abi::kSlotNames[h])] = b.handlers[h] - a.handlers[h];
    return d;
  }
};

// What one test run did: verdict, output frame, counters that moved.
struct Outcome {
  uint32_t action;
  std::vector<uint8_t> data;
  CounterDelta delta;
};

class DatapathTest : public ::testing::Test {
 protected:
  DatapathTest() : dp_(std::make_unique<Datapath>(LoadOptions{})) {}

  // Runs the dispatcher (and through it the handlers) on one frame.
  Outcome run(const std::vector<uint8_t>& frame, const TestRunOptions& opts = {}) {
    return run_prog(dp_->dispatcher_fd(), frame, opts);
  }

  Outcome run_prog(int fd, const std::vector<uint8_t>& frame,
                   const TestRunOptions& opts = {}) {
    auto before = CounterSnapshot::take(*dp_);
    auto res = prog_test_run(fd, frame, opts);
    auto after = CounterSnapshot::take(*dp_);
    return {res.action, std::move(res.data), CounterDelta::between(before, after)};
  }

  void set_route_source(uint32_t source) {
    auto s = dp_->read_settings();
    s.route_source = source;
    dp_->write_settings(s);
  }

  std::unique_ptr<Datapath> dp_;
};

using Reasons = std::map<std::string, uint64_t>;

}  // namespace xdpgw::test
