// [[prefix_set]]: named prefix lists for [[acl]] rules, inline or from a
// file next to the config (block lists of 100k prefixes).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace xdpgw::config {
namespace {

// Writes `contents` beside the config file `config`, under `name`.
std::filesystem::path write_beside(const TempFile& config, std::string_view name,
                                   std::string_view contents) {
  const auto path = config.path().parent_path() / name;
  std::ofstream(path) << contents;
  return path;
}

std::vector<std::string> prefix_texts(const PrefixSet& set) {
  std::vector<std::string> texts;
  for (const IpPrefix& p : set.prefixes) texts.push_back(p.to_string());
  return texts;
}

std::vector<std::string> load_errors(const std::filesystem::path& path) {
  try {
    (void)load(path, lab_interfaces());
  } catch (const ConfigException& e) {
    std::vector<std::string> lines;
    for (const ConfigError& error : e.errors()) lines.push_back(error.to_string());
    return lines;
  }
  return {};
}

TEST(PrefixSets, FileBesideTheConfigMergesWithInlinePrefixes) {
  const TempFile config("acl.toml", std::string(kMinimal) + R"([[prefix_set]]
name = "drop"
prefixes = ["203.0.113.0/24"]
file = "drop.txt"
[[acl]]
action = "deny"
src = "@drop"
[[acl]]
action = "deny"
src = "@drop"
dst = "198.18.2.0/24"
)");
  write_beside(config, "drop.txt",
               "# a block list, as feeds write them\n"
               "198.51.100.0/24 ; SBL1\n"
               "\n"
               "  198.18.7.7   # a host, without /32\n"
               "2001:2:bad::/48\n"
               "198.51.100.0/24\n");
  const Config cfg = load(config.path(), lab_interfaces());
  ASSERT_EQ(cfg.policy.prefix_sets.size(), 1u);
  EXPECT_EQ(cfg.policy.prefix_sets[0].name, "drop");
  EXPECT_EQ(prefix_texts(cfg.policy.prefix_sets[0]),
            (std::vector<std::string>{"198.18.7.7/32", "198.51.100.0/24", "203.0.113.0/24",
                                      "2001:2:bad::/48"}));
  ASSERT_EQ(cfg.policy.acl.size(), 2u);
  EXPECT_EQ(cfg.policy.acl[0].src_set, "drop");
  EXPECT_FALSE(cfg.policy.acl[0].src);
  EXPECT_TRUE(cfg.policy.acl[0].matches_v4);
  EXPECT_TRUE(cfg.policy.acl[0].matches_v6);
  // An IPv4 destination narrows a mixed set to IPv4.
  EXPECT_TRUE(cfg.policy.acl[1].matches_v4);
  EXPECT_FALSE(cfg.policy.acl[1].matches_v6);
}

TEST(PrefixSets, EmptyFileIsASetThatMatchesNothing) {
  const TempFile config("acl.toml", std::string(kMinimal) + R"([[prefix_set]]
name = "feed"
file = "feed.txt"
[[acl]]
action = "deny"
src = "@feed"
)");
  write_beside(config, "feed.txt", "# nothing listed today\n");
  const Config cfg = load(config.path(), lab_interfaces());
  ASSERT_EQ(cfg.policy.acl.size(), 1u);
  EXPECT_TRUE(cfg.policy.prefix_sets.at(0).prefixes.empty());
  EXPECT_FALSE(cfg.policy.acl[0].matches_v4);
  EXPECT_FALSE(cfg.policy.acl[0].matches_v6);
}

TEST(PrefixSets, FileErrorsNameTheSetFileAfterTheConfigsOwn) {
  const TempFile config("acl.toml", std::string(kMinimal) + R"([[prefix_set]]
name = "drop"
file = "drop.txt"
[[acl]]
action = "reject"
src = "@drop"
)");
  std::string lines = "198.51.100.0/24\n";
  for (int i = 0; i < 23; ++i) lines += "  10.0.0." + std::to_string(i) + "/8\n";
  const auto list = write_beside(config, "drop.txt", lines);
  const std::string at = list.string();
  std::vector<std::string> expected{config.path().string() +
                                    ":9:10: action \"reject\" must be \"allow\" or \"deny\""};
  // Line 2 is 10.0.0.0/8, which is fine; 20 of the other 22 are reported.
  for (int i = 1; i <= 20; ++i)
    expected.push_back(fmt::format("{}:{}:3: \"10.0.0.{}/8\": has host bits set; did you mean "
                                   "\"10.0.0.0/8\"?",
                                   at, i + 2, i));
  expected.push_back(at + ":23:3: 2 more lines from here on are not prefixes (the first 20 are "
                          "reported)");
  EXPECT_EQ(load_errors(config.path()), expected);
}

TEST(PrefixSets, RelativeFileIsResolvedAgainstTheConfigsDirectory) {
  const TempFile config("acl.toml", std::string(kMinimal) + R"([[prefix_set]]
name = "drop"
file = "lists/drop.txt"
)");
  const std::string dir = config.path().parent_path().string();
  EXPECT_EQ(load_errors(config.path()),
            (std::vector<std::string>{config.path().string() +
                                      ":7:8: file \"lists/drop.txt\" (" + dir +
                                      "/lists/drop.txt) cannot open: No such file or directory"}));
}

// The datapath keeps at most kMaxAclPrefixes per trie, /0 included: the rule
// that adds the prefix one too many is the one reported.
TEST(PrefixSets, PrefixesPerTrieAreBoundedAtTheRuleThatCrossesTheLimit) {
  std::string lines;
  for (uint32_t i = 0; i < kMaxAclPrefixes - 1; ++i)
    lines += fmt::format("10.{}.{}.{}\n", i >> 16, (i >> 8) & 0xff, i & 0xff);
  const std::string rules = std::string(kMinimal) + R"([[prefix_set]]
name = "big"
file = "big.txt"
[[acl]]
action = "deny"
src = "@big"
[[acl]]
action = "deny"
dst = "@big"
)";
  {
    const TempFile config("acl.toml", rules);
    write_beside(config, "big.txt", lines);
    const Config cfg = load(config.path(), lab_interfaces());
    EXPECT_EQ(cfg.policy.prefix_sets.at(0).prefixes.size(), kMaxAclPrefixes - 1);
  }
  const TempFile config("acl.toml", rules + R"([[acl]]
action = "allow"
dst = "198.18.2.0/24"
[[acl]]
action = "allow"
src = "198.18.1.0/24"
)");
  write_beside(config, "big.txt", lines);
  EXPECT_EQ(load_errors(config.path()),
            (std::vector<std::string>{config.path().string() +
                                      ":19:7: src \"198.18.1.0/24\": [[acl]] rules name more "
                                      "than 262143 distinct IPv4 src prefixes"}));
}

}  // namespace
}  // namespace xdpgw::config
