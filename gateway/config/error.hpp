// Errors of the config pipeline (parse -> validate) and the value-or-errors
// type both stages return. Every stage reports all the errors it finds, each
// pointing at the place in the file to fix.
#pragma once

#include <cassert>
#include <compare>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace xdpgw::config {

// A place in a config file, 1-based as editors count. line == 0 means "the
// whole file": it cannot be read, or a required table is missing entirely.
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;

  bool known() const { return line != 0; }
  auto operator<=>(const SourcePos&) const = default;
};

struct ConfigError {
  std::string file;  // the path as the caller gave it
  SourcePos pos;
  std::string message;

  // "FILE:LINE:COL: message", or "FILE: message" when the position is not
  // known; the form compilers use, so editors can jump to it.
  std::string to_string() const;
  bool operator==(const ConfigError&) const = default;
};

// One error per line, in the order given.
std::string to_string(const std::vector<ConfigError>& errors);

// For callers that want an exception (the daemon at startup, load()).
// what() is to_string(errors()).
class ConfigException : public std::runtime_error {
 public:
  explicit ConfigException(std::vector<ConfigError> errors);
  const std::vector<ConfigError>& errors() const noexcept { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

// Either a value or a non-empty list of errors, in source order.
// (std::expected is C++23; the project is C++20.)
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(std::vector<ConfigError> errors) : state_(std::move(errors)) {
    assert(!std::get<Errors>(state_).empty() && "a failed Result needs a reason");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  // The value; throws ConfigException carrying the errors if there is none.
  const T& value() const& { return std::get<T>(throw_if_failed()); }
  T& value() & { return std::get<T>(throw_if_failed()); }
  T&& value() && { return std::get<T>(std::move(throw_if_failed())); }

  // Empty when ok().
  const std::vector<ConfigError>& errors() const {
    static const Errors none;
    return ok() ? none : std::get<Errors>(state_);
  }

 private:
  using Errors = std::vector<ConfigError>;

  std::variant<T, Errors>& throw_if_failed() {
    if (!ok()) throw ConfigException(std::get<Errors>(state_));
    return state_;
  }
  const std::variant<T, Errors>& throw_if_failed() const {
    if (!ok()) throw ConfigException(std::get<Errors>(state_));
    return state_;
  }

  std::variant<T, Errors> state_;
};

}  // namespace xdpgw::config
