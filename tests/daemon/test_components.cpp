// Components of the daemon tested without the others (gateway/daemon/).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <net/if.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/kernel_watch.hpp"
#include "daemon/periodic.hpp"
#include "daemon/pipeline_supervisor.hpp"
#include "daemon/reload_rules.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include <nlohmann/json.hpp>

namespace xdpgw::daemon {
namespace {

using namespace std::chrono_literals;

// Runs the loop until `done` holds; the cap only ends a test that would
// otherwise hang (it is no bound on how fast anything must happen).
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  const auto cap = std::chrono::steady_clock::now() + 20s;
  while (!done() && std::chrono::steady_clock::now() < cap) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

TEST(Periodic, AFailingJobIsCountedUnderItsNameAndRunsAgain) {
  boost::asio::io_context io;
  int calls = 0;
  Periodic job(io, "flaky", 1ms, [&] {
    if (++calls % 2 == 1) throw std::runtime_error(fmt::format("failure {}", calls));
  });
  job.start();
  ASSERT_TRUE(run_until(io, [&] { return calls >= 4; }));
  EXPECT_EQ(job.runs(), static_cast<uint64_t>(calls));
  EXPECT_EQ(job.failures(), static_cast<uint64_t>((calls + 1) / 2));
  EXPECT_NE(job.last_error().find("failure"), std::string::npos);
  const auto families = periodic_metrics({&job});
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[1].name, "xdpgw_daemon_job_failures_total");
  ASSERT_EQ(families[1].samples.size(), 1u);
  EXPECT_EQ(families[1].samples[0].labels.at(0).second, "flaky");
}

TEST(Periodic, RunNowRunsAtOnceAndNotBeforeStart) {
  boost::asio::io_context io;
  int calls = 0;
  Periodic job(io, "once", 1h, [&] { ++calls; });
  io.run_for(10ms);
  EXPECT_EQ(calls, 0) << "not started";
  job.run_now();
  EXPECT_EQ(calls, 1);
}

TEST(RetryBackoff, DoublesFromOneSecondToAMinuteAndResets) {
  RetryBackoff b;
  const auto t0 = RetryBackoff::Clock::time_point{} + 1h;
  EXPECT_TRUE(b.due(t0));
  std::vector<std::chrono::seconds> waits;
  auto now = t0;
  for (int i = 0; i < 8; ++i) {
    b.failed(now);
    auto next = now;
    while (!b.due(next)) next += 1s;
    waits.push_back(std::chrono::duration_cast<std::chrono::seconds>(next - now));
    now = next;
  }
  EXPECT_EQ(waits, (std::vector<std::chrono::seconds>{1s, 2s, 4s, 8s, 16s, 32s, 60s, 60s}));
  EXPECT_EQ(b.failures(), 8u);
  b.failed(now);
  EXPECT_FALSE(b.due(now + 59s));
  b.reset();
  EXPECT_TRUE(b.due(now));
}

TEST(ReloadRules, WhatIsBoundAtStartNeedsARestartAndNamesItsKey) {
  config::Config running;
  running.gateway.instance = "a";
  auto refused = [&](auto change, std::string_view key) {
    config::Config next = running;
    change(next);
    const auto why = needs_restart(running, next, "gw.toml");
    ASSERT_TRUE(why) << key;
    EXPECT_NE(why->find(key), std::string::npos) << *why;
    EXPECT_EQ(why->rfind("gw.toml: ", 0), 0u) << *why;
  };
  refused([](config::Config& c) { c.gateway.instance = "b"; }, "gateway.instance");
  refused([](config::Config& c) { c.gateway.netns = "other"; }, "gateway.netns");
  refused([](config::Config& c) { c.lb.conn_table_size *= 2; }, "lb.conn_table_size");
  refused([](config::Config& c) { c.lb.embryonic_table_size *= 2; }, "lb.embryonic_table_size");
  refused([](config::Config& c) { c.control.socket = "/run/elsewhere.sock"; }, "[control]");

  config::Config next = running;
  next.control.log_level = "debug";
  EXPECT_FALSE(needs_restart(running, next, "gw.toml")) << "the log level is the daemon's own";
  EXPECT_TRUE(same_except_log_level(next, running));
  next.lb.udp_new_flows_per_prefix = 5;
  next.gateway.resync_interval_ms = 5000;
  EXPECT_FALSE(needs_restart(running, next, "gw.toml")) << "applied by a new generation";
  EXPECT_FALSE(same_except_log_level(next, running));
}

// The kernel watch in a namespace of its own: real links, addresses and
// neighbours changed with ip(8) reach it as events, and each asks for what
// it concerns.
class KernelWatchTest : public ::testing::Test {
 protected:
  struct Call {
    KernelChanges changes;
    std::string cause;
  };

  void SetUp() override { enter_.emplace(ns_.path()); }
  void TearDown() override { enter_.reset(); }

  // Runs the loop until a sync `matching` arrived since the last wait;
  // returns it. Events of one read share a sync, named by its first event.
  std::optional<Call> wait_for(boost::asio::io_context& io,
                               const std::function<bool(const Call&)>& matching) {
    std::optional<Call> found;
    run_until(io, [&] {
      for (const auto& c : calls_)
        if (matching(c)) found = c;
      return found.has_value();
    });
    calls_.clear();
    return found;
  }
  std::optional<Call> wait_for(boost::asio::io_context& io, const std::string& cause) {
    return wait_for(io, [&](const Call& c) { return c.cause == cause; });
  }

  test::Netns ns_{"kw"};
  std::optional<test::NetnsGuard> enter_;
  std::vector<Call> calls_;
};

TEST_F(KernelWatchTest, LinkAddressAndNeighbourEventsAskForWhatTheyConcern) {
  boost::asio::io_context io;
  const std::string port = test::unique_ifname("kw", 1);
  KernelWatch watch(
      io,
      [&](const KernelChanges& c, const std::string& cause) {
        calls_.push_back({c, cause});
        return false;
      },
      [&](uint32_t ifindex) -> std::optional<std::string> {
        if (ifindex != 0 && ifindex == if_nametoindex(port.c_str())) return port;
        return std::nullopt;
      },
      1h);

  ns_.exec_ok(fmt::format("ip link add {} type veth peer name {}p", port, port));
  auto link = wait_for(io, "link event");
  ASSERT_TRUE(link);
  EXPECT_TRUE(link->changes.links);

  ns_.exec_ok(fmt::format("ip link set {} up && ip addr add 198.18.0.1/24 dev {}", port, port));
  auto addr = wait_for(io, [](const Call& c) { return c.changes.addresses; });
  ASSERT_TRUE(addr);

  ns_.exec_ok(fmt::format("ip neigh replace 198.18.0.9 lladdr 02:00:00:00:00:09 dev {}", port));
  auto neigh = wait_for(io, [](const Call& c) { return c.changes.neighbours; });
  ASSERT_TRUE(neigh);
  EXPECT_EQ(neigh->cause, "neighbour event");

  ns_.exec_ok(fmt::format("ip route add 198.18.9.0/24 via 198.18.0.9 dev {}", port));
  auto route = wait_for(io, "route event");
  ASSERT_TRUE(route);
  EXPECT_TRUE(route->changes.neighbours);
  EXPECT_FALSE(route->changes.links);

  const nlohmann::json st = watch.status();
  EXPECT_GE(st.at("events").at("link").get<uint64_t>(), 1u) << st.dump();
  EXPECT_GE(st.at("events").at("neighbour").get<uint64_t>(), 1u) << st.dump();
  EXPECT_EQ(st.at("resync_repairs").get<uint64_t>(), 0u) << st.dump();
}

TEST_F(KernelWatchTest, TheResyncLooksAtEverythingAndCountsWhatEventsMissed) {
  boost::asio::io_context io;
  bool report_change = true;
  KernelWatch watch(
      io,
      [&](const KernelChanges& c, const std::string& cause) {
        calls_.push_back({c, cause});
        return std::exchange(report_change, false);
      },
      [](uint32_t) { return std::nullopt; }, 1ms);
  auto first = wait_for(io, "resync");
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->changes.links && first->changes.addresses && first->changes.neighbours);
  ASSERT_TRUE(run_until(io, [&] { return watch.resync_job().runs() >= 3; }));
  EXPECT_EQ(watch.status().at("resync_repairs").get<uint64_t>(), 1u)
      << "only the first resync found something";
}

}  // namespace
}  // namespace xdpgw::daemon
