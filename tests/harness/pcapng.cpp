#include "harness/pcapng.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

namespace xdpgw::test {

namespace {

// Host byte order: the files are written and read on the same machine (the
// SHB's magic is checked to be ours).
template <class T>
T get(std::span<const uint8_t> b, std::size_t off) {
  if (off + sizeof(T) > b.size()) throw std::runtime_error(fmt::format("pcapng: read past a block at {}", off));
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

// Calls on_option(code, value) for each option from `off` to the block's end.
template <class F>
void for_each_option(std::span<const uint8_t> body, std::size_t off, F on_option) {
  while (off + 4 <= body.size()) {
    const auto code = get<uint16_t>(body, off);
    const auto len = get<uint16_t>(body, off + 2);
    off += 4;
    if (code == 0) return;  // opt_endofopt
    if (off + len > body.size()) throw std::runtime_error("pcapng: option runs past its block");
    on_option(code, body.subspan(off, len));
    off += (len + 3u) & ~3u;
  }
  if (off != body.size()) throw std::runtime_error("pcapng: options not padded to 32 bits");
}

std::string text(std::span<const uint8_t> v) { return {reinterpret_cast<const char*>(v.data()), v.size()}; }

}  // namespace

Pcapng parse_pcapng(std::span<const uint8_t> bytes) {
  Pcapng out;
  std::size_t off = 0;
  bool first = true;
  while (off < bytes.size()) {
    const auto type = get<uint32_t>(bytes, off);
    const auto total = get<uint32_t>(bytes, off + 4);
    if (total < 12 || total % 4 != 0 || off + total > bytes.size())
      throw std::runtime_error(fmt::format("pcapng: block at {} has length {}", off, total));
    if (get<uint32_t>(bytes, off + total - 4) != total)
      throw std::runtime_error(fmt::format("pcapng: block at {}: trailing length differs", off));
    const auto body = bytes.subspan(off + 8, total - 12);
    if (first && type != 0x0A0D0D0A) throw std::runtime_error("pcapng: does not start with a Section Header Block");
    first = false;
    switch (type) {
      case 0x0A0D0D0A:
        if (get<uint32_t>(body, 0) != 0x1A2B3C4D) throw std::runtime_error("pcapng: byte-order magic");
        if (get<uint16_t>(body, 4) != 1) throw std::runtime_error("pcapng: major version");
        break;
      case 1: {
        PcapngInterface i{.linktype = get<uint16_t>(body, 0), .snaplen = get<uint32_t>(body, 4), .name = {},
                          .tsresol = std::nullopt};
        for_each_option(body, 8, [&](uint16_t code, std::span<const uint8_t> v) {
          if (code == 2) i.name = text(v);
          if (code == 9 && v.size() == 1) i.tsresol = v[0];
        });
        out.interfaces.push_back(std::move(i));
        break;
      }
      case 6: {
        PcapngPacket p;
        p.interface = get<uint32_t>(body, 0);
        if (p.interface >= out.interfaces.size())
          throw std::runtime_error(fmt::format("pcapng: packet names interface {} before its description", p.interface));
        p.timestamp = uint64_t{get<uint32_t>(body, 4)} << 32 | get<uint32_t>(body, 8);
        const auto caplen = get<uint32_t>(body, 12);
        p.orig_len = get<uint32_t>(body, 16);
        if (20 + caplen > body.size()) throw std::runtime_error("pcapng: packet data runs past its block");
        p.data.assign(body.begin() + 20, body.begin() + 20 + caplen);
        for_each_option(body, 20 + ((caplen + 3u) & ~3u), [&](uint16_t code, std::span<const uint8_t> v) {
          if (code == 1) p.comments.push_back(text(v));
          if (code == 2 && v.size() == 4) p.flags = get<uint32_t>(v, 0);
          if (code == 6 && v.size() == 4) p.queue = get<uint32_t>(v, 0);
        });
        out.packets.push_back(std::move(p));
        break;
      }
      default:
        break;  // blocks we do not write are skipped, as readers do
    }
    off += total;
  }
  if (first) throw std::runtime_error("pcapng: empty");
  return out;
}

Pcapng read_pcapng(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open {}", path.string()));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_pcapng(bytes);
}

}  // namespace xdpgw::test
