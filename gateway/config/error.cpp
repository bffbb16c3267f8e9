#include "config/error.hpp"

#include <fmt/format.h>

namespace xdpgw::config {

std::string ConfigError::to_string() const {
  if (!pos.known()) return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, pos.line, pos.column, message);
}

std::string to_string(const std::vector<ConfigError>& errors) {
  std::string text;
  for (const ConfigError& error : errors) {
    if (!text.empty()) text += '\n';
    text += error.to_string();
  }
  return text;
}

ConfigException::ConfigException(std::vector<ConfigError> errors)
    : std::runtime_error(to_string(errors)), errors_(std::move(errors)) {}

}  // namespace xdpgw::config
