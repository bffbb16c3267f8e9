// Helpers shared by the config tests: a fake Environment, and parse +
// validate of a text as the user would see the result.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "harness/interfaces.hpp"

namespace xdpgw::config {

// Every interface the example files and the inputs below use.
inline test::FixedInterfaces lab_interfaces() { return test::FixedInterfaces({{"xgw0", 2}, {"xgw1", 3}}); }

// The errors parse + validate report for `text` (named router.toml), as the
// user would see them; empty when the text is a valid config.
inline std::vector<std::string> error_lines(std::string_view text) {
  const Result<RawConfig> raw = parse_string(text, "router.toml");
  std::vector<ConfigError> errors = raw.errors();
  if (raw.ok()) errors = validate(raw.value(), lab_interfaces()).errors();
  std::vector<std::string> lines;
  for (const ConfigError& error : errors) lines.push_back(error.to_string());
  return lines;
}

inline Config valid_config(std::string_view text) {
  const Result<RawConfig> raw = parse_string(text, "router.toml");
  EXPECT_TRUE(raw.ok()) << to_string(raw.errors());
  if (!raw.ok()) return {};
  Result<Config> config = validate(raw.value(), lab_interfaces());
  EXPECT_TRUE(config.ok()) << to_string(config.errors());
  if (!config.ok()) return {};
  return std::move(config).value();
}

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  TempFile(std::string_view name, std::string_view contents) {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "xdpgw-config-XXXXXX").string();
    dir_ = mkdtemp(dir_template.data());
    path_ = dir_ / name;
    std::ofstream(path_) << contents;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { std::filesystem::remove_all(dir_); }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

inline constexpr std::string_view kMinimal = R"([gateway]
instance = "demo"
[[port]]
name = "xgw0"
)";

}  // namespace xdpgw::config
