// A strict reader of the pcapng files `xdpgw capture` writes, for tests that
// check what tcpdump 4.99 does not print: each packet's interface (if_name),
// its comment (opt_comment) and its epb_flags / epb_queue. Every block's
// framing is checked (lengths, padding, trailer, an EPB naming an interface
// described before it); anything else throws std::runtime_error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace xdpgw::test {

struct PcapngInterface {
  uint16_t linktype = 0;
  uint32_t snaplen = 0;
  std::string name;                // if_name
  std::optional<uint8_t> tsresol;  // if_tsresol
};

struct PcapngPacket {
  uint32_t interface = 0;
  uint64_t timestamp = 0;  // in the interface's if_tsresol units
  uint32_t orig_len = 0;
  std::vector<uint8_t> data;  // the captured bytes
  std::vector<std::string> comments;
  std::optional<uint32_t> flags;  // epb_flags
  std::optional<uint32_t> queue;  // epb_queue
};

struct Pcapng {
  std::vector<PcapngInterface> interfaces;
  std::vector<PcapngPacket> packets;
  // The name of the interface `p` was captured on.
  const std::string& interface_name(const PcapngPacket& p) const { return interfaces.at(p.interface).name; }
};

Pcapng parse_pcapng(std::span<const uint8_t> bytes);
Pcapng read_pcapng(const std::filesystem::path& path);

}  // namespace xdpgw::test
