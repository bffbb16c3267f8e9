#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <filesystem>
#include <optional>
#include <regex>
#include <string>

#include "common/fd.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "harness/xdp.hpp"

namespace xdpgw::test {
namespace {

TEST(UniqueName, CarriesPidTagAndCounter) {
  const std::string first = unique_name("a");
  const std::string second = unique_name("a");
  EXPECT_NE(first, second);
  EXPECT_TRUE(std::regex_match(first, std::regex("xgt" + std::to_string(::getpid()) + "-a[0-9]+")))
      << first;
  EXPECT_EQ(owner_pid(first), ::getpid());
}

TEST(UniqueIfname, FitsIfnamsizWithReserveEvenForLongTags) {
  for (std::size_t reserve : {0, 1, 3}) {
    const std::string name = unique_ifname("averyveryverylongtag", reserve);
    EXPECT_LE(name.size() + reserve, kMaxIfnameLength) << name;
    EXPECT_TRUE(name.starts_with(run_prefix() + "a")) << name;
    EXPECT_EQ(owner_pid(name), ::getpid()) << name;
  }
  EXPECT_NE(unique_ifname(), unique_ifname());
}

TEST(UniqueIfname, RejectsTagsThatHidePidOrAreNotNames) {
  EXPECT_THROW(unique_ifname("1x"), std::invalid_argument);
  EXPECT_THROW(unique_ifname(""), std::invalid_argument);
  EXPECT_THROW(unique_ifname("a-b"), std::invalid_argument);
  EXPECT_THROW(unique_ifname("v", 14), std::length_error);
}

TEST(OwnerPid, ParsesHarnessNamesOnly) {
  EXPECT_EQ(owner_pid("xgt1234-a3"), 1234);
  EXPECT_EQ(owner_pid("xgt1234v3a"), 1234);
  EXPECT_EQ(owner_pid("xgt1234"), 1234);
  EXPECT_EQ(owner_pid("xgt"), std::nullopt);
  EXPECT_EQ(owner_pid("xgtabc"), std::nullopt);
  EXPECT_EQ(owner_pid("xgt-12"), std::nullopt);
  EXPECT_EQ(owner_pid("xgt0123-a"), std::nullopt);
  EXPECT_EQ(owner_pid("xdpgw"), std::nullopt);
  EXPECT_EQ(owner_pid("abcxgt1234"), std::nullopt);
  EXPECT_EQ(owner_pid("xgt99999999999999999999-a"), std::nullopt);  // overflow
}

// A pid that is certainly not running: a child we started and reaped.
pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

bool netns_listed(const std::string& name) {
  return std::filesystem::exists("/run/netns/" + name);
}

// Deletes, at scope exit, whatever the test created by hand, so a failing
// assertion does not leave it behind.
struct ManualCleanup {
  std::vector<std::string> netns;
  std::vector<std::filesystem::path> pins;
  ~ManualCleanup() {
    for (const auto& name : netns) run_cmd("ip netns del " + name);
    std::error_code ec;
    for (const auto& pin : pins) std::filesystem::remove_all(pin, ec);
  }
};

TEST(CleanupLeftovers, RemovesObjectsOfDeadRunsOnly) {
  const pid_t dead = dead_pid();
  ASSERT_NE(::kill(dead, 0), 0);

  ManualCleanup cleanup;
  const std::string dead_netns = "xgt" + std::to_string(dead) + "-x";
  const std::string unrelated_netns = "xgtnopid" + std::to_string(dead);
  cleanup.netns = {dead_netns, unrelated_netns};
  run_ok("ip netns add " + dead_netns);
  run_ok("ip netns add " + unrelated_netns);
  Netns live("live");  // named with our (running) pid

  const std::filesystem::path dead_pins =
      std::filesystem::path(kBpffsRoot) / ("xgt" + std::to_string(dead) + "-p");
  cleanup.pins = {dead_pins};
  ASSERT_EQ(::mkdir(dead_pins.c_str(), 0700), 0);
  // A pinned map inside: removal must unlink pins, not just rmdir.
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xgt_leftover", 4, 4, 1, nullptr));
  ASSERT_TRUE(map);
  ASSERT_EQ(bpf_obj_pin(map.get(), (dead_pins / "map").c_str()), 0);
  PinDir live_pins("p");

  cleanup_leftovers();

  EXPECT_FALSE(netns_listed(dead_netns));
  EXPECT_TRUE(netns_listed(unrelated_netns));
  EXPECT_TRUE(netns_listed(live.name()));
  EXPECT_FALSE(std::filesystem::exists(dead_pins));
  EXPECT_TRUE(std::filesystem::exists(live_pins.path()));
}

}  // namespace
}  // namespace xdpgw::test
