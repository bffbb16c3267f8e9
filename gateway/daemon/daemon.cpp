#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <fstream>
#include <functional>
#include <set>
#include <system_error>
#include <thread>

#include "announce/announcer.hpp"
#include "common/error.hpp"
#include "datapath/apply.hpp"
#include "daemon/drop_capture.hpp"
#include "datapath/probe.hpp"
#include "daemon/pipeline_observe.hpp"
#include "datapath/events.hpp"
#include "pipeline/from_config.hpp"
#include "pipeline/pipeline.hpp"
#include "datapath/datapath.hpp"
#include "datapath/link_check.hpp"
#include "datapath/neigh.hpp"
#include "datapath/netdev.hpp"
#include "datapath/rtnl.hpp"
#include "control/control_server.hpp"
#include "control/metrics.hpp"
#include "daemon/service_notify.hpp"
#include "daemon/lb_observe.hpp"
#include "daemon/observe.hpp"
#include "lb/health.hpp"
#include "lb/health_config.hpp"
#include "proxy/proxy.hpp"
#include "routing/route_mirror.hpp"

namespace xdpgw::daemon {
namespace {

AttachMode to_attach_mode(config::AttachMode m) {
  return m == config::AttachMode::kGeneric ? AttachMode::kGeneric
                                           : AttachMode::kNative;
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

}  // namespace

std::filesystem::path pin_dir(const std::string& instance) {
  return std::filesystem::path(kPinRoot) / instance;
}

std::filesystem::path lock_path(const std::string& instance) {
  return std::filesystem::path(kRunDir) / (instance + ".lock");
}

InstanceLock::InstanceLock(const std::string& instance) : path_(lock_path(instance)) {
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  if (ec) throw std::system_error(ec, fmt::format("create {}", path_.parent_path().string()));
  fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd_) throw_errno(errno, fmt::format("open lock {}", path_.string()));
  if (flock(fd_.get(), LOCK_EX | LOCK_NB) < 0) {
    auto pid = running_pid(instance);
    throw std::runtime_error(fmt::format(
        "instance {} is already running{} (lock {})", instance,
        pid ? fmt::format(" as pid {}", *pid) : std::string(), path_.string()));
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd_.get(), 0) < 0 || pwrite(fd_.get(), pid.data(), pid.size(), 0) < 0)
    throw_errno(errno, fmt::format("write pid to {}", path_.string()));
}

InstanceLock::~InstanceLock() {
  if (!fd_) return;
  // Empty the pid before releasing, so a reader never sees a stale pid
  // without the lock.
  if (ftruncate(fd_.get(), 0) < 0)
    spdlog::warn("truncate {}: {}", path_.string(), std::error_code(errno, std::generic_category()).message());
}

std::optional<pid_t> running_pid(const std::string& instance) {
  auto path = lock_path(instance);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  // Not running if the lock can be taken.
  if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;
  std::ifstream in(path);
  pid_t pid = 0;
  if (in >> pid && pid > 0) return pid;
  return std::nullopt;
}

std::optional<uint32_t> SystemEnvironment::ifindex(std::string_view name) const {
  return netdev::ifindex(name);
}

config::Result<config::Config> load_config(const std::string& path) {
  auto raw = config::parse(path);
  if (!raw) return raw.errors();
  return config::validate(raw.value(), SystemEnvironment{});
}

namespace {

// The running service: owns the datapath and the applied config, and
// changes both only through apply_config, at start and on every reload.
// What this kernel offers the datapath, probed at start by loading tiny
// programs (datapath/probe.hpp): one line per missing feature, the knobs the
// programs are loaded with, and what status keeps warning about.
struct KernelSupport {
  uint32_t features = XDPGW_FEAT_ALL;
  probe::Usable usable;
  std::vector<std::string> degraded;  // the line of each optional feature that is off
  std::string kernel_release;
};

KernelSupport probe_kernel_support() {
  const probe::Report report = probe::probe_kernel(probe::DenyList::from_env());
  KernelSupport ks;
  ks.kernel_release = report.kernel_release;
  bool required_missing = false;
  for (const auto& f : report.findings) {
    const probe::Use use = f.feature->use;
    if (!f.missing() || use == probe::Use::kTests || use == probe::Use::kBenchGenerator ||
        use == probe::Use::kNothing)
      continue;
    const std::string line = f.line(report.kernel_release);
    if (f.feature->required()) {
      spdlog::error("{}", line);
      required_missing = true;
    } else {
      spdlog::warn("{}", line);
      ks.degraded.push_back(line);
    }
  }
  if (required_missing)
    throw std::runtime_error(fmt::format(
        "kernel {} lacks what the XDP datapath needs (the lines above; `xdpgw check --kernel` "
        "checks a machine without starting anything)",
        report.kernel_release));
  ks.usable = probe::usable(report);
  ks.features = (ks.usable.events ? XDPGW_FEAT_EVENTS : 0u) |
                (ks.usable.drop_capture ? XDPGW_FEAT_CAPTURE : 0u) |
                (ks.usable.fib ? XDPGW_FEAT_FIB : 0u) | (ks.usable.acl ? XDPGW_FEAT_ACL : 0u) |
                (ks.usable.steering ? XDPGW_FEAT_STEERING : 0u);
  return ks;
}

class Gateway {
 public:
  Gateway(std::string config_path, config::Config cfg, const RunOptions& opts)
      : config_path_(std::move(config_path)),
        cfg_(std::move(cfg)),
        log_level_from_command_line_(opts.log_level_from_command_line),
        kernel_(probe_kernel_support()),
        dp_(make_datapath(cfg_, opts, kernel_.features)) {
    lb_.adopt(dp_, cfg_);
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
    start_pipeline(cfg_);
  }

  ~Gateway() { stop_pipeline(); }

  // Re-reads the config file. Any failure — parse, validation, a change
  // that needs a restart, the kernel refusing a map — leaves the running
  // generation in place.
  ReloadResult reload() {
    ++reloads_.attempts;
    reloads_.last_attempt = std::chrono::system_clock::now();
    auto loaded = load_config(config_path_);
    if (!loaded) return refuse(config::to_string(loaded.errors()));
    config::Config& next = loaded.value();
    // Before comparing: a rule that only moved keeps its counter's slot.
    const std::vector<uint32_t> fresh_acl_slots = config::keep_acl_stats_slots(cfg_.policy.acl, next.policy.acl);
    if (next.gateway.instance != cfg_.gateway.instance)
      return refuse(fmt::format("{}: gateway.instance cannot change on reload ({} -> {}); restart",
                                config_path_, cfg_.gateway.instance, next.gateway.instance));
    if (next.gateway.netns != cfg_.gateway.netns)
      return refuse(fmt::format("{}: gateway.netns cannot change on reload; restart", config_path_));
    if (next.lb.conn_table_size != cfg_.lb.conn_table_size)
      return refuse(fmt::format("{}: lb.conn_table_size cannot change on reload ({} -> {}); "
                                "restart with --fresh (it drops the connection table)",
                                config_path_, cfg_.lb.conn_table_size, next.lb.conn_table_size));
    if (!same_except_log_level(next.control, cfg_.control))
      return refuse(fmt::format("{}: [control] (socket, metrics) cannot change on reload; restart",
                                config_path_));
    if (next.announce != cfg_.announce)
      return refuse(fmt::format("{}: [announce] cannot change on reload; restart (the VIPs are "
                                "withdrawn on stop and announced again when ready)", config_path_));
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
    const bool punt_changed = next.punt != cfg_.punt;
    const bool only_punt_rules_changed = punt_changed && same_except_rules(next.punt, cfg_.punt);
    cfg_ = next;
    sync_health();
    sync_proxy();
    try {
      sync_route_mirror();
    } catch (const std::exception& e) {
      // The generation is live; only the mirror's tables lag (its packets
      // go to the kernel: pass_no_route). The next reload tries again.
      spdlog::error("routing: kernel route mirror did not start: {}", e.what());
    }
    update_announcements();
    if (punt_changed && !(only_punt_rules_changed && replace_punt_rules())) {
      // The rules are already live in XDP; until the new pipeline is up,
      // punted packets take their rule's fallback.
      stop_pipeline();
      start_pipeline(cfg_);
    }
    return accept(fmt::format("config applied as generation {}", state_.generation));
  }

  // Ports are configured by name. One that disappears (driver reload,
  // veth deleted) takes its XDP link with it; the other ports keep
  // forwarding. When an interface of that name is back, under whatever
  // ifindex, the running config is applied again with the new ifindex,
  // which attaches XDP to it. Checked on the 1 s maintenance tick.
  void follow_ports() {
    std::map<std::string, uint32_t> now;
    bool changed = false;
    for (const auto& p : cfg_.ports) {
      const std::optional<uint32_t> ifindex = netdev::ifindex(p.name);
      const bool was_missing = missing_ports_.contains(p.name);
      if (!ifindex) {
        if (!was_missing)
          spdlog::warn("port {} (ifindex {}) disappeared; the other ports keep forwarding, "
                       "it is re-attached when it returns", p.name, p.ifindex);
        missing_ports_.insert(p.name);
        stop_pipeline_serving(p.name);
        continue;
      }
      if (*ifindex != p.ifindex) {
        now[p.name] = *ifindex;
        changed = true;
      } else if (was_missing) {
        missing_ports_.erase(p.name);  // back under the same ifindex: link intact
        retry_pipeline_soon();
      }
    }
    if (!changed) return;
    config::Config next = cfg_;
    for (auto& p : next.ports)
      if (auto it = now.find(p.name); it != now.end()) p.ifindex = it->second;
    for (auto& r : next.routing.routes)
      if (auto it = now.find(r.port); it != now.end()) r.ifindex = it->second;
    try {
      apply_config(next, /*initial=*/false);
      cfg_ = next;
      try {
        sync_route_mirror();
      } catch (const std::exception& e) {
        spdlog::error("routing: kernel route mirror: {}", e.what());
      }
      for (const auto& [name, ifindex] : now) {
        missing_ports_.erase(name);
        spdlog::info("port {} is back as ifindex {}: XDP attached, config re-applied", name,
                     ifindex);
        // Gone and back within one tick: the pipeline's socket there is dead.
        stop_pipeline_serving(name);
        retry_pipeline_soon();
      }
    } catch (const std::exception& e) {
      spdlog::error("re-attaching returned ports failed, will retry: {}", e.what());
    }
  }

  // An AF_XDP socket does not survive its interface: when a port the
  // pipeline serves goes, the pipeline stops (its rules fall back in XDP)
  // and heal_pipeline() starts a new one once every port it serves is back.
  void stop_pipeline_serving(const std::string& port) {
    if (!pipeline_) return;
    const auto& served = cfg_.punt.ports;
    if (std::find(served.begin(), served.end(), port) == served.end()) return;
    spdlog::warn("punt: port {} is gone: AF_XDP pipeline stopped, punt rules fall back in XDP "
                 "until it is back", port);
    stop_pipeline();
    pipeline_start_error_ = fmt::format("port {} is gone", port);
  }

  // Maintenance tick: a pipeline that should run but did not start is
  // started again, so a transient failure (a queue still held, a port that
  // is back) does not leave punt rules on their fallbacks until the next
  // reload. One attempt per tick at most, none that waits (the tick shares
  // the event loop with the control socket), and backing off from 1 s to
  // a minute while it keeps failing. (A pipeline that stopped on an error
  // stays stopped, with the error in `xdpgw status`: restarting it could
  // loop on a bug.)
  // A port came back: the next tick tries the pipeline again at once,
  // whatever the backoff had reached while it was gone.
  void retry_pipeline_soon() {
    pipeline_retry_delay_ = kFirstPipelineRetry;
    next_pipeline_attempt_ = {};
  }

  void heal_pipeline() {
    if (!cfg_.punt.enabled() || pipeline_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_pipeline_attempt_) return;
    if (try_start_pipeline(cfg_, std::chrono::milliseconds(0))) {
      spdlog::info("punt: AF_XDP pipeline started after {} failed attempts", pipeline_start_failures_ + 1);
      pipeline_start_failures_ = 0;
      pipeline_retry_delay_ = kFirstPipelineRetry;
      return;
    }
    ++pipeline_start_failures_;
    next_pipeline_attempt_ = now + pipeline_retry_delay_;
    pipeline_retry_delay_ = std::min(pipeline_retry_delay_ * 2, kLastPipelineRetry);
    if (pipeline_retry_delay_ == kLastPipelineRetry)
      spdlog::warn("punt: AF_XDP pipeline still not started after {} attempts, next in {} s: {}",
                   pipeline_start_failures_ + 1, kLastPipelineRetry.count(), pipeline_start_error_);
  }

  int refresh_nexthops() {
    warm_backend_neighbours(cfg_);
    return xdpgw::refresh_nexthops(state_);
  }

  // Backends must have a resolved neighbour before XDP can send to them:
  // when the FIB answers "no neighbour" the packet goes to the kernel, which
  // resolves it for a NAT-rewritten packet but drops a DSR-encapsulated one
  // (its source is our own tunnel address). So the daemon asks the kernel
  // to resolve every backend's next hop, at apply and every refresh.
  static void warm_backend_neighbours(const config::Config& cfg) {
    for (const auto& vip : cfg.lb.vips) {
      for (const auto& be : vip.backends) {
        const int family = be.addr.family == config::IpFamily::kV4 ? AF_INET : AF_INET6;
        try {
          auto hop = rtnl::route_get(family, be.addr.bytes);
          if (!hop) continue;
          neigh::Key key{.family = family, .addr = hop->neighbour, .ifindex = hop->oif};
          if (!neigh::lookup(key)) neigh::request_resolution(key);
        } catch (const std::exception& e) {
          spdlog::warn("VIP {} backend {}: neighbour: {}", vip.name, be.id(), e.what());
        }
      }
    }
  }
  // Where a capture that starts writes: "file" is an absolute path the
  // daemon creates, or "-" for the descriptor that came with the request
  // (the CLI's stdout for `capture -w -`).
  struct CaptureOutput {
    std::unique_ptr<pipeline::PcapngWriter> writer;
    std::string name;  // for the log
  };
  static CaptureOutput capture_output(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
    const auto snaplen = args.value("snaplen", uint32_t{XDPGW_CAPTURE_MAX_SNAPLEN});
    if (snaplen == 0 || snaplen > XDPGW_CAPTURE_MAX_SNAPLEN)
      throw std::runtime_error(fmt::format("snaplen {} out of range 1..{}", snaplen, XDPGW_CAPTURE_MAX_SNAPLEN));
    const std::string file = args.at("file").get<std::string>();
    if (file == "-") {
      if (fds.size() != 1)
        throw std::runtime_error(fmt::format("capture to \"-\" needs one file descriptor with the request, got {}",
                                             fds.size()));
      return {std::make_unique<pipeline::PcapngWriter>(std::move(fds.front()), snaplen), "the client's output"};
    }
    if (file.empty() || file.front() != '/') throw std::runtime_error("capture file must be an absolute path");
    return {std::make_unique<pipeline::PcapngWriter>(file, snaplen), file};
  }

  nlohmann::json capture(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
    const std::string what = args.value("what", "punted");
    if (what == "drops") return capture_drops(args, fds);
    if (what != "punted")
      throw std::runtime_error(fmt::format("cannot capture {:?}: \"punted\" or \"drops\"", what));
    if (!pipeline_) throw std::runtime_error("no AF_XDP pipeline runs ([punt] has no rules): nothing is punted");
    if (args.value("status", false)) {
      // only report
    } else if (args.value("stop", false)) {
      pipeline_->stop_capture();
    } else {
      auto out = capture_output(args, fds);
      pipeline_->start_capture(std::move(out.writer), args.value("count", uint64_t{0}));
      spdlog::info("capture of punted packets into {} started", out.name);
    }
    const auto st = pipeline_->capture_status();
    return {{"running", st.running}, {"records", st.records}, {"error", st.error}};
  }

  // Dropped frames, from XDP's perf buffers (bpf/lib/capture.h). One capture
  // at a time; a finished one is kept until the next starts, for its status.
  nlohmann::json capture_drops(const nlohmann::json& args, std::vector<UniqueFd>& fds) {
    auto to_json = [](const DropCapture::Status& st) -> nlohmann::json {
      return {{"running", st.running}, {"records", st.records}, {"lost", st.lost + st.failed},
              {"error", st.error}, {"reasons", st.reasons}};
    };
    if (!(dp_.features() & XDPGW_FEAT_CAPTURE) && !args.value("stop", false))
      throw std::runtime_error("drop capture is off: this kernel's XDP programs cannot call "
                               "bpf_perf_event_output (see xdpgw status, xdpgw check --kernel)");
    if (args.value("stop", false)) {
      if (!drop_capture_) return to_json({});
      auto st = drop_capture_->status();
      drop_capture_.reset();
      st.running = false;
      spdlog::info("capture of dropped packets stopped: {} written, {} lost", st.records, st.lost);
      return to_json(st);
    }
    if (!args.value("status", false)) {
      if (drop_capture_ && drop_capture_->status().running)
        throw std::runtime_error("a capture of dropped packets is already running");
      auto out = capture_output(args, fds);
      drop_capture_.reset();
      drop_capture_ = std::make_unique<DropCapture>(dp_, std::move(out.writer), args.value("count", uint64_t{0}),
                                                    args.value("snaplen", uint32_t{XDPGW_CAPTURE_MAX_SNAPLEN}));
      spdlog::info("capture of dropped packets into {} started", out.name);
    }
    return to_json(drop_capture_ ? drop_capture_->status() : DropCapture::Status{});
  }


  // ---- XDP events: the daemon is the ring buffer's one consumer (a
  // RINGBUF has a single consumer position) and keeps the latest
  // kEventHistory for `xdpgw events`, which asks for those after a sequence
  // number it got before.
  static constexpr std::size_t kEventHistory = 4096;
  int event_epoll_fd() const { return events_.epoll_fd(); }
  void consume_events() { events_.consume(); }
  nlohmann::json events_after(uint64_t after) const {
    if (!(dp_.features() & XDPGW_FEAT_EVENTS))
      throw std::runtime_error("XDP events are off: this kernel's XDP programs cannot use the "
                               "ring buffer (see xdpgw status, xdpgw check --kernel)");
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [seq, ev] : event_log_)
      if (seq > after) {
        auto j = nlohmann::json::parse(ev.to_json());
        j["seq"] = seq;
        list.push_back(std::move(j));
      }
    return {{"next", next_event_seq_ - 1}, {"events", std::move(list)}};
  }
  // One log line with what arrived since the last summary; nothing when
  // nothing did.
  void log_event_summary() {
    const events::EventCounts c = events::read_counts(dp_.event_stats_fd());
    if (event_types_ == logged_types_ && c.suppressed == logged_counts_.suppressed &&
        c.ring_full == logged_counts_.ring_full)
      return;
    std::string by_type;
    for (const auto& [type, n] : event_types_)
      by_type += fmt::format("{}{} {}", by_type.empty() ? "" : ", ", type, n - logged_types_[type]);
    spdlog::info("events: {}; suppressed by the rate cap {}, ring full {}", by_type.empty() ? "none" : by_type,
                 c.suppressed - logged_counts_.suppressed, c.ring_full - logged_counts_.ring_full);
    logged_types_ = event_types_;
    logged_counts_ = c;
  }
  const config::Config& config() const { return cfg_; }

  nlohmann::json status() const {
    nlohmann::json s = status_json(cfg_, config_path_, dp_, reloads_);
    for (const auto& line : kernel_.degraded) s["warnings"].push_back(line);
    s["lb"] = lb_json(cfg_, dp_, lb_);
    if (pipeline_)
      s["pipeline"] = pipeline_json(*pipeline_);
    else if (!pipeline_start_error_.empty())
      s["pipeline"] = failed_pipeline_json(pipeline_start_error_);
    if (announcer_ != nullptr) s["announce"] = announcer_->status();
    if (route_mirror_ != nullptr && route_mirror_->enabled())
      s["route_mirror"] = route_mirror_->status();
    if (proxy_ != nullptr && proxy_->enabled()) s["proxy"] = proxy_->status();
    return s;
  }
  nlohmann::json stats(bool all) const {
    nlohmann::json s = stats_json(dp_.verdict_stats_fd(), dp_.handler_stats_fd(), all);
    s["instance"] = cfg_.gateway.instance;
    s["lb"] = lb_json(cfg_, dp_, lb_);
    s["policy"] = policy_stats_json(cfg_, dp_);
    return s;
  }
  nlohmann::json flows(size_t limit) const {
    nlohmann::json f = flows_json(dp_, limit);
    if (proxy_ != nullptr && proxy_->enabled()) f["proxied"] = proxy_->flows(limit);
    return f;
  }
  std::vector<control::MetricFamily> metric_families() const {
    auto out = metrics(cfg_, dp_, reloads_);
    for (auto& f : lb_metrics(cfg_, dp_, lb_)) out.push_back(std::move(f));
    if (pipeline_)
      for (auto& f : pipeline_metrics(*pipeline_)) out.push_back(std::move(f));
    else if (!pipeline_start_error_.empty())
      out.push_back(pipeline_up_metric(false));
    if (announcer_ != nullptr)
      for (auto& f : announcer_->metrics()) out.push_back(std::move(f));
    if (route_mirror_ != nullptr && route_mirror_->enabled())
      for (auto& f : route_mirror_->metrics()) out.push_back(std::move(f));
    if (proxy_ != nullptr && proxy_->enabled())
      for (auto& f : proxy_->metrics()) out.push_back(std::move(f));
    return out;
  }

  // Operator drain: the backend gets no new flows of the VIP; its
  // established flows keep going (they are in the connection table).
  std::string set_drained(const std::string& vip_name, const std::string& backend, bool drained) {
    const config::Vip& vip = find_vip(vip_name);
    const config::Backend& be = find_backend(vip, backend);
    lb_.set_drained(vip.name, be.id(), drained);
    size_t usable = rebuild_ring(dp_, dp_.active_generation(), vip, lb_);
    if (proxy_ != nullptr) proxy_->rebuild(vip.name);
    std::string what = fmt::format("VIP {} backend {} {}; {} of {} backends take new flows",
                                   vip.name, be.id(), drained ? "drained" : "undrained", usable,
                                   vip.backends.size());
    spdlog::info("{}", what);
    update_announcements();
    return what;
  }

  // BGP announcements ([announce]); the announcer is owned by run(), like
  // the health checker, because it lives on the io_context.
  void attach_announcer(announce::Announcer* announcer) {
    announcer_ = announcer;
    update_announcements();
  }
  announce::Announcer* announcer() const { return announcer_; }

  // Tells the announcer which VIPs this instance can serve right now.
  void update_announcements() {
    if (announcer_ == nullptr) return;
    announcer_->update(vip_readiness());
  }

  // A VIP is servable here while every port is attached and at least one
  // backend takes new flows. With a health check, "takes new flows" also
  // needs a completed check: a starting instance keeps Maglev tables full
  // (initial state "up", so a restart does not drop flows), but it must not
  // attract new traffic on a guess.
  std::vector<announce::VipReadiness> vip_readiness() const {
    std::vector<announce::VipReadiness> out;
    for (const auto& vip : cfg_.lb.vips) {
      announce::VipReadiness r{.name = vip.name, .addr = vip.addr};
      size_t usable = 0, unconfirmed = 0;
      for (const auto& be : vip.backends) {
        if (lb_.effective_weight(vip, be) == 0) continue;
        if (vip.health_check && health_ != nullptr) {
          auto st = health_->status(lb::health_target_id(vip.name, be.id()));
          if (st && st->last_result.empty()) {
            ++unconfirmed;
            continue;
          }
        }
        ++usable;
      }
      if (!missing_ports_.empty()) {
        r.why = fmt::format("port {} is missing", *missing_ports_.begin());
      } else if (usable > 0) {
        r.servable = true;
        r.why = fmt::format("{} of {} backends usable", usable, vip.backends.size());
      } else if (unconfirmed > 0) {
        r.why = "waiting for the first health checks";
      } else {
        r.why = "no usable backend (down, drained or weight 0)";
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  // routing.source = "kernel": the route mirror runs on the daemon's
  // io_context and is owned by run(), like the health checker. It follows
  // the running config: on with "kernel" (and told the ports), off and its
  // tables emptied with any other source, after the generation switched.
  routing::MirrorMaps mirror_maps() const {
    return {.routes4 = dp_.kr_routes4_fd(), .routes6 = dp_.kr_routes6_fd(),
            .nexthops = dp_.kr_nexthops_fd()};
  }
  void attach_route_mirror(routing::RouteMirror* mirror) {
    route_mirror_ = mirror;
    sync_route_mirror();
  }
  void sync_route_mirror() {
    if (route_mirror_ == nullptr) return;
    if (cfg_.routing.source != config::RouteSource::kKernel) {
      route_mirror_->disable();
      return;
    }
    std::set<uint32_t> ports;
    for (const auto& p : cfg_.ports) ports.insert(p.ifindex);
    route_mirror_->enable(std::move(ports),
                          std::chrono::milliseconds(cfg_.routing.resync_interval_ms),
                          (dp_.features() & XDPGW_FEAT_FIB) != 0);
  }

  // Proxy mode (gateway/proxy/) runs on the daemon's io_context and is
  // owned by run(), like the health checker; it follows the running config.
  // At start a kernel that cannot splice refuses a config with proxy VIPs
  // (the exception ends the daemon); on reload that is logged.
  void attach_proxy(proxy::ProxyService* proxy) {
    proxy_ = proxy;
    proxy_->configure(cfg_.lb);
  }
  void sync_proxy() {
    if (proxy_ == nullptr) return;
    try {
      proxy_->configure(cfg_.lb);
    } catch (const std::exception& e) {
      spdlog::error("proxy: {}", e.what());
    }
  }
  uint32_t effective_weight(const config::Vip& vip, const config::Backend& be) const {
    return lb_.effective_weight(vip, be);
  }

  // Health checks run on the daemon's io_context; the checker is owned by
  // run() (it must go before the io_context does).
  void attach_health(lb::HealthChecker* checker) {
    health_ = checker;
    sync_health();
  }

  // Gives the checker the targets of the running config and takes over the
  // state of every target it reports: kept targets keep theirs, new or
  // changed ones start as their initial state says ("up": a restart must not
  // empty the Maglev tables while the first checks run).
  void sync_health() {
    if (health_ == nullptr) return;
    lb::HealthPlan plan = lb::health_targets(cfg_.lb, lb::InitialState::kUp);
    for (const auto& why : plan.unchecked) spdlog::warn("health check: {}", why);
    for (const auto& st : health_->set_targets(std::move(plan.targets))) {
      auto [vip, backend] = lb::split_health_target_id(st.id);
      set_healthy(vip, backend, st.healthy, "initial state");
    }
  }

  // A health check changed its verdict on a backend of a VIP.
  void set_healthy(const std::string& vip_name, const std::string& backend, bool healthy,
                   const std::string& reason) {
    const config::Vip& vip = find_vip(vip_name);
    if (lb_.healthy(vip.name, backend) == healthy) return;
    lb_.set_healthy(vip.name, backend, healthy);
    size_t usable = rebuild_ring(dp_, dp_.active_generation(), vip, lb_);
    if (proxy_ != nullptr) proxy_->rebuild(vip.name);
    spdlog::log(healthy ? spdlog::level::info : spdlog::level::warn,
                "VIP {} backend {} is {} ({}); {} of {} backends take new flows", vip.name,
                backend, healthy ? "up" : "DOWN", reason, usable, vip.backends.size());
    update_announcements();
  }


 private:
  const config::Vip& find_vip(const std::string& name) const {
    for (const auto& vip : cfg_.lb.vips)
      if (vip.name == name) return vip;
    throw std::runtime_error(fmt::format("no VIP named {:?}", name));
  }

  // A backend by its id ("198.18.3.2:8080") or, when unambiguous, address.
  static const config::Backend& find_backend(const config::Vip& vip, const std::string& text) {
    const config::Backend* match = nullptr;
    for (const auto& be : vip.backends) {
      if (be.id() == text) return be;
      if (be.addr.to_string() == text) {
        if (match != nullptr)
          throw std::runtime_error(fmt::format(
              "VIP {} has several backends at {}; name one as ADDRESS:PORT", vip.name, text));
        match = &be;
      }
    }
    if (match == nullptr)
      throw std::runtime_error(fmt::format("VIP {} has no backend {}", vip.name, text));
    return *match;
  }

  static Datapath make_datapath(const config::Config& cfg, const RunOptions& opts,
                                uint32_t features) {
    const auto pins = pin_dir(cfg.gateway.instance);
    if (opts.fresh) {
      int detached = remove_pinned_instance(pins);
      spdlog::info("instance {}: --fresh: removed earlier pins ({} links detached)",
                   cfg.gateway.instance, detached);
    }
    return Datapath(LoadOptions{
        .pin_dir = pins,
        .conn_table_size = cfg.lb.conn_table_size,
        .features = features,
        .load_log = std::filesystem::path(kRunDir) / (cfg.gateway.instance + ".load.log")});
  }

  void apply_config(const config::Config& next, bool initial) {
    // Attach new ports first: their links only run the dispatcher, which
    // passes their traffic to the kernel until the new generation names
    // them as ports.
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
    AppliedState state = apply(dp_, next, lb_);
    state_ = std::move(state);
    warm_backend_neighbours(next);
    spdlog::info("config applied as generation {}: {} ports, route source {}, {} static "
                 "routes, steering {}",
                 state_.generation, next.ports.size(), config::to_string(next.routing.source),
                 next.routing.routes.size(),
                 next.steering.enabled()
                     ? fmt::format("on ({} cpus)", next.steering.cpus.size())
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

  // A port where native XDP does not attach is named in the probe's one
  // line, with what to do, rather than as a bare errno.
  void attach_port(const config::Port& p, config::AttachMode mode) {
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

  // The AF_XDP pipeline runs when [punt] has rules. A pipeline that fails to
  // start is logged, not fatal: XDP applies each rule's fallback (pass or
  // drop) and every other packet is untouched.
  void start_pipeline(const config::Config& cfg) {
    pipeline_start_error_.clear();
    pipeline_start_failures_ = 0;
    pipeline_retry_delay_ = kFirstPipelineRetry;
    next_pipeline_attempt_ = {};
    if (!cfg.punt.enabled()) return;
    if (!try_start_pipeline(cfg))
      spdlog::error("punt: AF_XDP pipeline not started, rules fall back in XDP (retried, from "
                    "every second to every minute): {}", pipeline_start_error_);
  }

  // The kernel frees a closed AF_XDP socket's queue from a workqueue, after
  // its last in-flight frame: a pipeline restarted by a reload can find its
  // queues still "busy" (EBUSY) for a moment. That is waited out here, up to
  // `wait_for_busy_queue`; anything else fails at once.
  bool try_start_pipeline(const config::Config& cfg,
                          std::chrono::milliseconds wait_for_busy_queue = std::chrono::seconds(2)) {
    if (!kernel_.usable.af_xdp) {
      pipeline_start_error_ = "this kernel has no AF_XDP sockets for XDP (XSKMAP; see xdpgw "
                              "check --kernel): punt rules apply their fallback";
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + wait_for_busy_queue;
    bool waited = false;
    for (;;) {
      try {
        pipeline_ = std::make_unique<pipeline::Pipeline>(
            pipeline::from_config(cfg.punt),
            pipeline::PipelineMaps{.xsks = dp_.xsks_fd(), .xsk_slots = dp_.xsk_slots_fd(),
                                   .conn_table = dp_.conn_table_fd()});
        for (const auto& s : pipeline_->sockets())
          spdlog::info("punt: {} queue {} -> AF_XDP slot {} ({})", s.ifname, s.queue, s.slot,
                       s.zero_copy ? "zero-copy" : "copy mode");
        pipeline_start_error_.clear();
        return true;
      } catch (const std::system_error& e) {
        pipeline_start_error_ = e.what();
        if (e.code() != std::errc::device_or_resource_busy ||
            std::chrono::steady_clock::now() >= deadline)
          return false;
        if (!waited)
          spdlog::info("punt: an AF_XDP queue is still held by closed sockets ({}); waiting for "
                       "the kernel to release it", e.what());
        waited = true;
        // Long enough for the sockets a failed attempt bound to be
        // released too (an RCU grace period and a workqueue run).
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      } catch (const std::exception& e) {
        pipeline_start_error_ = e.what();
        return false;
      }
    }
  }

  static bool same_except_rules(config::Punt a, config::Punt b) {
    a.rules.clear();
    b.rules.clear();
    return a == b;
  }

  // New [[punt.rule]]s for the running pipeline, which keeps its sockets,
  // rings and frames in flight: a rules-only reload loses no punted packet.
  // XDP switched to the new rules with the generation a moment before; a
  // packet punted in between meets the old rules in the pipeline, or none
  // (then it goes to the kernel through the TAP, as for a removed rule).
  // False when there is no running pipeline to hand them to.
  bool replace_punt_rules() {
    if (!pipeline_ || !cfg_.punt.enabled() || pipeline_->error()) return false;
    try {
      pipeline_->replace_rules(pipeline::from_config(cfg_.punt).rules);
    } catch (const std::exception& e) {
      spdlog::warn("punt: new rules refused by the running pipeline, restarting it: {}", e.what());
      return false;
    }
    spdlog::info("punt: {} rules handed to the running pipeline (sockets kept)", cfg_.punt.rules.size());
    return true;
  }

  void stop_pipeline() {
    if (!pipeline_) return;
    const auto& st = pipeline_->stats();
    spdlog::info("punt: pipeline stopping: rx {} forwarded {} passed {} dropped {} offloaded {}", st.rx.load(),
                 st.forwarded.load(), st.passed.load(), st.dropped.load(), st.offloaded.load());
    pipeline_.reset();
  }

  static bool same_except_log_level(config::Control a, const config::Control& b) {
    a.log_level = b.log_level;
    return a == b;
  }
  static bool same_except_log_level(config::Config a, const config::Config& b) {
    a.control.log_level = b.control.log_level;
    return a == b;
  }

  // [control] log_level, unless --log-level on the command line decided.
  void set_log_level(const std::string& level) const {
    if (log_level_from_command_line_) return;
    spdlog::set_level(spdlog::level::from_str(level));
    spdlog::info("log level {} ([control] log_level)", level);
  }

  ReloadResult refuse(std::string why) {
    ++reloads_.failures;
    reloads_.last_ok = false;
    reloads_.last_message = why;
    spdlog::error("reload refused: {}", why);
    return {false, std::move(why)};
  }
  ReloadResult accept(std::string what) {
    reloads_.last_ok = true;
    reloads_.last_success = reloads_.last_attempt;
    reloads_.last_message = what;
    spdlog::info("reload: {}", what);
    return {true, std::move(what)};
  }

  std::string config_path_;
  config::Config cfg_;
  bool log_level_from_command_line_ = false;
  KernelSupport kernel_;
  Datapath dp_;
  LbRuntime lb_;
  lb::HealthChecker* health_ = nullptr;  // owned by run()
  proxy::ProxyService* proxy_ = nullptr;  // owned by run()
  routing::RouteMirror* route_mirror_ = nullptr;  // owned by run()
  announce::Announcer* announcer_ = nullptr;  // owned by run(); null without [announce]
  std::set<std::string> missing_ports_;
  AppliedState state_;
  ReloadCounters reloads_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;  // after dp_: destroyed first
  std::string pipeline_start_error_;              // [punt] has rules but it did not start
  uint64_t pipeline_start_failures_ = 0;          // retries by heal_pipeline() since then
  static constexpr std::chrono::seconds kFirstPipelineRetry{1};
  static constexpr std::chrono::seconds kLastPipelineRetry{60};
  std::chrono::seconds pipeline_retry_delay_ = kFirstPipelineRetry;
  std::chrono::steady_clock::time_point next_pipeline_attempt_{};
  std::unique_ptr<DropCapture> drop_capture_;     // likewise
  std::deque<std::pair<uint64_t, events::Event>> event_log_;
  uint64_t next_event_seq_ = 1;
  std::map<std::string, uint64_t> event_types_, logged_types_;
  events::EventCounts logged_counts_{};
  events::Reader events_{dp_.events_fd(), [this](const events::Event& e) {
                           event_log_.emplace_back(next_event_seq_++, e);
                           if (event_log_.size() > kEventHistory) event_log_.pop_front();
                           ++event_types_[e.type_name()];
                         }};
};

// The control socket's commands, all answered on the io thread.
void register_commands(control::ControlServer& server, Gateway& gw,
                       const std::function<ReloadResult()>& reload) {
  server.on("status", [&gw](const nlohmann::json&) { return gw.status(); });
  server.on_with_fds("capture", [&gw](const nlohmann::json& args, std::vector<UniqueFd>& fds) {
    return gw.capture(args, fds);
  });
  server.on("events", [&gw](const nlohmann::json& args) {
    gw.consume_events();
    return gw.events_after(args.value("after", uint64_t{0}));
  });
  server.on("stats", [&gw](const nlohmann::json& args) {
    return gw.stats(args.value("all", false));
  });
  server.on("flows", [&gw](const nlohmann::json& args) {
    return gw.flows(args.value("limit", size_t{100}));
  });
  server.on("backend", [&gw](const nlohmann::json& args) -> nlohmann::json {
    const std::string action = args.at("action").get<std::string>();
    if (action != "drain" && action != "undrain")
      throw std::runtime_error(fmt::format("unknown backend action {:?}", action));
    return {{"message", gw.set_drained(args.at("vip").get<std::string>(),
                                       args.at("backend").get<std::string>(),
                                       action == "drain")}};
  });
  server.on("announce", [&gw](const nlohmann::json& args) -> nlohmann::json {
    announce::Announcer* announcer = gw.announcer();
    if (announcer == nullptr)
      throw std::runtime_error("this instance announces nothing (its config has no [announce])");
    const std::string action = args.value("action", "status");
    if (action == "withdraw" || action == "restore")
      announcer->set_withdrawn(action == "withdraw");
    else if (action != "status")
      throw std::runtime_error(fmt::format("unknown announce action {:?}", action));
    return announcer->status();
  });
  server.on("reload", [&reload](const nlohmann::json&) -> nlohmann::json {
    ReloadResult r = reload();
    if (!r.ok) throw std::runtime_error(r.message);
    return {{"message", r.message}};
  });
}

// Metrics are for watching, not forwarding: a listener that cannot bind is
// logged and shown in status, and the gateway runs on without it.
std::unique_ptr<control::MetricsServer> start_metrics(boost::asio::io_context& io,
                                                      const Gateway& gw) {
  if (!gw.config().control.metrics) {
    spdlog::info("metrics: off ([control] metrics = \"off\")");
    return nullptr;
  }
  const auto& ep = *gw.config().control.metrics;
  try {
    auto server = std::make_unique<control::MetricsServer>(
        io, ep.addr.to_string(), ep.port, [&gw] { return gw.metric_families(); });
    spdlog::info("metrics: http://{}/metrics", ep.to_string());
    return server;
  } catch (const std::exception& e) {
    spdlog::error("metrics listener on {} failed, running without it: {}", ep.to_string(),
                  e.what());
    return nullptr;
  }
}

}  // namespace

int run(const std::string& config_path, const config::Config& cfg, const RunOptions& opts) {
  // Before anything logs: the probe's lines are subject to it too.
  if (!opts.log_level_from_command_line) {
    spdlog::set_level(spdlog::level::from_str(cfg.control.log_level));
    spdlog::debug("log level {} ([control] log_level)", cfg.control.log_level);
  }
  // A capture may write into a pipe (`xdpgw capture -w - | tcpdump -r -`)
  // whose reader exits: that must end the capture with EPIPE, not the
  // daemon with SIGPIPE (a disposition is the whole process's).
  std::signal(SIGPIPE, SIG_IGN);
  InstanceLock lock(cfg.gateway.instance);
  const ServiceNotifier notifier;
  Gateway gw(config_path, cfg, opts);

  // systemd hears of every reload, from SIGHUP (systemctl reload) or the
  // control socket (xdpgw reload), and is READY again whatever its outcome:
  // a refused reload leaves the running config serving.
  const std::function<ReloadResult()> reload = [&] {
    notifier.reloading(fmt::format("reloading {}", config_path));
    ReloadResult r = gw.reload();
    notifier.ready(r.ok ? r.message : "reload refused, running config kept: " + r.message);
    return r;
  };

  boost::asio::io_context io;
  control::ControlServer control(io, gw.config().control.socket);
  register_commands(control, gw, reload);
  spdlog::info("control socket: {}", gw.config().control.socket);
  auto metrics_server = start_metrics(io, gw);
  // Declared after io: destroyed (every probe cancelled) before it.
  lb::HealthChecker health(io, [&gw](const std::string& id, bool healthy, const std::string& reason) {
    auto [vip, backend] = lb::split_health_target_id(id);
    try {
      gw.set_healthy(vip, backend, healthy, reason);
    } catch (const std::exception& e) {
      spdlog::error("health of {}: {}", id, e.what());
    }
  });
  gw.attach_health(&health);
  // Declared after io, like the checker; after the checker, so its first
  // tables see the health states.
  proxy::ProxyService proxy(io, [&gw](const config::Vip& vip, const config::Backend& be) {
    return gw.effective_weight(vip, be);
  });
  gw.attach_proxy(&proxy);
  // Declared after io, like the checker: its timers and socket go first.
  routing::RouteMirror route_mirror(io, gw.mirror_maps());
  gw.attach_route_mirror(&route_mirror);
  std::optional<announce::Announcer> announcer;
  if (gw.config().announce.enabled) {
    announcer.emplace(io, cfg.gateway.instance, gw.config().announce);
    spdlog::info("announce: VIPs go to BIRD at {} through {}", gw.config().announce.bird_socket,
                 gw.config().announce.include);
    gw.attach_announcer(&*announcer);
  }

  // Stopping withdraws the VIPs first and keeps serving for the grace
  // period, so flows the upstream still sends here while it converges are
  // not lost. A second signal stops at once.
  boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer grace_timer(io);
  std::function<void()> wait_for_second_signal = [&] {
    stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("signal {} again: stopping now", sig);
      io.stop();
    });
  };
  // Proxied connections get [lb] proxy_stop_grace_ms to finish (none: at once).
  const auto drain_then_stop = [&] {
    proxy.drain(std::chrono::milliseconds(gw.config().lb.proxy_stop_grace_ms), [&] { io.stop(); });
  };
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    notifier.stopping(fmt::format("signal {}: stopping; XDP keeps forwarding", sig));
    if (!announcer) {
      spdlog::info("signal {}: stopping", sig);
      wait_for_second_signal();
      drain_then_stop();
      return;
    }
    const uint32_t grace_ms = gw.config().announce.withdraw_grace_ms;
    spdlog::info("signal {}: withdrawing the VIPs, then serving {} ms more before stopping", sig,
                 grace_ms);
    wait_for_second_signal();
    announcer->withdraw_for_shutdown([&, grace_ms] {
      grace_timer.expires_after(std::chrono::milliseconds(grace_ms));
      grace_timer.async_wait([&](const boost::system::error_code& timer_ec) {
        if (!timer_ec) drain_then_stop();
      });
    });
  });

  boost::asio::signal_set reload_signal(io, SIGHUP);
  std::function<void()> wait_for_hup = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::info("SIGHUP: reloading {}", config_path);
      reload();
      wait_for_hup();
    });
  };
  wait_for_hup();

  // Static nexthops follow the kernel's neighbour table. Polling once a
  // second keeps this simple; a missed MAC change only sends packets to the
  // kernel (PASS_NO_NEIGH) until the next round, never to a wrong host.
  boost::asio::steady_timer neigh_timer(io);
  std::function<void()> schedule_refresh = [&] {
    neigh_timer.expires_after(std::chrono::seconds(1));
    neigh_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      try {
        gw.follow_ports();
        gw.heal_pipeline();
        gw.update_announcements();
        if (int n = gw.refresh_nexthops(); n > 0)
          spdlog::info("nexthops: {} updated from the neighbour table", n);
      } catch (const std::exception& e) {
        spdlog::warn("nexthop refresh failed: {}", e.what());
      }
      schedule_refresh();
    });
  };
  schedule_refresh();

  // XDP events: read when the ring's epoll fd is readable, summarised in
  // the log every 10 s.
  boost::asio::posix::stream_descriptor event_fd(io, ::dup(gw.event_epoll_fd()));
  std::function<void()> wait_for_events = [&] {
    event_fd.async_wait(boost::asio::posix::stream_descriptor::wait_read, [&](const boost::system::error_code& ec) {
      if (ec) return;
      try {
        gw.consume_events();
      } catch (const std::exception& e) {
        spdlog::warn("reading XDP events: {}", e.what());
      }
      wait_for_events();
    });
  };
  wait_for_events();
  boost::asio::steady_timer event_timer(io);
  std::function<void()> schedule_summary = [&] {
    event_timer.expires_after(std::chrono::seconds(10));
    event_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      try {
        gw.log_event_summary();
      } catch (const std::exception& e) {
        spdlog::warn("event summary: {}", e.what());
      }
      schedule_summary();
    });
  };
  schedule_summary();

  // The watchdog is fed from the event loop: a loop that stops turning
  // (a handler stuck in a syscall) stops feeding it, and systemd restarts
  // the daemon; XDP forwards on meanwhile.
  boost::asio::steady_timer watchdog_timer(io);
  std::function<void()> schedule_watchdog = [&] {
    watchdog_timer.expires_after(*notifier.watchdog_interval());
    watchdog_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      notifier.watchdog();
      schedule_watchdog();
    });
  };
  if (notifier.watchdog_interval()) schedule_watchdog();

  // Every port is attached (the Gateway's constructor applied the config),
  // the control socket and metrics listen: ready.
  spdlog::info("instance {}: running", cfg.gateway.instance);
  notifier.ready(fmt::format("instance {}: {} ports attached",
                             cfg.gateway.instance, gw.config().ports.size()));
  io.run();
  spdlog::info("instance {}: exiting; XDP keeps forwarding with this config "
               "(`xdpgw stop --instance {} --detach` removes it)",
               cfg.gateway.instance, cfg.gateway.instance);
  return 0;
}

int stop(const std::string& instance, const StopOptions& opts) {
  if (auto pid = running_pid(instance)) {
    if (kill(*pid, SIGTERM) < 0) throw_errno(errno, fmt::format("signal pid {}", *pid));
    // Bounded wait for the daemon to let go of the lock.
    using namespace std::chrono_literals;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (running_pid(instance)) {
      if (std::chrono::steady_clock::now() > deadline) {
        spdlog::error("instance {}: pid {} did not stop within 30 s", instance, *pid);
        return 1;
      }
      std::this_thread::sleep_for(20ms);
    }
    spdlog::info("instance {}: daemon (pid {}) stopped", instance, *pid);
  } else {
    spdlog::info("instance {}: no daemon running", instance);
  }
  if (opts.detach) {
    int detached = remove_pinned_instance(pin_dir(instance));
    spdlog::info("instance {}: {} XDP links detached, pins removed", instance, detached);
  }
  return 0;
}

}  // namespace xdpgw::daemon
