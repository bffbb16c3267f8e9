// Internal to the config module (included by its .cpp files only): collects
// the errors of one stage for one file.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "config/error.hpp"

namespace xdpgw::config {

class ErrorList {
 public:
  explicit ErrorList(std::string file) : file_(std::move(file)) {}

  template <typename... Args>
  void add(SourcePos pos, fmt::format_string<Args...> format, Args&&... args) {
    errors_.push_back({file_, pos, fmt::format(format, std::forward<Args>(args)...)});
  }

  // An error in another file the config refers to (a [[prefix_set]] file).
  template <typename... Args>
  void add_in(std::string file, SourcePos pos, fmt::format_string<Args...> format,
              Args&&... args) {
    errors_.push_back({std::move(file), pos, fmt::format(format, std::forward<Args>(args)...)});
  }

  bool empty() const { return errors_.empty(); }

  // Checks run section by section and toml++ iterates tables in key order,
  // so errors are found out of order; the user reads the file top to bottom.
  // Stable, so two errors at one place keep the order they were found in.
  // Errors in files the config refers to come after the config's own.
  std::vector<ConfigError> take_in_source_order() && {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [this](const ConfigError& a, const ConfigError& b) {
                       const bool a_other = a.file != file_, b_other = b.file != file_;
                       return std::tie(a_other, a.file, a.pos) < std::tie(b_other, b.file, b.pos);
                     });
    return std::move(errors_);
  }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace xdpgw::config
