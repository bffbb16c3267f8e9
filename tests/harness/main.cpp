// main() for every test executable (link xdpgw_test_main instead of
// GTest::gtest_main): mounts bpffs if needed and clears leftovers of earlier
// crashed runs before the first test.
#include <memory>

#include <gtest/gtest.h>

#include "harness/names.hpp"
#include "harness/xdp.hpp"

namespace {

// In an Environment rather than in main() so that `--gtest_list_tests` (run by
// gtest_discover_tests at build time, possibly unprivileged) touches nothing.
class BpffsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    try {
      xdpgw::test::ensure_bpffs_mounted();
    } catch (const std::exception& e) {
      // Fatal: every BPF test would fail later with a less helpful message.
      GTEST_FAIL() << "cannot mount bpffs on /sys/fs/bpf (tests must run as root): " << e.what();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // gtest takes ownership of environments; its API wants a raw pointer.
  // Registration order is SetUp order: bpffs first, then the cleanup that
  // looks inside it.
  ::testing::AddGlobalTestEnvironment(std::make_unique<BpffsEnvironment>().release());
  ::testing::AddGlobalTestEnvironment(
      std::make_unique<xdpgw::test::LeftoverCleanupEnvironment>().release());
  return RUN_ALL_TESTS();
}
