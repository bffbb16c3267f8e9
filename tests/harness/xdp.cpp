#include "harness/xdp.hpp"

#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <array>
#include <cerrno>
#include <iostream>
#include <utility>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include "common/error.hpp"
#include "harness/names.hpp"

namespace xdpgw::test {

void ensure_bpffs_mounted() {
  const std::string root(kBpffsRoot);
  struct statfs fs {};
  if (::statfs(root.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC) return;
  if (::mount("bpf", root.c_str(), "bpf", 0, nullptr) != 0) {
    throw_errno(errno, "mount -t bpf bpf " + root);
  }
}

XdpAttachment::XdpAttachment(const Netns& ns, int ifindex, int prog_fd)
    : netns_(ns.name()), ifindex_(ifindex) {
  NetnsGuard inside = ns.enter();
  if (int rc = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, nullptr); rc < 0) {
    netns_.clear();  // nothing to detach
    throw_errno(rc, fmt::format("bpf_xdp_attach(ifindex {}, prog fd {}, native) in netns {}",
                                ifindex, prog_fd, ns.name()));
  }
}

XdpAttachment::XdpAttachment(const Netns& ns, const std::string& ifname, int prog_fd)
    : XdpAttachment(ns, [&] {
        NetnsGuard inside = ns.enter();
        unsigned index = ::if_nametoindex(ifname.c_str());
        if (index == 0) throw_errno(errno, fmt::format("if_nametoindex {} in netns {}", ifname, ns.name()));
        return static_cast<int>(index);
      }(), prog_fd) {}

XdpAttachment::XdpAttachment(XdpAttachment&& other) noexcept
    : netns_(std::exchange(other.netns_, {})), ifindex_(std::exchange(other.ifindex_, 0)) {}

XdpAttachment& XdpAttachment::operator=(XdpAttachment&& other) noexcept {
  if (this != &other) {
    detach();
    netns_ = std::exchange(other.netns_, {});
    ifindex_ = std::exchange(other.ifindex_, 0);
  }
  return *this;
}

XdpAttachment::~XdpAttachment() { detach(); }

void XdpAttachment::detach() noexcept {
  if (netns_.empty()) return;
  const std::string path = netns_path(netns_);
  try {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      NetnsGuard inside(path);
      int rc = bpf_xdp_detach(ifindex_, XDP_FLAGS_DRV_MODE, nullptr);
      // ENODEV: the interface was deleted first, which detached the program.
      if (rc < 0 && rc != -ENODEV) {
        std::cerr << "xdpgw test harness: bpf_xdp_detach(ifindex " << ifindex_ << ") in netns "
                  << netns_ << " failed: " << std::generic_category().message(-rc) << '\n';
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "xdpgw test harness: XDP detach in netns " << netns_ << " failed: " << e.what()
              << '\n';
  }
  netns_.clear();
}

PinDir::PinDir(std::string_view tag)
    : path_(std::filesystem::path(kBpffsRoot) / unique_name(tag)) {
  if (::mkdir(path_.c_str(), 0700) != 0) {
    std::string what = "mkdir " + path_.string();
    path_.clear();
    throw_errno(errno, what);
  }
}

PinDir::PinDir(PinDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

PinDir& PinDir::operator=(PinDir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

PinDir::~PinDir() { remove(); }

std::string PinDir::pin_path(std::string_view name) const { return (path_ / name).string(); }

void PinDir::remove() noexcept {
  if (path_.empty()) return;
  // Unlinking a pin drops the pin's reference; the object lives on only while
  // something else (an fd, an attachment) still holds it.
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::cerr << "xdpgw test harness: cannot remove pin dir " << path_ << ": " << ec.message()
              << '\n';
  }
  path_.clear();
}

UniqueFd load_xdp_insns(std::span<const bpf_insn> insns, const std::string& name) {
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name.c_str(), "GPL", insns.data(), insns.size(),
                         nullptr);
  if (fd >= 0) return UniqueFd(fd);

  // Load again with the verifier log only on failure: a log buffer that is
  // too small makes an otherwise fine load fail with ENOSPC.
  const int load_error = -fd;
  std::vector<char> log(1 << 16);
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_level = 1,
              .log_size = static_cast<__u32>(log.size()), .log_buf = log.data());
  fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name.c_str(), "GPL", insns.data(), insns.size(), &opts);
  if (fd >= 0) return UniqueFd(fd);  // a transient failure; the retry worked
  throw_errno(load_error,
              fmt::format("bpf_prog_load XDP '{}' ({} insns); verifier log:\n{}", name,
                          insns.size(), log.data()));
}

UniqueFd load_constant_xdp_prog(uint32_t action) {
  const std::array<bpf_insn, 2> insns = {{
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0,
       .imm = static_cast<int32_t>(action)},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  }};
  return load_xdp_insns(insns, fmt::format("xgt_const_{}", action));
}

}  // namespace xdpgw::test
