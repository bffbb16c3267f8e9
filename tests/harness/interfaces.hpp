// A config::Environment that answers ifindex lookups from a fixed table, so
// validation runs against the interfaces a test or benchmark made (or
// invented) instead of the host's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.hpp"

namespace xdpgw::test {

class FixedInterfaces : public config::Environment {
 public:
  explicit FixedInterfaces(std::map<std::string, uint32_t, std::less<>> interfaces)
      : interfaces_(std::move(interfaces)) {}

  std::optional<uint32_t> ifindex(std::string_view name) const override {
    const auto found = interfaces_.find(name);
    if (found == interfaces_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::string, uint32_t, std::less<>> interfaces_;
};

}  // namespace xdpgw::test
