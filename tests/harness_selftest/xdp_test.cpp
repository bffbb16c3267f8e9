#include <gtest/gtest.h>

#include <linux/magic.h>
#include <sys/statfs.h>

#include <array>
#include <filesystem>
#include <optional>
#include <string>

#include <bpf/bpf.h>

#include "common/fd.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"
#include "insns.hpp"

namespace xdpgw::test {
namespace {

// `ip link show` prints " xdp " for a native attachment (xdpgeneric for skb
// mode) and a "prog/xdp id N" line while a program is attached.
bool native_xdp_attached(const Netns& ns, const std::string& ifname) {
  const std::string out = ns.exec_ok("ip link show dev " + ifname);
  return out.find(" xdp ") != std::string::npos && out.find("prog/xdp") != std::string::npos;
}

bool any_xdp_attached(const Netns& ns, const std::string& ifname) {
  return ns.exec_ok("ip link show dev " + ifname).find("prog/xdp") != std::string::npos;
}

class XdpTest : public ::testing::Test {
 protected:
  Netns left_{"l"};
  Netns right_{"r"};
  VethPair veth_{left_, right_,
                 {.a = {.addresses = {"198.18.0.1/24"}}, .b = {.addresses = {"198.18.0.2/24"}}}};
};

TEST_F(XdpTest, AttachesInNativeModeAndDetaches) {
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  {
    XdpAttachment attached(left_, veth_.ifindex_a(), pass.get());
    EXPECT_EQ(attached.ifindex(), veth_.ifindex_a());
    EXPECT_EQ(attached.netns(), left_.name());
    EXPECT_TRUE(native_xdp_attached(left_, veth_.name_a()));
    EXPECT_FALSE(any_xdp_attached(right_, veth_.name_b()));
  }
  EXPECT_FALSE(any_xdp_attached(left_, veth_.name_a()));
}

TEST_F(XdpTest, DropProgramReallyRunsOnTheInterface) {
  ASSERT_TRUE(right_.exec("ping -c1 -W1 198.18.0.1").ok());
  UniqueFd drop = load_constant_xdp_prog(XDP_DROP);
  {
    XdpAttachment attached(left_, veth_.name_a(), drop.get());
    drop.reset();  // the attachment keeps the program alive
    EXPECT_FALSE(right_.exec("ping -c1 -W1 198.18.0.1").ok());
  }
  EXPECT_TRUE(right_.exec("ping -c1 -W1 198.18.0.1").ok());
}

TEST_F(XdpTest, MoveTransfersTheDetach) {
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  std::optional<XdpAttachment> moved;
  {
    XdpAttachment attached(left_, veth_.name_a(), pass.get());
    moved.emplace(std::move(attached));
  }
  EXPECT_TRUE(any_xdp_attached(left_, veth_.name_a()));
  moved.reset();
  EXPECT_FALSE(any_xdp_attached(left_, veth_.name_a()));
}

TEST(XdpAttachment, ToleratesInterfaceAndNamespaceDeletedFirst) {
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  std::optional<Netns> left(std::in_place, "l");
  Netns right("r");
  std::optional<VethPair> veth(std::in_place, *left, right);
  std::optional<XdpAttachment> on_a(std::in_place, *left, veth->ifindex_a(), pass.get());
  std::optional<XdpAttachment> on_b(std::in_place, right, veth->ifindex_b(), pass.get());
  left.reset();  // deletes end A's namespace, the pair, and with it end B
  ::testing::internal::CaptureStderr();
  on_a.reset();
  on_b.reset();
  veth.reset();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(XdpTest, FailuresNameTheCall) {
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  try {
    XdpAttachment attached(left_, 999999, pass.get());
    FAIL() << "attached to a missing interface";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("bpf_xdp_attach"), std::string::npos) << e.what();
  }
  EXPECT_THROW(XdpAttachment(left_, std::string("nosuchif"), pass.get()), std::system_error);
  // The interface lives in left_, not in right_.
  EXPECT_THROW(XdpAttachment(right_, veth_.name_a(), pass.get()), std::system_error);
}

TEST(LoadXdpInsns, ReportsTheVerifierLog) {
  // No exit instruction: the verifier must refuse it.
  const std::array<bpf_insn, 1> no_exit = {insn::mov64_imm(BPF_REG_0, XDP_PASS)};
  try {
    load_xdp_insns(no_exit, "xgt_bad");
    FAIL() << "verifier accepted a program without exit";
  } catch (const std::system_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("verifier log"), std::string::npos) << what;
    EXPECT_NE(what.find("xgt_bad"), std::string::npos) << what;
  }
}

TEST(Bpffs, MountedAndIdempotent) {
  ensure_bpffs_mounted();
  ensure_bpffs_mounted();
  struct statfs fs {};
  ASSERT_EQ(::statfs(std::string(kBpffsRoot).c_str(), &fs), 0);
  EXPECT_EQ(fs.f_type, BPF_FS_MAGIC);
}

TEST(PinDir, RemovedWithItsPins) {
  std::filesystem::path path;
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xgt_pin_test", 4, 8, 1, nullptr));
  ASSERT_TRUE(map);
  {
    PinDir pins;
    path = pins.path();
    EXPECT_TRUE(path.filename().string().starts_with(run_prefix() + "-")) << path;
    EXPECT_EQ(path.parent_path(), std::filesystem::path(kBpffsRoot));
    EXPECT_TRUE(std::filesystem::is_directory(path));
    ASSERT_EQ(bpf_obj_pin(map.get(), pins.pin_path("counters").c_str()), 0);
    std::filesystem::create_directory(path / "sub");
    ASSERT_EQ(bpf_obj_pin(map.get(), (path / "sub" / "again").c_str()), 0);
    UniqueFd reopened(bpf_obj_get(pins.pin_path("counters").c_str()));
    EXPECT_TRUE(reopened);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(PinDir, MoveTransfersRemoval) {
  std::optional<PinDir> moved;
  std::filesystem::path path;
  {
    PinDir pins("mv");
    path = pins.path();
    moved.emplace(std::move(pins));
    EXPECT_TRUE(pins.path().empty());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  moved.reset();
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace xdpgw::test
