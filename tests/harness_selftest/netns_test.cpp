#include <gtest/gtest.h>

#include <net/if.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test {
namespace {

ino_t inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

ino_t current_netns_inode() { return inode_of("/proc/thread-self/ns/net"); }

bool listed_by_ip(const std::string& name) {
  const std::string list = run_ok("ip netns list");
  return list.find(name + " ") != std::string::npos || list.find(name + "\n") != std::string::npos;
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// ---- Netns ----

TEST(Netns, ExistsForItsLifetimeOnly) {
  std::string name;
  {
    Netns ns;
    name = ns.name();
    EXPECT_TRUE(name.starts_with(run_prefix() + "-")) << name;
    EXPECT_TRUE(std::filesystem::exists(ns.path()));
    EXPECT_TRUE(listed_by_ip(name));
  }
  EXPECT_FALSE(std::filesystem::exists("/run/netns/" + name));
  EXPECT_FALSE(listed_by_ip(name));
}

TEST(Netns, ExecRunsInsideTheNamespace) {
  Netns ns;
  // The whole pipeline runs inside: only lo is there.
  EXPECT_EQ(trim(ns.exec_ok("ip -o link show | wc -l")), "1");
  EXPECT_EQ(trim(ns.exec_ok("readlink /proc/self/ns/net")),
            "net:[" + std::to_string(inode_of(ns.path())) + "]");
  EXPECT_EQ(ns.exec("exit 4").exit_status, 4);
  EXPECT_THROW(ns.exec_ok("false"), std::runtime_error);
}

TEST(Netns, LoopbackIsUp) {
  Netns ns;
  EXPECT_TRUE(ns.exec("ping -c1 -W1 127.0.0.1").ok());
  EXPECT_TRUE(ns.exec("ping -c1 -W1 ::1").ok());
}

TEST(Netns, MoveTransfersOwnership) {
  std::string name;
  {
    Netns first;
    name = first.name();
    Netns second = std::move(first);
    EXPECT_TRUE(first.name().empty());
    EXPECT_EQ(second.name(), name);
    Netns third;
    const std::string replaced = third.name();
    third = std::move(second);
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + replaced));  // assignment freed it
    EXPECT_TRUE(std::filesystem::exists("/run/netns/" + name));
  }
  EXPECT_FALSE(std::filesystem::exists("/run/netns/" + name));
}

TEST(Netns, SysctlChangesOnlyThisNamespace) {
  Netns ns;
  Netns other;
  std::ifstream host_file("/proc/sys/net/ipv4/ip_forward");
  std::string host_before;
  host_file >> host_before;

  const std::string flipped = host_before == "1" ? "0" : "1";
  ns.sysctl("net.ipv4.ip_forward", flipped);
  ns.sysctl("net/ipv6/conf/all/forwarding", "1");

  EXPECT_EQ(trim(ns.exec_ok("cat /proc/sys/net/ipv4/ip_forward")), flipped);
  EXPECT_EQ(trim(ns.exec_ok("cat /proc/sys/net/ipv6/conf/all/forwarding")), "1");
  EXPECT_EQ(trim(other.exec_ok("cat /proc/sys/net/ipv6/conf/all/forwarding")), "0");
  std::ifstream host_after_file("/proc/sys/net/ipv4/ip_forward");
  std::string host_after;
  host_after_file >> host_after;
  EXPECT_EQ(host_after, host_before);
  EXPECT_THROW(ns.sysctl("net.ipv4.no_such_key", "1"), std::runtime_error);
}

// ---- NetnsGuard ----

TEST(NetnsGuard, EntersAndRestoresTheOriginalNamespace) {
  Netns outer;
  Netns inner;
  const ino_t original = current_netns_inode();
  ASSERT_NE(original, 0u);
  {
    NetnsGuard in_outer = outer.enter();
    EXPECT_EQ(current_netns_inode(), inode_of(outer.path()));
    EXPECT_EQ(::if_nametoindex("lo"), 1u);  // lo of a fresh namespace
    {
      NetnsGuard in_inner = inner.enter();
      EXPECT_EQ(current_netns_inode(), inode_of(inner.path()));
    }
    EXPECT_EQ(current_netns_inode(), inode_of(outer.path()));
  }
  EXPECT_EQ(current_netns_inode(), original);
}

TEST(NetnsGuard, MovedGuardRestoresOnce) {
  Netns ns;
  const ino_t original = current_netns_inode();
  {
    std::optional<NetnsGuard> holder;
    NetnsGuard guard = ns.enter();
    holder.emplace(std::move(guard));
    EXPECT_EQ(current_netns_inode(), inode_of(ns.path()));
  }
  EXPECT_EQ(current_netns_inode(), original);
}

TEST(NetnsGuard, MovesOnlyTheCallingThread) {
  Netns ns;
  const ino_t original = current_netns_inode();
  std::promise<void> guard_taken;
  std::promise<ino_t> other_thread_netns;
  // Started before the guard, so it cannot simply inherit the namespace.
  std::thread other([&] {
    guard_taken.get_future().wait();
    other_thread_netns.set_value(current_netns_inode());
  });
  ino_t seen_by_other_thread = 0;
  {
    NetnsGuard inside = ns.enter();
    guard_taken.set_value();
    seen_by_other_thread = other_thread_netns.get_future().get();
    EXPECT_EQ(current_netns_inode(), inode_of(ns.path()));
  }
  other.join();
  EXPECT_EQ(seen_by_other_thread, original);
}

TEST(NetnsGuard, ThrowsForMissingNamespace) {
  const ino_t original = current_netns_inode();
  EXPECT_THROW(NetnsGuard("/run/netns/xgt-does-not-exist"), std::system_error);
  EXPECT_EQ(current_netns_inode(), original);
}

// ---- VethPair ----

class VethPairTest : public ::testing::Test {
 protected:
  Netns left_{"l"};
  Netns right_{"r"};
};

TEST_F(VethPairTest, EndsHaveOptionsAndArePingableOverIpv4AndIpv6) {
  VethPair veth(left_, right_,
                {.a = {.mac = mac("02:00:00:00:0a:01"),
                       .addresses = {"198.18.0.1/24", "2001:2::1/64"}},
                 .b = {.mac = mac("02:00:00:00:0b:01"),
                       .addresses = {"198.18.0.2/24", "2001:2::2/64"}},
                 .mtu = 1400});
  EXPECT_LE(veth.name_a().size(), kMaxIfnameLength);
  EXPECT_LE(veth.name_b().size(), kMaxIfnameLength);
  EXPECT_NE(veth.name_a(), veth.name_b());
  EXPECT_EQ(veth.a().netns, left_.name());
  EXPECT_EQ(veth.b().netns, right_.name());
  EXPECT_EQ(veth.mac_a(), mac("02:00:00:00:0a:01"));
  EXPECT_EQ(veth.mac_b(), mac("02:00:00:00:0b:01"));
  // ip netns exec mounts this namespace's /sys: an independent view.
  EXPECT_EQ(trim(left_.exec_ok("cat /sys/class/net/" + veth.name_a() + "/ifindex")),
            std::to_string(veth.ifindex_a()));
  EXPECT_EQ(trim(right_.exec_ok("cat /sys/class/net/" + veth.name_b() + "/ifindex")),
            std::to_string(veth.ifindex_b()));
  EXPECT_EQ(trim(right_.exec_ok("cat /sys/class/net/" + veth.name_b() + "/address")),
            "02:00:00:00:0b:01");
  EXPECT_EQ(trim(left_.exec_ok("cat /sys/class/net/" + veth.name_a() + "/mtu")), "1400");
  EXPECT_EQ(trim(right_.exec_ok("cat /sys/class/net/" + veth.name_b() + "/mtu")), "1400");

  EXPECT_TRUE(left_.exec("ping -c1 -W1 198.18.0.2").ok());
  EXPECT_TRUE(right_.exec("ping -c1 -W1 198.18.0.1").ok());
  EXPECT_TRUE(left_.exec("ping -c1 -W1 2001:2::2").ok());
  EXPECT_TRUE(right_.exec("ping -c1 -W1 2001:2::1").ok());
}

TEST_F(VethPairTest, KernelChosenMacsAreReported) {
  VethPair veth(left_, right_);
  EXPECT_NE(veth.mac_a(), MacAddr{});
  EXPECT_EQ(trim(left_.exec_ok("cat /sys/class/net/" + veth.name_a() + "/address")),
            to_string(veth.mac_a()));
  EXPECT_EQ(query_interface(right_, veth.name_b()).mac, veth.mac_b());
}

TEST_F(VethPairTest, DeletedWithTheObject) {
  std::string a, b;
  {
    VethPair veth(left_, right_);
    a = veth.name_a();
    b = veth.name_b();
    EXPECT_TRUE(left_.exec("ip link show dev " + a).ok());
    EXPECT_TRUE(right_.exec("ip link show dev " + b).ok());
  }
  EXPECT_FALSE(left_.exec("ip link show dev " + a).ok());
  EXPECT_FALSE(right_.exec("ip link show dev " + b).ok());
}

TEST_F(VethPairTest, SameNamespaceOnBothEnds) {
  VethPair veth(left_, left_);
  EXPECT_TRUE(left_.exec("ip link show dev " + veth.name_a()).ok());
  EXPECT_TRUE(left_.exec("ip link show dev " + veth.name_b()).ok());
}

TEST(VethPair, ToleratesNamespacesDeletedFirst) {
  std::optional<Netns> left(std::in_place, "l");
  std::optional<Netns> right(std::in_place, "r");
  std::optional<VethPair> veth(std::in_place, *left, *right);
  const std::string b = veth->name_b();
  left.reset();  // takes end A and with it end B
  // The kernel dismantles a deleted namespace asynchronously (cleanup_net).
  bool b_gone = false;
  for (int attempt = 0; attempt < 50 && !b_gone; ++attempt) {
    b_gone = !right->exec("ip link show dev " + b).ok();
    if (!b_gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(b_gone);
  ::testing::internal::CaptureStderr();
  veth.reset();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(VethPair, MoveTransfersOwnership) {
  Netns left("l");
  Netns right("r");
  VethPair first(left, right);
  const std::string a = first.name_a();
  std::optional<VethPair> second(std::in_place, std::move(first));
  EXPECT_TRUE(first.name_a().empty());
  EXPECT_EQ(second->name_a(), a);
  second.reset();
  EXPECT_FALSE(left.exec("ip link show dev " + a).ok());
}

TEST(VethPair, FailedSetupLeavesNothing) {
  Netns left("l");
  Netns right("r");
  EXPECT_THROW(VethPair(left, right, {.a = {.addresses = {"not-an-address"}}}), std::runtime_error);
  EXPECT_EQ(trim(left.exec_ok("ip -o link show | wc -l")), "1");
  EXPECT_EQ(trim(right.exec_ok("ip -o link show | wc -l")), "1");
}

}  // namespace
}  // namespace xdpgw::test
