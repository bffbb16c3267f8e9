// Names for everything a test creates in the kernel (netns, interfaces, pin
// dirs), and removal of what a crashed earlier run left behind.
//
// Every name starts with "xgt<pid>" followed by a non-digit, so the owning
// process can be read back from the name: while that process runs its objects
// are left alone; once it is gone they are leftovers and cleanup_leftovers()
// removes them. Test processes running in parallel (ctest -j) therefore never
// touch each other's objects.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace xdpgw::test {

// IFNAMSIZ - 1: the kernel refuses longer interface names.
inline constexpr std::size_t kMaxIfnameLength = 15;

// "xgt<pid of the calling process>".
std::string run_prefix();

// "xgt<pid>-<tag><n>" with n unique within this process, e.g. "xgt1234-a3".
// For netns, pin dirs and other names without a length limit.
std::string unique_name(std::string_view tag);

// "xgt<pid><tag><n>", e.g. "xgt1234v3", at most kMaxIfnameLength - reserve
// characters so a caller can append `reserve` characters of its own (VethPair
// appends "a"/"b"). The tag must start with a letter (so the pid can be parsed
// back) and holds only letters and digits; it is shortened when the name would
// not fit. Throws std::length_error when even a one-letter tag does not fit.
std::string unique_ifname(std::string_view tag = "v", std::size_t reserve = 0);

// The pid encoded in a harness name ("xgt1234-a3" and "xgt1234v3a" → 1234), or
// nullopt for names the harness did not make.
std::optional<pid_t> owner_pid(std::string_view name);

// Removes network namespaces and bpffs entries (directly under /sys/fs/bpf and
// under /sys/fs/bpf/xdpgw, where gateway instances pin) whose name is a harness
// name whose owner process is no longer running. Touches nothing else. Errors
// are logged to stderr, not thrown: a leftover that cannot be removed should
// not stop the tests that follow.
void cleanup_leftovers();

// Registered by harness/main.cpp so every test executable starts by clearing
// the leftovers of earlier crashed runs.
class LeftoverCleanupEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
};

}  // namespace xdpgw::test
