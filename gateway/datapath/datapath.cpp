#include "datapath/datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <fmt/format.h>

#include <system_error>

#include "common/error.hpp"
#include "xdpgw.skel.h"

namespace xdpgw {
namespace {

bpf_program* slot_program(::xdpgw_skel* skel, xdpgw_slot slot) {
  switch (slot) {
    case XDPGW_SLOT_TCP: return skel->progs.xdpgw_tcp;
    case XDPGW_SLOT_UDP: return skel->progs.xdpgw_udp;
    case XDPGW_SLOT_ICMP: return skel->progs.xdpgw_icmp;
    case XDPGW_SLOT_ICMPV6: return skel->progs.xdpgw_icmp6;
    case XDPGW_SLOT_OTHER: return skel->progs.xdpgw_other;
    case XDPGW_SLOT_COUNT: break;
  }
  throw std::out_of_range(fmt::format("no handler for slot {}", int(slot)));
}

std::vector<bpf_map*> all_maps(::xdpgw_skel* skel) {
  auto& m = skel->maps;
  return {m.handlers, m.verdict_stats, m.handler_stats, m.settings,
          m.tx_ports, m.ports,         m.routes_v4,     m.routes_v6,
          m.nexthops, m.local_addrs,   m.cpu_map,       m.cpu_targets};
}

}  // namespace

void Datapath::SkeletonDeleter::operator()(::xdpgw_skel* skel) const noexcept {
  xdpgw_skel__destroy(skel);
}

Datapath::Datapath(const LoadOptions& opts) : pin_dir_(opts.pin_dir) {
  skel_.reset(xdpgw_skel__open());
  if (!skel_) throw_errno(errno, "open BPF object xdpgw");

  int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  // CPUMAP is sized to the CPUs the kernel can have; more is E2BIG.
  check_errno(bpf_map__set_max_entries(skel_->maps.cpu_map, cpus),
              "size cpu_map");

  if (int err = xdpgw_skel__load(skel_.get()); err)
    throw_errno(err, "load BPF object xdpgw (verifier log above)");

  for (int s = 0; s < XDPGW_SLOT_COUNT; ++s) install_handler(xdpgw_slot(s));

  // Defaults until the first apply: route nothing, drop on missed calls.
  write_settings(xdpgw_settings{.missed_tail_call_action = XDP_DROP,
                                .route_source = XDPGW_ROUTE_NONE,
                                .cpu_count = 0,
                                .reserved = 0});
  if (!pin_dir_.empty()) pin_maps();
}

Datapath::Datapath(Datapath&&) noexcept = default;
Datapath& Datapath::operator=(Datapath&&) noexcept = default;

Datapath::~Datapath() {
  links_.clear();  // detach before the programs go away
  if (skel_ && !pin_dir_.empty()) unpin_maps();
}

void Datapath::pin_maps() {
  std::error_code ec;
  std::filesystem::create_directories(pin_dir_, ec);
  if (ec)
    throw std::system_error(ec, fmt::format("create pin dir {}", pin_dir_.string()));
  for (bpf_map* map : all_maps(skel_.get())) {
    std::string path = (pin_dir_ / bpf_map__name(map)).string();
    if (int err = bpf_map__pin(map, path.c_str()); err)
      throw_errno(err, fmt::format("pin map at {}", path));
  }
}

void Datapath::unpin_maps() noexcept {
  for (bpf_map* map : all_maps(skel_.get())) {
    std::string path = (pin_dir_ / bpf_map__name(map)).string();
    bpf_map__unpin(map, path.c_str());
  }
  std::error_code ec;
  std::filesystem::remove(pin_dir_, ec);  // only if empty: never others' pins
}

void Datapath::attach(uint32_t ifindex, AttachMode mode) {
  LIBBPF_OPTS(bpf_link_create_opts, opts,
              .flags = mode == AttachMode::kNative ? XDP_FLAGS_DRV_MODE
                                                   : XDP_FLAGS_SKB_MODE);
  int fd = bpf_link_create(dispatcher_fd(), static_cast<int>(ifindex), BPF_XDP,
                           &opts);
  if (fd < 0)
    throw_errno(fd, fmt::format("attach XDP ({}) to ifindex {}",
                                mode == AttachMode::kNative ? "native" : "generic",
                                ifindex));
  links_.insert_or_assign(ifindex, UniqueFd(fd));
}

void Datapath::detach(uint32_t ifindex) { links_.erase(ifindex); }

int Datapath::dispatcher_fd() const {
  return bpf_program__fd(skel_->progs.xdpgw_dispatch);
}
int Datapath::handler_fd(xdpgw_slot slot) const {
  return bpf_program__fd(slot_program(skel_.get(), slot));
}
int Datapath::cpu_stage_fd() const {
  return bpf_program__fd(skel_->progs.xdpgw_cpu_stage);
}
uint32_t Datapath::dispatcher_id() const {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  check_errno(bpf_obj_get_info_by_fd(dispatcher_fd(), &info, &len),
              "get dispatcher program info");
  return info.id;
}

int Datapath::handlers_fd() const { return bpf_map__fd(skel_->maps.handlers); }
int Datapath::verdict_stats_fd() const { return bpf_map__fd(skel_->maps.verdict_stats); }
int Datapath::handler_stats_fd() const { return bpf_map__fd(skel_->maps.handler_stats); }
int Datapath::settings_fd() const { return bpf_map__fd(skel_->maps.settings); }
int Datapath::tx_ports_fd() const { return bpf_map__fd(skel_->maps.tx_ports); }
int Datapath::ports_fd() const { return bpf_map__fd(skel_->maps.ports); }
int Datapath::routes_v4_fd() const { return bpf_map__fd(skel_->maps.routes_v4); }
int Datapath::routes_v6_fd() const { return bpf_map__fd(skel_->maps.routes_v6); }
int Datapath::nexthops_fd() const { return bpf_map__fd(skel_->maps.nexthops); }
int Datapath::local_addrs_fd() const { return bpf_map__fd(skel_->maps.local_addrs); }
int Datapath::cpu_map_fd() const { return bpf_map__fd(skel_->maps.cpu_map); }
int Datapath::cpu_targets_fd() const { return bpf_map__fd(skel_->maps.cpu_targets); }

void Datapath::clear_handler(xdpgw_slot slot) {
  uint32_t key = slot;
  int err = bpf_map_delete_elem(handlers_fd(), &key);
  if (err && errno != ENOENT)
    throw_errno(errno, fmt::format("clear handler slot {}", abi::kSlotNames.at(slot)));
}

void Datapath::install_handler(xdpgw_slot slot) {
  uint32_t key = slot;
  int fd = handler_fd(slot);
  check_errno(bpf_map_update_elem(handlers_fd(), &key, &fd, BPF_ANY),
              fmt::format("install handler slot {}", abi::kSlotNames.at(slot)));
}

void Datapath::write_settings(const xdpgw_settings& s) {
  uint32_t key = 0;
  check_errno(bpf_map_update_elem(settings_fd(), &key, &s, BPF_ANY),
              "write settings map");
}

xdpgw_settings Datapath::read_settings() const {
  uint32_t key = 0;
  xdpgw_settings s{};
  check_errno(bpf_map_lookup_elem(settings_fd(), &key, &s), "read settings map");
  return s;
}

std::vector<xdpgw_counter> read_percpu_counter(int map_fd, uint32_t key) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  std::vector<xdpgw_counter> values(static_cast<size_t>(cpus));
  check_errno(bpf_map_lookup_elem(map_fd, &key, values.data()),
              fmt::format("read per-CPU counter {}", key));
  return values;
}

xdpgw_counter sum(const std::vector<xdpgw_counter>& per_cpu) {
  xdpgw_counter total{};
  for (const auto& c : per_cpu) {
    total.packets += c.packets;
    total.bytes += c.bytes;
  }
  return total;
}

std::array<xdpgw_counter, XDPGW_R_COUNT> read_verdicts(int verdict_stats_fd) {
  std::array<xdpgw_counter, XDPGW_R_COUNT> out{};
  for (uint32_t r = 0; r < XDPGW_R_COUNT; ++r)
    out[r] = sum(read_percpu_counter(verdict_stats_fd, r));
  return out;
}

}  // namespace xdpgw
