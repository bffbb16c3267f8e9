// Raw Ethernet frames on one interface of a namespace (AF_PACKET): inject
// frames built with FrameBuilder onto a veth as if a host had sent them, and
// read what arrives on it.
//
//   RawSocket wire(host_a, "xgt1234v1b");
//   wire.send(FrameBuilder().eth(gateway_mac, wire.mac()).ipv4(...).build());
//   auto reply = wire.receive(std::chrono::seconds(2));
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "harness/addr.hpp"
#include "harness/netns.hpp"

namespace xdpgw::test {

class RawSocket {
 public:
  // An AF_PACKET socket for every EtherType, bound to `ifname` of `ns`.
  // Throws std::system_error when the interface does not exist there.
  RawSocket(const Netns& ns, const std::string& ifname);

  // Transmits one whole frame (Ethernet header included, at least 14 bytes)
  // out of the interface; the bytes go on the wire unchanged. Throws
  // std::system_error when the kernel refuses it or takes only part of it.
  void send(std::span<const uint8_t> frame) const;

  // The next frame that arrived on the interface within `timeout`; frames
  // this host transmitted itself (PACKET_OUTGOING) are skipped. Frames that
  // arrived after construction and before the call are queued, not lost.
  std::optional<std::vector<uint8_t>> receive(std::chrono::milliseconds timeout) const;

  int ifindex() const noexcept { return ifindex_; }
  const MacAddr& mac() const noexcept { return mac_; }

 private:
  UniqueFd fd_;
  int ifindex_ = 0;
  MacAddr mac_{};
};

}  // namespace xdpgw::test
