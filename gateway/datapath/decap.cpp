#include "datapath/decap.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <fmt/format.h>

#include <memory>
#include <system_error>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "datapath/datapath.hpp"
#include "xdpgw_decap.skel.h"

namespace xdpgw::decap {
namespace {

struct SkelDeleter {
  void operator()(xdpgw_decap_skel* s) const noexcept { xdpgw_decap_skel__destroy(s); }
};

uint32_t ifindex_of(const std::string& ifname) {
  uint32_t ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) throw_errno(errno, fmt::format("interface {}", ifname));
  return ifindex;
}

}  // namespace

std::filesystem::path pin_dir(const std::string& scope, const std::string& ifname) {
  return std::filesystem::path("/sys/fs/bpf/xdpgw-decap") / fmt::format("{}_{}", scope, ifname);
}

void attach(const std::string& scope, const std::string& ifname, bool generic) {
  const uint32_t ifindex = ifindex_of(ifname);
  const auto dir = pin_dir(scope, ifname);
  std::error_code ec;
  if (std::filesystem::exists(dir / "link", ec))
    throw std::runtime_error(fmt::format("{} already has the decap program (pins in {})", ifname,
                                         dir.string()));
  std::unique_ptr<xdpgw_decap_skel, SkelDeleter> skel(xdpgw_decap_skel__open_and_load());
  if (!skel) throw_errno(errno, "load BPF object xdpgw_decap");
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
  UniqueFd link(bpf_link_create(bpf_program__fd(skel->progs.xdpgw_decap), static_cast<int>(ifindex),
                                BPF_XDP, &opts));
  if (!link) throw_errno(errno, fmt::format("attach decap to {}", ifname));
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::system_error(ec, fmt::format("create {}", dir.string()));
  const auto stats_pin = dir / "stats";
  const auto link_pin = dir / "link";
  if (bpf_obj_pin(bpf_map__fd(skel->maps.decap_stats), stats_pin.c_str()) < 0 ||
      bpf_obj_pin(link.get(), link_pin.c_str()) < 0) {
    const int err = errno;
    bpf_link_detach(link.get());
    std::filesystem::remove_all(dir, ec);
    throw_errno(err, fmt::format("pin decap attachment in {}", dir.string()));
  }
}

bool detach(const std::string& scope, const std::string& ifname) {
  const auto dir = pin_dir(scope, ifname);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return false;
  UniqueFd link(bpf_obj_get((dir / "link").c_str()));
  if (link) bpf_link_detach(link.get());
  std::filesystem::remove_all(dir, ec);
  if (ec) throw std::system_error(ec, fmt::format("remove {}", dir.string()));
  // The shared parent goes with its last attachment (fails while not empty).
  std::filesystem::remove(dir.parent_path(), ec);
  return true;
}

Counters read_counters(const std::string& scope, const std::string& ifname) {
  const auto path = pin_dir(scope, ifname) / "stats";
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) throw_errno(errno, fmt::format("no decap attachment on {} ({})", ifname, path.string()));
  Counters c;
  c.decapsulated = sum(read_percpu_counter(fd.get(), XDPGW_DECAP_DONE));
  c.not_tunnel = sum(read_percpu_counter(fd.get(), XDPGW_DECAP_NOT_TUNNEL));
  c.malformed = sum(read_percpu_counter(fd.get(), XDPGW_DECAP_MALFORMED));
  return c;
}

}  // namespace xdpgw::decap
