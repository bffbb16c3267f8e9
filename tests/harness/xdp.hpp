// XDP attachments, bpffs pin dirs and tiny hand-assembled XDP programs.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "harness/netns.hpp"

namespace xdpgw::test {

inline constexpr std::string_view kBpffsRoot = "/sys/fs/bpf";

// Mounts bpffs on /sys/fs/bpf unless it already is (a fresh machine has none).
// Throws std::system_error when mounting fails.
void ensure_bpffs_mounted();

// A program attached in native (driver) mode to an interface of a namespace,
// detached on destruction. The attachment holds its own reference to the
// program, so the program fd may be closed first. An interface or namespace
// that is already gone counts as detached.
class XdpAttachment {
 public:
  XdpAttachment(const Netns& ns, int ifindex, int prog_fd);
  XdpAttachment(const Netns& ns, const std::string& ifname, int prog_fd);
  XdpAttachment(XdpAttachment&& other) noexcept;
  XdpAttachment& operator=(XdpAttachment&& other) noexcept;
  XdpAttachment(const XdpAttachment&) = delete;
  XdpAttachment& operator=(const XdpAttachment&) = delete;
  ~XdpAttachment();

  int ifindex() const noexcept { return ifindex_; }
  const std::string& netns() const noexcept { return netns_; }

 private:
  void detach() noexcept;

  std::string netns_;  // empty once moved from
  int ifindex_ = 0;
};

// A directory /sys/fs/bpf/<unique_name(tag)>/ for a test's pins, removed with
// everything pinned in it on destruction.
class PinDir {
 public:
  explicit PinDir(std::string_view tag = "pins");
  PinDir(PinDir&& other) noexcept;
  PinDir& operator=(PinDir&& other) noexcept;
  PinDir(const PinDir&) = delete;
  PinDir& operator=(const PinDir&) = delete;
  ~PinDir();

  const std::filesystem::path& path() const noexcept { return path_; }
  // path()/name, as a string for bpf_obj_pin and friends.
  std::string pin_path(std::string_view name) const;

 private:
  void remove() noexcept;

  std::filesystem::path path_;  // empty once moved from
};

// Loads an XDP program from raw instructions (name: at most 15 characters).
// Throws std::system_error with the verifier log on failure.
UniqueFd load_xdp_insns(std::span<const bpf_insn> insns, const std::string& name);

// `r0 = action; exit`: an XDP_PASS for the far ends of a topology (XDP_TX and
// redirects into a veth are dropped unless its peer has an XDP program), an
// XDP_DROP sink, or a known verdict for prog_test_run checks.
UniqueFd load_constant_xdp_prog(uint32_t action);

}  // namespace xdpgw::test
