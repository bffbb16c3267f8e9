#include "daemon/gateway.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <system_error>

#include "daemon/lb_observe.hpp"
#include "daemon/reload_rules.hpp"
#include "datapath/link_check.hpp"
#include "datapath/netdev.hpp"
#include "datapath/probe.hpp"

namespace xdpgw::daemon {
namespace {

AttachMode to_attach_mode(config::AttachMode m) {
  return m == config::AttachMode::kGeneric ? AttachMode::kGeneric : AttachMode::kNative;
}

// Ports that were attached by an earlier run but are not in this config.
void detach_unconfigured_ports(Datapath& dp, const config::Config& cfg) {
  std::set<uint32_t> configured;
  for (const auto& p : cfg.ports) configured.insert(p.ifindex);
  for (uint32_t ifindex : dp.pinned_links()) {
    if (configured.contains(ifindex)) continue;
    dp.detach(ifindex);
    spdlog::info("ifindex {}: no longer a port, detached", ifindex);
  }
}

// Proxy VIPs need what the start probe may have found missing (an sk_skb
// stream verdict on a SOCKHASH): a config with them is refused, naming the
// VIP and where to look, rather than failing inside the proxy.
std::optional<std::string> unsupported_by_kernel(const config::Config& cfg,
                                                 const KernelSupport& kernel) {
  if (kernel.usable.proxy) return std::nullopt;
  for (const auto& vip : cfg.lb.vips)
    if (vip.mode == config::LbMode::kProxy)
      return fmt::format("VIP {}: proxy mode needs an sk_skb stream verdict on a SOCKHASH, which "
                         "kernel {} refuses (the line above; `xdpgw check --kernel`); use mode = "
                         "\"nat\" or \"dsr\"", vip.name, kernel.kernel_release);
  return std::nullopt;
}

// The datapath for `cfg`, unless the kernel lacks what one of its VIPs
// needs: then nothing is loaded.
Datapath make_datapath(const config::Config& cfg, const RunOptions& opts,
                       const KernelSupport& kernel) {
  if (auto why = unsupported_by_kernel(cfg, kernel)) throw std::runtime_error(*why);
  const auto pins = pin_dir(cfg.gateway.instance);
  if (opts.fresh) {
    int detached = remove_pinned_instance(pins);
    spdlog::info("instance {}: --fresh: removed earlier pins ({} links detached)",
                 cfg.gateway.instance, detached);
  }
  return Datapath(LoadOptions{
      .pin_dir = pins,
      .conn_table_size = cfg.lb.conn_table_size,
      .embryonic_table_size = cfg.lb.embryonic_table_size,
      .features = kernel.features,
      .load_log = std::filesystem::path(kRunDir) / (cfg.gateway.instance + ".load.log")});
}

}  // namespace

KernelView KernelView::read(const config::Config& cfg) {
  KernelView view;
  for (const auto& a : netdev::local_addresses()) view.local_addresses.insert({a.family, a.addr});
  for (const auto& p : cfg.ports) {
    if (!netdev::ifindex(p.name)) continue;  // gone: follow_ports() reports it
    const netdev::Interface dev = netdev::describe(p.name);
    view.ports[dev.ifindex] = {dev.mac, dev.mtu};
  }
  return view;
}

Gateway::Gateway(boost::asio::io_context& io, std::string config_path, config::Config cfg,
                 const RunOptions& opts)
    : config_path_(std::move(config_path)),
      cfg_(std::move(cfg)),
      log_level_from_command_line_(opts.log_level_from_command_line),
      kernel_(probe_kernel_support()),
      dp_(make_datapath(cfg_, opts, kernel_)),
      lb_(io, dp_, cfg_, [this] { return missing_port(); }),
      flood_watch_(io, dp_, cfg_, lb_.runtime()),
      pipeline_(io, dp_, kernel_.usable.af_xdp),
      captures_(dp_, pipeline_),
      events_(io, dp_),
      route_mirror_(io, routing::MirrorMaps{.routes4 = dp_.kr_routes4_fd(),
                                            .routes6 = dp_.kr_routes6_fd(),
                                            .nexthops = dp_.kr_nexthops_fd()}),
      exporter_(io, dp_.flow_cache_fd(), dp_.conn_table_fd()),
      snat_(io, dp_, cfg_),
      // Subscribed before the first apply: a change while it runs is then
      // seen (twice at worst, which is harmless).
      kernel_watch_(
          io, [this](const KernelChanges& c, const std::string& cause) {
            return sync_with_kernel(c, cause);
          },
          [this](uint32_t ifindex) { return port_name(ifindex); },
          std::chrono::milliseconds(cfg_.gateway.resync_interval_ms)) {
  // ACL hit counters follow rule names from one config to the next, which
  // an earlier run's pinned counters may not have been laid out by: they
  // start again from 0 (a counter reset, as a restart is anyway).
  if (dp_.adopted()) {
    std::vector<uint32_t> all(config::kMaxAclRules);
    for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    dp_.reset_acl_stats(all);
  }
  spdlog::info("instance {}: datapath {} (dispatcher prog id {}), maps pinned in {}",
               cfg_.gateway.instance, dp_.adopted() ? "adopted from pins" : "loaded",
               dp_.dispatcher_id(), dp_.pin_dir().string());
  apply_config(cfg_, /*initial=*/true);
  pipeline_.start(cfg_.punt);
  lb_.start(cfg_.gateway.instance);
  sync_route_mirror();
  exporter_.configure(cfg_.flow_export);
}

ReloadResult Gateway::reload() {
  ++reloads_.attempts;
  reloads_.last_attempt = std::chrono::system_clock::now();
  auto loaded = load_config(config_path_);
  if (!loaded) return refuse(config::to_string(loaded.errors()));
  config::Config& next = loaded.value();
  // Before comparing: a rule that only moved keeps its counter's slot.
  const std::vector<uint32_t> fresh_acl_slots =
      config::keep_acl_stats_slots(cfg_.policy.acl, next.policy.acl);
  if (auto why = needs_restart(cfg_, next, config_path_)) return refuse(std::move(*why));
  if (auto why = unsupported_by_kernel(next, kernel_)) return refuse(std::move(*why));
  // The log level is the daemon's, not the datapath's: a change of only
  // that applies no new generation.
  const bool level_changed = next.control.log_level != cfg_.control.log_level;
  if (level_changed) set_log_level(next.control.log_level);
  if (next == cfg_ || (level_changed && same_except_log_level(next, cfg_))) {
    cfg_.control.log_level = next.control.log_level;
    return accept(level_changed ? fmt::format("log level {}", next.control.log_level)
                                : std::string("config unchanged"));
  }
  try {
    dp_.reset_acl_stats(fresh_acl_slots);
    apply_config(next, /*initial=*/false);
  } catch (const std::exception& e) {
    if (level_changed) set_log_level(cfg_.control.log_level);  // refused means unchanged
    return refuse(fmt::format("apply failed, running config kept: {}", e.what()));
  }
  const config::Punt punt_before = cfg_.punt;
  cfg_ = next;
  exporter_.configure(cfg_.flow_export);
  lb_.sync();
  try {
    sync_route_mirror();
  } catch (const std::exception& e) {
    // The generation is live; only the mirror's tables lag (its packets go
    // to the kernel: pass_no_route). The next reload tries again.
    spdlog::error("routing: kernel route mirror did not start: {}", e.what());
  }
  pipeline_.reconfigure(punt_before, cfg_.punt);
  kernel_watch_.set_resync_interval(std::chrono::milliseconds(cfg_.gateway.resync_interval_ms));
  return accept(fmt::format("config applied as generation {}", state_.generation));
}

void Gateway::apply_config(const config::Config& next, bool initial) {
  // Attach new ports first: their links only run the dispatcher, which
  // passes their traffic to the kernel until the new generation names them
  // as ports.
  std::set<uint32_t> previously;
  for (uint32_t i : dp_.pinned_links()) previously.insert(i);
  for (const auto& p : next.ports) {
    bool had_link = previously.contains(p.ifindex);
    if (!initial && had_link) continue;
    attach_port(p, next.gateway.attach_mode);
    spdlog::info("port {} (ifindex {}): {}, {} mode", p.name, p.ifindex,
                 had_link ? "link adopted and moved to the new program" : "attached",
                 config::to_string(next.gateway.attach_mode));
  }
  // Read before the apply: a change while it runs is then seen as a
  // difference by the next event or resync, never lost.
  KernelView view = KernelView::read(next);
  state_ = apply(dp_, next, lb_.runtime());
  applied_view_ = std::move(view);
  snat_.configure(next.nat);
  if (next.nat.enabled())
    spdlog::info("source NAT: {} rules", next.nat.rules.size());
  lb_.warm_backend_neighbours();
  spdlog::info("config applied as generation {}: {} ports, route source {}, {} static routes, "
               "steering {}",
               state_.generation, next.ports.size(), config::to_string(next.routing.source),
               next.routing.routes.size(),
               next.steering.enabled() ? fmt::format("on ({} cpus)", next.steering.cpus.size())
                                       : std::string("off"));
  if (!next.lb.vips.empty())
    spdlog::info("load balancer: {} VIPs, connection table of {} entries", next.lb.vips.size(),
                 next.lb.conn_table_size);
  detach_unconfigured_ports(dp_, next);
  for (const auto& p : next.ports) {
    try {
      if (auto warning = link_check::redirect_target_warning(p.name, p.ifindex))
        spdlog::warn("{}", *warning);
    } catch (const std::exception& e) {
      spdlog::warn("port {}: could not check its veth peer: {}", p.name, e.what());
    }
  }
}

// A port where native XDP does not attach is named in the probe's one line,
// with what to do, rather than as a bare errno.
void Gateway::attach_port(const config::Port& p, config::AttachMode mode) {
  try {
    dp_.attach(p.ifindex, to_attach_mode(mode));
  } catch (const std::system_error& e) {
    if (mode != config::AttachMode::kNative) throw;
    probe::Finding f{.feature = &probe::native_xdp_feature(),
                     .status = probe::Status::kMissing,
                     .subject = p.name,
                     .reason = e.what(),
                     .detail = {}};
    throw std::runtime_error(f.line(kernel_.kernel_release));
  }
}

bool Gateway::sync_with_kernel(const KernelChanges& changes, const std::string& cause) {
  bool changed = false;
  if (changes.links) changed = follow_ports(cause) || changed;
  // With a port missing an apply would fail; its return re-applies.
  if ((changes.links || changes.addresses) && missing_ports_.empty()) {
    KernelView now = KernelView::read(cfg_);
    if (now != applied_view_) {
      spdlog::info("{}: {} changed; applying the config again", cause,
                   now.local_addresses != applied_view_.local_addresses
                       ? "the local addresses"
                       : "a port's MAC or MTU");
      apply_config(cfg_, /*initial=*/false);
      changed = true;
    }
  }
  if (changes.neighbours || changes.links) {
    lb_.warm_backend_neighbours();
    if (int n = refresh_nexthops(state_); n > 0) {
      spdlog::info("nexthops: {} updated from the neighbour table ({})", n, cause);
      changed = true;
    }
  }
  if (changes.links) lb_.update_announcements();
  return changed;
}

// Ports are configured by name. One that disappears (driver reload, veth
// deleted) takes its XDP link with it; the other ports keep forwarding.
// When an interface of that name is back, under whatever ifindex, the
// running config is applied again with the new ifindex, which attaches XDP
// to it.
bool Gateway::follow_ports(const std::string& cause) {
  std::map<std::string, uint32_t> renumbered;
  bool changed = false;
  for (const auto& p : cfg_.ports) {
    const std::optional<uint32_t> ifindex = netdev::ifindex(p.name);
    const bool was_missing = missing_ports_.contains(p.name);
    if (!ifindex) {
      if (!was_missing) {
        spdlog::warn("port {} (ifindex {}) disappeared; the other ports keep forwarding, it is "
                     "re-attached when it returns", p.name, p.ifindex);
        missing_ports_.insert(p.name);
        pipeline_.port_gone(p.name);
        changed = true;
      }
      continue;
    }
    if (*ifindex != p.ifindex) {
      renumbered[p.name] = *ifindex;
    } else if (was_missing) {
      missing_ports_.erase(p.name);  // back under the same ifindex: link intact
      pipeline_.port_back();
      changed = true;
    }
  }
  if (renumbered.empty()) return changed;
  const auto started = std::chrono::steady_clock::now();
  config::Config next = cfg_;
  for (auto& p : next.ports)
    if (auto it = renumbered.find(p.name); it != renumbered.end()) p.ifindex = it->second;
  for (auto& r : next.routing.routes)
    if (auto it = renumbered.find(r.port); it != renumbered.end()) r.ifindex = it->second;
  try {
    apply_config(next, /*initial=*/false);
  } catch (const std::exception& e) {
    spdlog::error("re-attaching returned ports failed, the resync retries: {}", e.what());
    return true;
  }
  cfg_ = next;
  const double took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  try {
    sync_route_mirror();
  } catch (const std::exception& e) {
    spdlog::error("routing: kernel route mirror: {}", e.what());
  }
  for (const auto& [name, ifindex] : renumbered) {
    missing_ports_.erase(name);
    ++reattached_by_[cause];
    last_reattach_ = {{"port", name}, {"ifindex", ifindex}, {"by", cause},
                      {"apply_ms", took_ms},
                      {"at", std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()}};
    spdlog::info("port {} is back as ifindex {}: XDP attached, config re-applied ({}, {:.1f} ms)",
                 name, ifindex, cause, took_ms);
    // Gone and back between two looks: the pipeline's socket there is dead.
    pipeline_.port_gone(name);
    pipeline_.port_back();
  }
  return true;
}

std::optional<std::string> Gateway::port_name(uint32_t ifindex) const {
  for (const auto& p : cfg_.ports)
    if (p.ifindex == ifindex) return p.name;
  return std::nullopt;
}

std::optional<std::string> Gateway::missing_port() const {
  if (missing_ports_.empty()) return std::nullopt;
  return *missing_ports_.begin();
}

// routing.source = "kernel": the route mirror follows the running config:
// on with "kernel" (and told the ports), off and its tables emptied with
// any other source, after the generation switched.
void Gateway::sync_route_mirror() {
  if (cfg_.routing.source != config::RouteSource::kKernel) {
    route_mirror_.disable();
    return;
  }
  std::set<uint32_t> ports;
  for (const auto& p : cfg_.ports) ports.insert(p.ifindex);
  route_mirror_.enable(std::move(ports), std::chrono::milliseconds(cfg_.routing.resync_interval_ms),
                       (dp_.features() & XDPGW_FEAT_FIB) != 0);
}

// [control] log_level, unless --log-level on the command line decided.
void Gateway::set_log_level(const std::string& level) const {
  if (log_level_from_command_line_) return;
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::info("log level {} ([control] log_level)", level);
}

ReloadResult Gateway::refuse(std::string why) {
  ++reloads_.failures;
  reloads_.last_ok = false;
  reloads_.last_message = why;
  spdlog::error("reload refused: {}", why);
  return {false, std::move(why)};
}

ReloadResult Gateway::accept(std::string what) {
  reloads_.last_ok = true;
  reloads_.last_success = reloads_.last_attempt;
  reloads_.last_message = what;
  spdlog::info("reload: {}", what);
  return {true, std::move(what)};
}

nlohmann::json Gateway::status() const {
  nlohmann::json s = status_json(cfg_, config_path_, dp_, reloads_);
  for (const auto& line : kernel_.degraded) s["warnings"].push_back(line);
  lb_.status(s);
  flood_watch_.status(s["lb"]);
  pipeline_.status(s);
  if (route_mirror_.enabled()) s["route_mirror"] = route_mirror_.status();
  if (cfg_.flow_export.enabled()) s["flow_export"] = exporter_.status();
  nlohmann::json watch = kernel_watch_.status();
  watch["missing_ports"] = missing_ports_;
  watch["reattached"] = reattached_by_;
  if (!last_reattach_.is_null()) watch["last_reattach"] = last_reattach_;
  s["kernel_events"] = std::move(watch);
  return s;
}

nlohmann::json Gateway::stats(bool all) const {
  nlohmann::json s = stats_json(dp_.verdict_stats_fd(), dp_.handler_stats_fd(), all);
  s["instance"] = cfg_.gateway.instance;
  s["lb"] = lb_.json();
  s["policy"] = policy_stats_json(cfg_, dp_);
  s["snat"] = snat_.stats();
  return s;
}

nlohmann::json Gateway::flows(size_t limit) const {
  nlohmann::json f = flows_json(dp_, limit);
  if (lb_.proxy().enabled()) f["proxied"] = lb_.proxy().flows(limit);
  f["snat"] = snat_.flows(limit);
  return f;
}

std::vector<control::MetricFamily> Gateway::metric_families() const {
  auto out = metrics(cfg_, dp_, reloads_);
  lb_.metrics(out);
  flood_watch_.metrics(out);
  pipeline_.metrics(out);
  if (route_mirror_.enabled())
    for (auto& f : route_mirror_.metrics()) out.push_back(std::move(f));
  for (auto& f : exporter_.metrics()) out.push_back(std::move(f));
  snat_.metrics(out);
  kernel_watch_.metrics(out);
  control::MetricFamily reattached{
      .name = "xdpgw_port_reattached_total",
      .help = "Ports re-attached after they came back, by what noticed (link event or resync).",
      .type = "counter",
      .samples = {}};
  for (const char* by : {"link event", "resync"}) {
    auto it = reattached_by_.find(by);
    reattached.samples.push_back(
        {{{"by", by}}, static_cast<double>(it == reattached_by_.end() ? 0 : it->second)});
  }
  out.push_back(std::move(reattached));
  for (auto& f : periodic_metrics({&pipeline_.restart_job(), &lb_.announce_job(), &flood_watch_.job(),
                                   &events_.summary_job(), &kernel_watch_.resync_job(), &snat_.job()}))
    out.push_back(std::move(f));
  return out;
}

}  // namespace xdpgw::daemon
