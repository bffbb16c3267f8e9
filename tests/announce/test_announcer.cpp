// VIP announcements through BIRD: what the include file says, how BIRD's
// replies are read, and the announcer driving a real BIRD 2 — routes appear
// and disappear in BIRD's table as VIPs become servable or not, on operator
// withdraw/restore and on shutdown; an unreachable BIRD and a config BIRD
// refuses are reported, retried and never crash or block the daemon.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <functional>

#include "announce/announcer.hpp"
#include "announce/bird.hpp"
#include "harness/bird.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"

namespace xdpgw::announce {
namespace {

using namespace std::chrono_literals;
using test::BirdDaemon;

config::IpAddr addr(std::string_view text) { return *config::IpAddr::parse(text); }

TEST(BirdInclude, RendersEachFamilyAsAStaticProtocolOfBlackholeHostRoutes) {
  const std::string text =
      render_include("gw-1", "/run/xdpgw/bird/gw-1.conf", protocol_names("xdpgw_gw_1"),
                     {addr("198.18.100.1"), addr("2001:2:0:100::1"), addr("198.18.100.2")});
  EXPECT_NE(text.find("include \"/run/xdpgw/bird/gw-1.conf\";"), std::string::npos) << text;
  EXPECT_NE(text.find("protocol static xdpgw_gw_1_v4 {\n\tipv4;\n"
                      "\troute 198.18.100.1/32 blackhole;\n"
                      "\troute 198.18.100.2/32 blackhole;\n}\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("protocol static xdpgw_gw_1_v6 {\n\tipv6;\n"
                      "\troute 2001:2:0:100::1/128 blackhole;\n}\n"),
            std::string::npos)
      << text;
  // Nothing to announce is still a valid file: both protocols, no routes.
  const std::string empty = render_include("gw-1", "/x.conf", protocol_names("p"), {});
  EXPECT_NE(empty.find("protocol static p_v4 {\n\tipv4;\n}\nprotocol static p_v6 {\n\tipv6;\n}\n"),
            std::string::npos)
      << empty;
}

TEST(BirdReply, ReadsContinuationLinesUntilTheFinalCode) {
  BirdReplyReader reader;
  EXPECT_FALSE(reader.feed("0002-Reading configuration from /etc/bird/bird.conf"));
  EXPECT_TRUE(reader.feed("0003 Reconfigured"));
  EXPECT_EQ(reader.reply().code, 3);
  EXPECT_EQ(reader.reply().text, "Reading configuration from /etc/bird/bird.conf; Reconfigured");
  EXPECT_TRUE(configure_accepted(reader.reply()));

  BirdReplyReader error;
  EXPECT_FALSE(error.feed("0002-Reading configuration from bird.conf"));
  EXPECT_TRUE(error.feed("8002 /run/xdpgw/bird/a.conf:8:1 syntax error, unexpected GARBAGE"));
  EXPECT_EQ(error.reply().code, 8002);
  EXPECT_FALSE(configure_accepted(error.reply()));

  BirdReplyReader table;
  EXPECT_FALSE(table.feed("1007-Table master4:"));
  EXPECT_FALSE(table.feed(" 198.18.100.1/32      blackhole [p_v4 17:27:10.285] * (200)"));
  EXPECT_TRUE(table.feed("0000 "));
  EXPECT_EQ(table.reply().code, 0);

  BirdReplyReader junk;
  EXPECT_THROW(junk.feed("HTTP/1.1 400 Bad Request"), std::runtime_error);
  EXPECT_THROW(junk.feed("12"), std::runtime_error);
}

// A real BIRD whose config includes the announcer's file, as an operator's
// bird.conf would, with `extra` appended.
class AnnouncerBird : public ::testing::Test {
 protected:
  AnnouncerBird() {
    std::filesystem::create_directories(dir_);
    settings_.enabled = true;
    settings_.include = (dir_ / "vips.conf").string();
    settings_.protocol = "xdpgw_test";
    settings_.withdraw_grace_ms = 0;
    settings_.bird_socket = (dir_ / "bird.ctl").string();
  }
  ~AnnouncerBird() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // BIRD refuses to start on a missing include: the operator's setup (or
  // the daemon's first write) creates it; here an empty announcement does.
  void start_bird() {
    write_file_atomically(settings_.include,
                          render_include("t", settings_.include, protocol_names("xdpgw_test"), {}));
    bird_.emplace(ns_, fmt::format("router id 198.18.0.1;\ninclude \"{}\";\n", settings_.include),
                  settings_.bird_socket);
  }

  // Runs the io_context until `done` holds (bounded).
  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "gave up waiting";
      io_.restart();
      io_.run_for(20ms);
    }
  }

  std::string routes() const { return bird_->birdc("show route"); }

  test::Netns ns_{"bird"};
  std::filesystem::path dir_ = std::filesystem::temp_directory_path() / test::unique_name("announce");
  config::Announce settings_;
  std::optional<BirdDaemon> bird_;
  boost::asio::io_context io_;
};

std::vector<VipReadiness> vips(bool web_servable) {
  return {{"web", addr("198.18.100.1"), web_servable, ""},
          {"web6", addr("2001:2:0:100::1"), true, ""},
          {"dead", addr("198.18.100.9"), false, "no usable backend"}};
}

TEST_F(AnnouncerBird, RoutesFollowWhatIsServableAndTheOperator) {
  start_bird();
  Announcer announcer(io_, "t", settings_);
  announcer.update(vips(true));
  run_until([&] { return announcer.status().at("in_sync").get<bool>(); });
  std::string table = routes();
  EXPECT_NE(table.find("198.18.100.1/32"), std::string::npos) << table;
  EXPECT_NE(table.find("2001:2:0:100::1/128"), std::string::npos) << table;
  EXPECT_EQ(table.find("198.18.100.9"), std::string::npos) << "not servable, yet announced:\n" << table;

  // The last backend of "web" went down.
  announcer.update(vips(false));
  run_until([&] { return announcer.status().at("in_sync").get<bool>(); });
  table = routes();
  EXPECT_EQ(table.find("198.18.100.1/32"), std::string::npos) << table;
  EXPECT_NE(table.find("2001:2:0:100::1/128"), std::string::npos) << table;

  // Maintenance: everything goes, and comes back on restore.
  announcer.set_withdrawn(true);
  run_until([&] { return announcer.status().at("in_sync").get<bool>(); });
  table = routes();
  EXPECT_EQ(table.find("2001:2:0:100::1/128"), std::string::npos) << table;
  EXPECT_TRUE(announcer.status().at("withdrawn").get<bool>());
  announcer.set_withdrawn(false);
  announcer.update(vips(true));
  run_until([&] { return announcer.status().at("in_sync").get<bool>(); });
  table = routes();
  EXPECT_NE(table.find("198.18.100.1/32"), std::string::npos) << table;

  const auto st = announcer.status();
  EXPECT_EQ(st.at("announced"), (nlohmann::json{"198.18.100.1", "2001:2:0:100::1"}));
  EXPECT_TRUE(st.at("bird").at("ok").get<bool>());
  EXPECT_EQ(st.at("bird").at("failed").get<uint64_t>(), 0u);
  // start, web down, withdraw, restore (web still down), web up again
  EXPECT_EQ(st.at("bird").at("accepted").get<uint64_t>(), 5u);
  const std::string metrics = control::render_prometheus(announcer.metrics());
  EXPECT_NE(metrics.find("xdpgw_announce_vip_announced{vip=\"web\",address=\"198.18.100.1\"} 1"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("xdpgw_announce_vip_announced{vip=\"dead\",address=\"198.18.100.9\"} 0"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("xdpgw_announce_bird_configures_total{result=\"accepted\"} 5"),
            std::string::npos) << metrics;

  // Shutdown withdraws everything before it lets the daemon go.
  bool done = false;
  announcer.withdraw_for_shutdown([&] { done = true; });
  run_until([&] { return done; });
  table = routes();
  EXPECT_EQ(table.find("198.18.100.1/32"), std::string::npos) << table;
  EXPECT_EQ(table.find("2001:2:0:100::1/128"), std::string::npos) << table;
  // Nothing announces once shutting down.
  announcer.update(vips(true));
  io_.restart();
  io_.run_for(200ms);
  EXPECT_EQ(routes().find("198.18.100.1/32"), std::string::npos);
}

TEST_F(AnnouncerBird, FirstExchangeClearsWhatACrashedPredecessorLeftAnnounced) {
  start_bird();
  // A daemon that was killed left its last announcement in the file and BIRD.
  write_file_atomically(settings_.include, render_include("t", settings_.include,
                                                          protocol_names("xdpgw_test"),
                                                          {addr("198.18.100.1")}));
  bird_->birdc("configure");
  ASSERT_NE(routes().find("198.18.100.1/32"), std::string::npos);
  // Its successor starts with nothing servable yet (health unknown).
  Announcer announcer(io_, "t", settings_);
  announcer.update({{"web", addr("198.18.100.1"), false, "waiting for the first health checks"}});
  run_until([&] { return announcer.status().at("in_sync").get<bool>(); });
  EXPECT_EQ(routes().find("198.18.100.1/32"), std::string::npos);
}

TEST_F(AnnouncerBird, UnreachableBirdIsReportedRetriedUntilItAnswersAndDoesNotHoldUpShutdown) {
  Announcer announcer(io_, "t", settings_);
  announcer.update(vips(true));
  run_until([&] { return announcer.status().at("bird").at("failed").get<uint64_t>() >= 1; });
  auto st = announcer.status();
  EXPECT_FALSE(st.at("bird").at("ok").get<bool>());
  EXPECT_FALSE(st.at("in_sync").get<bool>());
  EXPECT_NE(st.at("bird").at("error").get<std::string>().find(settings_.bird_socket), std::string::npos)
      << st.dump();
  EXPECT_TRUE(st.at("announced").is_null());

  // BIRD comes up; the daemon's 1 s tick calls update(), which retries once
  // the backoff has passed.
  start_bird();
  run_until([&] {
    announcer.update(vips(true));
    return announcer.status().at("in_sync").get<bool>();
  });
  EXPECT_NE(routes().find("198.18.100.1/32"), std::string::npos);

  // A BIRD that is gone does not keep a stopping daemon waiting.
  bird_.reset();
  bool done = false;
  announcer.withdraw_for_shutdown([&] { done = true; });
  run_until([&] { return done; });
  EXPECT_FALSE(announcer.status().at("bird").at("ok").get<bool>());
}

TEST_F(AnnouncerBird, UnwritableIncludeIsReportedAndDoesNotHoldUpShutdown) {
  settings_.include = "/proc/xdpgw-no-such-dir/vips.conf";  // procfs takes no new files
  Announcer announcer(io_, "t", settings_);
  announcer.update(vips(true));
  const auto st = announcer.status();
  EXPECT_FALSE(st.at("bird").at("ok").get<bool>());
  EXPECT_NE(st.at("bird").at("error").get<std::string>().find("writing /proc/xdpgw-no-such-dir/vips.conf"),
            std::string::npos)
      << st.dump();
  bool done = false;
  announcer.withdraw_for_shutdown([&] { done = true; });
  EXPECT_TRUE(done);
}

TEST_F(AnnouncerBird, ConfigBirdRefusesIsReportedWithBirdsOwnErrorAndKeepsTheOldRoutes) {
  start_bird();
  Announcer announcer(io_, "t", settings_);
  announcer.update(vips(true));
  run_until([&] { return announcer.status().at("in_sync").get<bool>(); });
  // The operator's config now has a protocol of the same name as ours
  // (BIRD refuses two), so the next configure is refused as a whole.
  std::ofstream(bird_->dir() / "bird.conf", std::ios::app)
      << "protocol static xdpgw_test_v4 { ipv4; }\n";
  announcer.update(vips(false));
  run_until([&] { return announcer.status().at("bird").at("failed").get<uint64_t>() >= 1; });
  const auto st = announcer.status();
  const std::string error = st.at("bird").at("error").get<std::string>();
  EXPECT_NE(error.find("8002"), std::string::npos) << error;
  EXPECT_NE(error.find("xdpgw_test_v4"), std::string::npos) << error;
  EXPECT_FALSE(st.at("in_sync").get<bool>());
  // BIRD runs on with the config it had: "web" still announced.
  EXPECT_NE(routes().find("198.18.100.1/32"), std::string::npos);
  EXPECT_NE(format_status(st).find("NOT in sync"), std::string::npos) << format_status(st);
}

}  // namespace
}  // namespace xdpgw::announce
