#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "harness/run.hpp"

namespace xdpgw::test {
namespace {

TEST(RunCmd, CapturesStdoutStderrAndExitStatus) {
  const CmdResult result = run_cmd("echo to-stdout; echo to-stderr >&2; exit 3");
  EXPECT_EQ(result.exit_status, 3);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.output, "to-stdout\nto-stderr\n");
}

TEST(RunCmd, ReportsDeathBySignalAs128PlusSignal) {
  EXPECT_EQ(run_cmd("kill -9 $$").exit_status, 128 + 9);
}

TEST(RunCmd, StdinIsEmpty) {
  // A command that reads stdin must not hang on the test's terminal.
  EXPECT_EQ(run_cmd("cat").output, "");
}

TEST(RunCmd, CapturesLargeOutput) {
  const CmdResult result = run_cmd("head -c 200000 /dev/zero");
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.output.size(), 200000u);
}

TEST(RunOk, ReturnsOutputOnSuccess) { EXPECT_EQ(run_ok("printf hello"), "hello"); }

TEST(RunOk, ThrowsWithCommandStatusAndOutput) {
  try {
    run_ok("echo some-diagnostic; exit 5");
    FAIL() << "run_ok did not throw";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("echo some-diagnostic; exit 5"), std::string::npos) << what;
    EXPECT_NE(what.find("exit status 5"), std::string::npos) << what;
    EXPECT_NE(what.find("some-diagnostic\n"), std::string::npos) << what;
  }
}

TEST(ShellQuote, SurvivesQuotesAndExpansions) {
  const std::string tricky = "it's \"quoted\" $HOME `id` \\ ; | &";
  EXPECT_EQ(run_ok("printf %s " + shell_quote(tricky)), tricky);
}

}  // namespace
}  // namespace xdpgw::test
