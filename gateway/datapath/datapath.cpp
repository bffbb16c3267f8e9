#include "datapath/datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <string_view>
#include <thread>
#include <system_error>

#include "common/error.hpp"
#include "datapath/bpf_log.hpp"
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

using SkelMaps = decltype(::xdpgw_skel::maps);

// The per-generation tables, listed once: each ConfigTables member is the
// inner map, at index `gen`, of one ARRAY_OF_MAPS of bpf/lib/maps.h.
// Staging, installing and reopening a generation walk this list; the inner
// maps' shapes come from the object (bpf_map__inner_map), not from here.
struct GenerationTable {
  bpf_map* SkelMaps::*outer;
  UniqueFd ConfigTables::*member;
};

constexpr auto kGenerationTables = std::to_array<GenerationTable>({
    {&SkelMaps::cfg_settings, &ConfigTables::settings},
    {&SkelMaps::cfg_routes4, &ConfigTables::routes4},
    {&SkelMaps::cfg_routes6, &ConfigTables::routes6},
    {&SkelMaps::cfg_nexthops, &ConfigTables::nexthops},
    {&SkelMaps::cfg_local, &ConfigTables::local},
    {&SkelMaps::cfg_cpus, &ConfigTables::cpus},
    {&SkelMaps::cfg_vips, &ConfigTables::vips},
    {&SkelMaps::cfg_backends, &ConfigTables::backends},
    {&SkelMaps::cfg_lb, &ConfigTables::lb},
    {&SkelMaps::cfg_punt, &ConfigTables::punt},
    {&SkelMaps::cfg_policy, &ConfigTables::policy},
    {&SkelMaps::cfg_acl_src4, &ConfigTables::acl_src4},
    {&SkelMaps::cfg_acl_dst4, &ConfigTables::acl_dst4},
    {&SkelMaps::cfg_acl_src6, &ConfigTables::acl_src6},
    {&SkelMaps::cfg_acl_dst6, &ConfigTables::acl_dst6},
    {&SkelMaps::cfg_acl_rules, &ConfigTables::acl_rules},
    {&SkelMaps::cfg_rl_src4, &ConfigTables::rl_src4},
    {&SkelMaps::cfg_rl_src6, &ConfigTables::rl_src6},
    {&SkelMaps::cfg_rl_classes, &ConfigTables::rl_classes},
    {&SkelMaps::cfg_snat, &ConfigTables::snat},
    {&SkelMaps::cfg_inbound, &ConfigTables::inbound},
});

// ConfigTables holds nothing but these fds, each bound by exactly one row:
// a member added without its row (or bound twice) fails the build.
static_assert(sizeof(ConfigTables) == kGenerationTables.size() * sizeof(UniqueFd),
              "every ConfigTables member needs its row in kGenerationTables");
constexpr bool each_member_once() {
  for (std::size_t i = 0; i < kGenerationTables.size(); ++i)
    for (std::size_t j = i + 1; j < kGenerationTables.size(); ++j)
      if (kGenerationTables[i].member == kGenerationTables[j].member ||
          kGenerationTables[i].outer == kGenerationTables[j].outer)
        return false;
  return true;
}
static_assert(each_member_once(), "a ConfigTables member or outer map bound twice");

// Maps a daemon run leaves pinned and the next one adopts: every map of the
// object except libbpf's own (.rodata knobs) and the capture maps. A capture
// is a session of one daemon; a new daemon starts with none (a pinned flag
// left by a killed one would cost every drop a failed output).
bool outlives_daemon(const bpf_map* map) {
  if (bpf_map__is_internal(map)) return false;
  const std::string_view name = bpf_map__name(map);
  return name != "capture_events" && name != "capture_cfg" && name != "capture_stats";
}

// Maps earlier versions pinned that this one no longer has: removed when a
// Datapath pins its own, so a restart after an upgrade leaves no strays.
// cfg_ports went away when nexthops began to carry the egress port's MAC
// and MTU.
constexpr std::array<std::string_view, 1> kRetiredPins = {"cfg_ports"};

std::vector<bpf_map*> pinned_maps(::xdpgw_skel* skel) {
  std::vector<bpf_map*> out;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel->obj) {
    if (outlives_daemon(map)) out.push_back(map);
  }
  return out;
}

// The shape of the inner maps `outer` holds, from the object's
// __array(values, ...) template. libbpf frees the template once it has
// created the outer map, so this is read between open and load.
Datapath::InnerShape inner_shape(bpf_map* outer) {
  const std::string_view outer_name = bpf_map__name(outer);
  bpf_map* inner = bpf_map__inner_map(outer);
  if (!inner)
    throw std::logic_error(fmt::format(
        "map {} of the BPF object has no inner-map template (read before load?)", outer_name));
  // Kernel map names hold 15 characters: cfg_routes4 -> xgw_routes4.
  std::string name(outer_name.starts_with("cfg_") ? outer_name.substr(4) : outer_name);
  name = ("xgw_" + name).substr(0, BPF_OBJ_NAME_LEN - 1);
  return {.type = bpf_map__type(inner),
          .key_size = bpf_map__key_size(inner),
          .value_size = bpf_map__value_size(inner),
          .max_entries = bpf_map__max_entries(inner),
          .flags = bpf_map__map_flags(inner),
          .name = std::move(name)};
}

UniqueFd create_inner(const Datapath::InnerShape& s, uint32_t max_entries) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = s.flags);
  int fd = bpf_map_create(static_cast<bpf_map_type>(s.type), s.name.c_str(), s.key_size,
                          s.value_size, max_entries, &opts);
  if (fd < 0) throw_errno(fd, fmt::format("create map {}", s.name));
  return UniqueFd(fd);
}

UniqueFd create_inner(const Datapath::InnerShape& s) { return create_inner(s, s.max_entries); }

void install_inner(bpf_map* outer, uint32_t gen, const UniqueFd& inner) {
  int fd = inner.get();
  check_errno(bpf_map_update_elem(bpf_map__fd(outer), &gen, &fd, BPF_ANY),
              fmt::format("install generation {} into {}", gen, bpf_map__name(outer)));
}

// The inner map at `gen` of an outer map, as a new fd; empty when none.
UniqueFd inner_of(bpf_map* outer, uint32_t gen) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(outer), &gen, &id) != 0) return UniqueFd();
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0)
    throw_errno(fd, fmt::format("open generation {} of {}", gen, bpf_map__name(outer)));
  return UniqueFd(fd);
}

bpf_map_info pinned_info(int pinned_fd, const std::string& path) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  check_errno(bpf_obj_get_info_by_fd(pinned_fd, &info, &len),
              fmt::format("inspect pinned map {}", path));
  return info;
}

bool same_layout(bpf_map* map, const bpf_map_info& info) {
  // The kernel adds BPF_F_RDONLY_PROG to DEVMAPs itself at creation.
  constexpr uint32_t kKernelAddedFlags = BPF_F_RDONLY_PROG;
  return info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
         info.value_size == bpf_map__value_size(map) &&
         info.max_entries == bpf_map__max_entries(map) &&
         (info.map_flags & ~kKernelAddedFlags) == (bpf_map__map_flags(map) & ~kKernelAddedFlags);
}

bool compatible(bpf_map* map, int pinned_fd, const std::string& path) {
  return same_layout(map, pinned_info(pinned_fd, path));
}

// A pinned map may be adopted only if it has the layout this build's
// programs expect; anything else would be misread silently.
void check_compatible(bpf_map* map, int pinned_fd, const std::string& path) {
  const bpf_map_info info = pinned_info(pinned_fd, path);
  if (!same_layout(map, info))
    throw std::runtime_error(fmt::format(
        "pinned map {} has a different layout than this xdpgw build expects "
        "(type {}/{}, key {}/{}, value {}/{}, entries {}/{}, flags {:#x}/{:#x}: "
        "left by another version?); start with --fresh to replace it",
        path, info.type, int(bpf_map__type(map)), info.key_size, bpf_map__key_size(map),
        info.value_size, bpf_map__value_size(map), info.max_entries,
        bpf_map__max_entries(map), info.map_flags, bpf_map__map_flags(map)));
}

// Whether the inner maps a pinned ARRAY_OF_MAPS holds have the shape this
// build's programs were verified against. The kernel fixes an outer map's
// inner shape when it is created, so an outer map of an earlier version
// whose inner value grew would pass the outer layout check, then refuse
// every new inner map (or fail verification). `any_size`: inner maps whose
// size varies (the Maglev rings). An outer map holding none is taken as is.
bool inner_shape_matches(int outer_fd, const Datapath::InnerShape& shape, bool any_size) {
  const bpf_map_info outer = pinned_info(outer_fd, "outer map");
  for (uint32_t key = 0; key < outer.max_entries; ++key) {
    uint32_t id = 0;
    if (bpf_map_lookup_elem(outer_fd, &key, &id) != 0) continue;
    UniqueFd inner(bpf_map_get_fd_by_id(id));
    if (!inner) continue;  // freed meanwhile
    const bpf_map_info info = pinned_info(inner.get(), "inner map");
    return info.type == shape.type && info.key_size == shape.key_size &&
           info.value_size == shape.value_size &&
           (any_size || info.max_entries == shape.max_entries);
  }
  return true;
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
  for (bpf_map* cpu_map : {skel_->maps.cpu_map_g0, skel_->maps.cpu_map_g1})
    check_errno(bpf_map__set_max_entries(cpu_map, static_cast<uint32_t>(cpus)),
                fmt::format("size {}", bpf_map__name(cpu_map)));
  if (opts.conn_table_size == 0 || opts.conn_table_size > XDPGW_CONN_TABLE_MAX_SIZE)
    throw std::invalid_argument(
        fmt::format("conn_table_size {} out of range 1..{}", opts.conn_table_size,
                    XDPGW_CONN_TABLE_MAX_SIZE));
  check_errno(bpf_map__set_max_entries(skel_->maps.conn_table, opts.conn_table_size),
              "size conn_table");
  if (opts.embryonic_table_size == 0 || opts.embryonic_table_size > XDPGW_CONN_TABLE_MAX_SIZE)
    throw std::invalid_argument(fmt::format("embryonic_table_size {} out of range 1..{}",
                                            opts.embryonic_table_size, XDPGW_CONN_TABLE_MAX_SIZE));
  check_errno(bpf_map__set_max_entries(skel_->maps.lb_embryonic, opts.embryonic_table_size),
              "size lb_embryonic");
  // A translation for each cookie flow conn_table can hold.
  check_errno(bpf_map__set_max_entries(skel_->maps.synproxy_flows, opts.conn_table_size),
              "size synproxy_flows");

  skel_->rodata->xdpgw_features = opts.features;
  features_ = opts.features;
  // A kernel without the CPUMAP program type refuses these two programs
  // whatever their code; without steering nobody needs them.
  if (!(opts.features & XDPGW_FEAT_STEERING))
    for (bpf_program* stage : {skel_->progs.xdpgw_cpu_g0, skel_->progs.xdpgw_cpu_g1})
      bpf_program__set_autoload(stage, false);

  // Before load: libbpf drops the templates once the outer maps exist.
  for (const GenerationTable& t : kGenerationTables)
    generation_shapes_.push_back(inner_shape(skel_->maps.*t.outer));
  ring_shape_ = inner_shape(skel_->maps.lb_rings);

  if (!pin_dir_.empty()) adopt_pinned_maps();

  {
    bpf_log::LibbpfLogCapture log;
    if (int err = xdpgw_skel__load(skel_.get()); err) {
      std::string full_log;
      if (!opts.load_log.empty()) {
        try {
          log.write_full(opts.load_log);
          full_log = fmt::format("\nthe whole log: {}", opts.load_log.string());
        } catch (const std::exception& e) {
          full_log = fmt::format("\n(the whole log could not be written: {})", e.what());
        }
      }
      spdlog::debug("libbpf log of the failed load:\n{}", log.text());
      throw std::runtime_error(fmt::format("load BPF object xdpgw: {}{}", log.summary(), full_log));
    }
  }

  // On adoption this replaces the earlier run's handlers one slot at a time;
  // each tail call sees either the old or the new handler.
  for (int s = 0; s < XDPGW_SLOT_COUNT; ++s) install_handler(xdpgw_slot(s));
  {
    uint32_t key = XDPGW_STAGE_SLOT_SYNPROXY;
    int fd = bpf_program__fd(skel_->progs.xdpgw_synproxy);
    check_errno(bpf_map_update_elem(handlers_fd(), &key, &fd, BPF_ANY),
                "install the synproxy stage");
  }

  if (!adopted_) {
    // Until the first apply: a generation that routes nothing, so every
    // IP packet goes to the kernel (counted as pass_routing_off).
    Staged initial = stage_generation();
    xdpgw::write_settings(initial.tables.settings.get(),
                   xdpgw_settings{.missed_tail_call_action = XDP_DROP,
                                  .route_source = XDPGW_ROUTE_NONE,
                                  .cpu_count = 0,
                                  .skip = 0});
    activate(initial.gen);
  }
  refresh_active_cache();
  if (!pin_dir_.empty()) pin_maps();
}

Datapath::Datapath(Datapath&&) noexcept = default;
Datapath& Datapath::operator=(Datapath&&) noexcept = default;
// Closing handles only: pinned maps and links outlive the process.
Datapath::~Datapath() = default;

void Datapath::adopt_pinned_maps() {
  for (bpf_map* map : pinned_maps(skel_.get())) {
    auto path = pin_dir_ / bpf_map__name(map);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) continue;
    UniqueFd pinned(bpf_obj_get(path.c_str()));
    if (!pinned) throw_errno(errno, fmt::format("open pinned map {}", path.string()));
    // The hand-over entry of another layout is not adopted but replaced:
    // while the old dispatcher still writes its own, the new handlers find
    // nothing valid in the new one and parse each packet themselves.
    if (map == skel_->maps.parsed && !compatible(map, pinned.get(), path.string())) {
      spdlog::info("{}: new hand-over layout; handlers parse packets themselves until the new "
                   "dispatcher is attached",
                   path.string());
      replace_pins_.push_back(path);
      continue;
    }
    // The LB flow cache of another layout is replaced too: it only holds
    // copies of conn_table decisions (the new one starts empty and fills
    // from conn_table) and hits not yet counted there (at most
    // XDPGW_LB_CACHE_FLUSH - 1 per flow and CPU, lost).
    if (map == skel_->maps.lb_flow_cache && !compatible(map, pinned.get(), path.string())) {
      spdlog::info("{}: new flow-cache layout; starts empty", path.string());
      replace_pins_.push_back(path);
      continue;
    }
    // Counters by reason or by kind grow when a version adds one (the
    // lists are append-only): a pinned array of the old size is replaced,
    // and its counters start again from 0, as after a --fresh restart.
    if ((map == skel_->maps.verdict_stats || map == skel_->maps.conn_stats) &&
        !compatible(map, pinned.get(), path.string())) {
      spdlog::info("{}: this version counts more reasons; its counters start again from 0",
                   path.string());
      replace_pins_.push_back(path);
      continue;
    }
    if (!inner_shape_fits(map, pinned.get())) {
      spdlog::info("{}: its tables have another layout in this version; replaced by a new one, "
                   "which the first apply fills (until then the new programs pass what they "
                   "cannot route to the kernel)",
                   path.string());
      replace_pins_.push_back(path);
      continue;
    }
    check_compatible(map, pinned.get(), path.string());
    // reuse_fd dups the fd; ours closes at the end of this scope.
    check_errno(bpf_map__reuse_fd(map, pinned.get()),
                fmt::format("adopt pinned map {}", path.string()));
    adopted_ = true;
  }
}

bool Datapath::inner_shape_fits(bpf_map* map, int pinned_fd) const {
  if (map == skel_->maps.lb_rings) return inner_shape_matches(pinned_fd, ring_shape_, true);
  for (std::size_t i = 0; i < kGenerationTables.size(); ++i)
    if (map == skel_->maps.*kGenerationTables[i].outer)
      return inner_shape_matches(pinned_fd, generation_shapes_[i], false);
  return true;
}

void Datapath::pin_maps() {
  std::error_code ec;
  std::filesystem::create_directories(pin_dir_, ec);
  if (ec)
    throw std::system_error(ec, fmt::format("create pin dir {}", pin_dir_.string()));
  for (bpf_map* map : pinned_maps(skel_.get())) {
    auto path = pin_dir_ / bpf_map__name(map);
    if (std::find(replace_pins_.begin(), replace_pins_.end(), path) != replace_pins_.end())
      std::filesystem::remove(path, ec);
    else if (std::filesystem::exists(path, ec))
      continue;  // adopted
    if (int err = bpf_obj_pin(bpf_map__fd(map), path.c_str()); err)
      throw_errno(errno, fmt::format("pin map at {}", path.string()));
  }
  for (std::string_view retired : kRetiredPins) {
    const auto path = pin_dir_ / retired;
    if (std::filesystem::remove(path, ec))
      spdlog::info("{}: removed (an earlier version's map, replaced in this one)", path.string());
  }
}

uint32_t Datapath::active_generation() const {
  uint32_t key = 0, gen = 0;
  check_errno(bpf_map_lookup_elem(active_gen_fd(), &key, &gen), "read active_gen");
  return gen;
}

uint64_t Datapath::queued_in(uint32_t gen) const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  auto total = [&](uint32_t idx) {
    std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
    check_errno(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.steer_stats), &idx, per_cpu.data()),
                "read steer_stats");
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    return sum;
  };
  const uint64_t steered = total(2 * gen), begun = total(2 * gen + 1);
  return steered > begun ? steered - begun : 0;
}

void Datapath::drain_generation(uint32_t gen) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + 1s;
  uint64_t queued = queued_in(gen);
  while (queued > never_arrived_[gen]) {
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("config generation {}: {} packets steered under it did not reach their second "
                   "stage within 1 s (a CPUMAP queue overflowed, or its CPU is starved); "
                   "rebuilding it anyway",
                   gen, queued - never_arrived_[gen]);
      break;
    }
    std::this_thread::sleep_for(1ms);
    queued = queued_in(gen);
  }
  // What has not arrived by now never will (dropped at enqueue): the next
  // drain does not wait for it again.
  never_arrived_[gen] = queued;
}

Datapath::Staged Datapath::stage_generation() {
  uint32_t gen = adopted_ || active_.settings ? 1 - active_generation() : 0;
  // Packets steered under `gen` while it was active may still wait in its
  // CPUMAP queues; their second stage must find gen's tables as they were.
  drain_generation(gen);
  Staged st{gen, {}};
  // Every table is created before any is installed: a failed creation
  // leaves the inactive generation as it was.
  for (std::size_t i = 0; i < kGenerationTables.size(); ++i)
    st.tables.*kGenerationTables[i].member = create_inner(generation_shapes_[i]);
  for (const GenerationTable& t : kGenerationTables)
    install_inner(skel_->maps.*t.outer, gen, st.tables.*t.member);
  return st;
}

void Datapath::activate(uint32_t gen) {
  if (gen >= XDPGW_CONFIG_GENERATIONS)
    throw std::out_of_range(fmt::format("config generation {} out of range", gen));
  uint32_t key = 0;
  check_errno(bpf_map_update_elem(active_gen_fd(), &key, &gen, BPF_ANY),
              fmt::format("activate config generation {}", gen));
  refresh_active_cache();
}

ConfigTables Datapath::tables_of(uint32_t gen) const {
  ConfigTables tables;
  for (const GenerationTable& t : kGenerationTables)
    tables.*t.member = inner_of(skel_->maps.*t.outer, gen);
  return tables;
}

void Datapath::refresh_active_cache() { active_ = tables_of(active_generation()); }

std::filesystem::path Datapath::link_pin(uint32_t ifindex) const {
  return pin_dir_ / fmt::format("link_{}", ifindex);
}

void Datapath::attach(uint32_t ifindex, AttachMode mode) {
  if (!pin_dir_.empty()) {
    auto pin = link_pin(ifindex);
    std::error_code ec;
    if (std::filesystem::exists(pin, ec)) {
      UniqueFd link(bpf_obj_get(pin.c_str()));
      if (!link) throw_errno(errno, fmt::format("open pinned link {}", pin.string()));
      check_errno(bpf_link_update(link.get(), dispatcher_fd(), nullptr),
                  fmt::format("move XDP link on ifindex {} to the new dispatcher", ifindex));
      links_.insert_or_assign(ifindex, std::move(link));
      return;
    }
  }
  LIBBPF_OPTS(bpf_link_create_opts, opts,
              .flags = mode == AttachMode::kNative ? XDP_FLAGS_DRV_MODE
                                                   : XDP_FLAGS_SKB_MODE);
  int fd = bpf_link_create(dispatcher_fd(), static_cast<int>(ifindex), BPF_XDP, &opts);
  if (fd < 0)
    throw_errno(fd, fmt::format("attach XDP ({}) to ifindex {}",
                                mode == AttachMode::kNative ? "native" : "generic",
                                ifindex));
  UniqueFd link(fd);
  if (!pin_dir_.empty()) {
    auto pin = link_pin(ifindex);
    if (bpf_obj_pin(link.get(), pin.c_str()) < 0)
      throw_errno(errno, fmt::format("pin XDP link at {}", pin.string()));
  }
  links_.insert_or_assign(ifindex, std::move(link));
}

void Datapath::detach(uint32_t ifindex) {
  UniqueFd link;
  if (auto it = links_.find(ifindex); it != links_.end()) {
    link = std::move(it->second);
    links_.erase(it);
  }
  if (!pin_dir_.empty()) {
    auto pin = link_pin(ifindex);
    if (!link) link = UniqueFd(bpf_obj_get(pin.c_str()));
    std::error_code ec;
    std::filesystem::remove(pin, ec);
  }
  // Detach explicitly: another process may still hold a handle.
  if (link) bpf_link_detach(link.get());
}

std::vector<uint32_t> Datapath::pinned_links() const {
  std::vector<uint32_t> out;
  if (pin_dir_.empty()) return out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pin_dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("link_")) continue;
    uint32_t ifindex = 0;
    auto [p, err] = std::from_chars(name.data() + 5, name.data() + name.size(), ifindex);
    if (err == std::errc() && p == name.data() + name.size()) out.push_back(ifindex);
  }
  return out;
}

void Datapath::remove_everything() {
  std::vector<uint32_t> ifindexes = pinned_links();
  for (const auto& [ifindex, fd] : links_) ifindexes.push_back(ifindex);
  for (uint32_t ifindex : ifindexes) detach(ifindex);
  if (!pin_dir_.empty()) remove_pinned_instance(pin_dir_);
}

int remove_pinned_instance(const std::filesystem::path& pin_dir) {
  int detached = 0;
  std::error_code ec;
  if (!std::filesystem::is_directory(pin_dir, ec)) return 0;
  std::vector<std::filesystem::path> pins;
  for (const auto& entry : std::filesystem::directory_iterator(pin_dir, ec))
    pins.push_back(entry.path());
  for (const auto& pin : pins) {
    if (pin.filename().string().starts_with("link_")) {
      // Detach explicitly: unlinking the pin alone leaves the program
      // attached while any other process still holds the link.
      UniqueFd link(bpf_obj_get(pin.c_str()));
      if (link && bpf_link_detach(link.get()) == 0) ++detached;
    }
    std::filesystem::remove(pin, ec);
    if (ec)
      throw std::system_error(ec, fmt::format("remove pin {}", pin.string()));
  }
  std::filesystem::remove(pin_dir, ec);
  if (ec)
    throw std::system_error(ec, fmt::format("remove pin dir {}", pin_dir.string()));
  // /sys/fs/bpf/xdpgw goes with the last instance (fails while not empty).
  std::filesystem::remove(pin_dir.parent_path(), ec);
  return detached;
}

int Datapath::dispatcher_fd() const { return bpf_program__fd(skel_->progs.xdpgw_dispatch); }
int Datapath::handler_fd(xdpgw_slot slot) const {
  return bpf_program__fd(slot_program(skel_.get(), slot));
}
static_assert(XDPGW_CONFIG_GENERATIONS == 2, "a CPU stage and a CPUMAP per generation");
int Datapath::cpu_stage_fd(uint32_t gen) const {
  return bpf_program__fd(gen == 0 ? skel_->progs.xdpgw_cpu_g0 : skel_->progs.xdpgw_cpu_g1);
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
int Datapath::active_gen_fd() const { return bpf_map__fd(skel_->maps.active_gen); }
int Datapath::tx_ports_fd() const { return bpf_map__fd(skel_->maps.tx_ports); }
int Datapath::cpu_map_fd(uint32_t gen) const {
  return bpf_map__fd(gen == 0 ? skel_->maps.cpu_map_g0 : skel_->maps.cpu_map_g1);
}
int Datapath::kr_routes4_fd() const { return bpf_map__fd(skel_->maps.kr_routes4); }
int Datapath::kr_routes6_fd() const { return bpf_map__fd(skel_->maps.kr_routes6); }
int Datapath::kr_nexthops_fd() const { return bpf_map__fd(skel_->maps.kr_nexthops); }
int Datapath::conn_table_fd() const { return bpf_map__fd(skel_->maps.conn_table); }
int Datapath::conn_stats_fd() const { return bpf_map__fd(skel_->maps.conn_stats); }
int Datapath::embryonic_fd() const { return bpf_map__fd(skel_->maps.lb_embryonic); }
int Datapath::flow_cache_fd() const { return bpf_map__fd(skel_->maps.flow_cache); }
int Datapath::flow_cfg_fd() const { return bpf_map__fd(skel_->maps.flow_cfg); }
int Datapath::lb_flow_cache_fd() const { return bpf_map__fd(skel_->maps.lb_flow_cache); }

std::vector<Datapath::CachedCounts> Datapath::cached_flow_counts() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw_errno(-cpus, "libbpf_num_possible_cpus");
  std::vector<xdpgw_lb_cache_slot> per_cpu(static_cast<size_t>(cpus));
  std::vector<CachedCounts> out;
  for (uint32_t i = 0; i < XDPGW_LB_CACHE_SLOTS; ++i) {
    check_errno(bpf_map_lookup_elem(lb_flow_cache_fd(), &i, per_cpu.data()),
                "read lb_flow_cache");
    for (const xdpgw_lb_cache_slot& slot : per_cpu) {
      if (slot.flow.action == XDPGW_FLOW_NONE || slot.flow.packets == 0) continue;
      out.push_back({.key = slot.key, .packets = slot.flow.packets, .bytes = slot.flow.bytes});
    }
  }
  return out;
}
int Datapath::lb_rings_fd() const { return bpf_map__fd(skel_->maps.lb_rings); }
int Datapath::vip_stats_fd() const { return bpf_map__fd(skel_->maps.vip_stats); }
int Datapath::synproxy_stats_fd() const { return bpf_map__fd(skel_->maps.synproxy_stats); }
int Datapath::synproxy_active_fd() const { return bpf_map__fd(skel_->maps.synproxy_active); }
int Datapath::rl_buckets_fd() const { return bpf_map__fd(skel_->maps.rl_buckets); }
int Datapath::rl_stats_fd() const { return bpf_map__fd(skel_->maps.rl_stats); }
int Datapath::acl_stats_fd() const { return bpf_map__fd(skel_->maps.acl_stats); }
int Datapath::snat_flows_fd() const { return bpf_map__fd(skel_->maps.snat_flows); }
int Datapath::snat_ports_fd() const { return bpf_map__fd(skel_->maps.snat_ports); }
int Datapath::snat_stats_fd() const { return bpf_map__fd(skel_->maps.snat_stats); }
void Datapath::reset_acl_stats(std::span<const uint32_t> slots) const {
  const int cpus = check_errno(libbpf_num_possible_cpus(), "libbpf_num_possible_cpus");
  const std::vector<xdpgw_counter> zero(static_cast<std::size_t>(cpus));
  for (uint32_t slot : slots)
    check_errno(bpf_map_update_elem(acl_stats_fd(), &slot, zero.data(), BPF_EXIST),
                fmt::format("zero acl_stats[{}]", slot));
}
int Datapath::backend_stats_fd() const { return bpf_map__fd(skel_->maps.backend_stats); }
int Datapath::events_fd() const { return bpf_map__fd(skel_->maps.events); }
int Datapath::capture_events_fd() const { return bpf_map__fd(skel_->maps.capture_events); }
int Datapath::capture_cfg_fd() const { return bpf_map__fd(skel_->maps.capture_cfg); }
int Datapath::capture_stats_fd() const { return bpf_map__fd(skel_->maps.capture_stats); }
int Datapath::event_stats_fd() const { return bpf_map__fd(skel_->maps.event_stats); }
int Datapath::xsks_fd() const { return bpf_map__fd(skel_->maps.xsks); }
int Datapath::xsk_slots_fd() const { return bpf_map__fd(skel_->maps.xsk_slots); }

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

void Datapath::install_ring(uint32_t slot, std::span<const uint32_t> entries) {
  if (entries.empty() || entries.size() > XDPGW_MAGLEV_MAX_SIZE)
    throw std::invalid_argument(
        fmt::format("Maglev table of {} entries (1..{})", entries.size(), XDPGW_MAGLEV_MAX_SIZE));
  // lb_rings' template carries BPF_F_INNER_MAP: rings of any size fit.
  UniqueFd ring = create_inner(ring_shape_, static_cast<uint32_t>(entries.size()));
  std::vector<uint32_t> keys(entries.size());
  for (uint32_t i = 0; i < keys.size(); ++i) keys[i] = i;
  // One syscall for the whole table; rings are rebuilt on every health
  // change, and 65537 single updates would take tens of milliseconds.
  uint32_t count = static_cast<uint32_t>(entries.size());
  LIBBPF_OPTS(bpf_map_batch_opts, batch_opts);
  check_errno(bpf_map_update_batch(ring.get(), keys.data(), entries.data(), &count, &batch_opts),
              fmt::format("fill Maglev table for slot {}", slot));
  int fd = ring.get();
  check_errno(bpf_map_update_elem(lb_rings_fd(), &slot, &fd, BPF_ANY),
              fmt::format("install Maglev table at slot {}", slot));
}

void Datapath::remove_ring(uint32_t slot) {
  if (bpf_map_delete_elem(lb_rings_fd(), &slot) != 0 && errno != ENOENT)
    throw_errno(errno, fmt::format("remove Maglev table at slot {}", slot));
}

std::vector<uint32_t> Datapath::read_ring(uint32_t slot) const {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(lb_rings_fd(), &slot, &id) != 0) return {};
  UniqueFd ring(bpf_map_get_fd_by_id(id));
  if (!ring) throw_errno(errno, fmt::format("open Maglev table at slot {}", slot));
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  check_errno(bpf_obj_get_info_by_fd(ring.get(), &info, &len), "inspect Maglev table");
  std::vector<uint32_t> out(info.max_entries);
  for (uint32_t i = 0; i < out.size(); ++i)
    check_errno(bpf_map_lookup_elem(ring.get(), &i, &out[i]), "read Maglev table");
  return out;
}

void write_settings(int settings_fd, const xdpgw_settings& s) {
  uint32_t key = 0;
  check_errno(bpf_map_update_elem(settings_fd, &key, &s, BPF_ANY), "write settings");
}

void Datapath::write_settings(const xdpgw_settings& s) {
  xdpgw::write_settings(settings_fd(), s);
}

xdpgw_settings Datapath::read_settings() const {
  uint32_t key = 0;
  xdpgw_settings s{};
  check_errno(bpf_map_lookup_elem(settings_fd(), &key, &s), "read settings");
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
