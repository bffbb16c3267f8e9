// A TAP device the pipeline owns: how a punted packet is passed back to the
// kernel. Writing a frame to the TAP makes the kernel receive it as if it
// had arrived on that device; the pipeline rewrites the destination MAC to
// the TAP's own so the stack accepts it. Deleted when the fd closes.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "common/fd.hpp"

namespace xdpgw::pipeline {

class Tap {
 public:
  // Creates (in the calling thread's network namespace) and brings up the
  // device; `name` at most 15 characters.
  explicit Tap(const std::string& name);
  const std::string& name() const noexcept { return name_; }
  const std::array<uint8_t, 6>& mac() const noexcept { return mac_; }
  int ifindex() const noexcept { return ifindex_; }
  // Hands one Ethernet frame to the kernel.
  void inject(std::span<const uint8_t> frame) const;

 private:
  std::string name_;
  UniqueFd fd_;
  std::array<uint8_t, 6> mac_{};
  int ifindex_ = 0;
};

}  // namespace xdpgw::pipeline
