#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <fstream>
#include <functional>
#include <set>
#include <system_error>
#include <thread>

#include "common/error.hpp"
#include "datapath/apply.hpp"
#include "datapath/datapath.hpp"
#include "datapath/link_check.hpp"
#include "datapath/netdev.hpp"
#include "control/control_server.hpp"
#include "control/metrics.hpp"
#include "daemon/observe.hpp"

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
class Gateway {
 public:
  Gateway(std::string config_path, config::Config cfg, const RunOptions& opts)
      : config_path_(std::move(config_path)),
        cfg_(std::move(cfg)),
        dp_(make_datapath(cfg_, opts)) {
    spdlog::info("instance {}: datapath {} (dispatcher prog id {}), maps pinned in {}",
                 cfg_.gateway.instance, dp_.adopted() ? "adopted from pins" : "loaded",
                 dp_.dispatcher_id(), dp_.pin_dir().string());
    apply_config(cfg_, /*initial=*/true);
  }

  // Re-reads the config file. Any failure — parse, validation, a change
  // that needs a restart, the kernel refusing a map — leaves the running
  // generation in place.
  ReloadResult reload() {
    ++reloads_.attempts;
    auto loaded = load_config(config_path_);
    if (!loaded) return refuse(config::to_string(loaded.errors()));
    const config::Config& next = loaded.value();
    if (next.gateway.instance != cfg_.gateway.instance)
      return refuse(fmt::format("{}: gateway.instance cannot change on reload ({} -> {}); restart",
                                config_path_, cfg_.gateway.instance, next.gateway.instance));
    if (next.gateway.netns != cfg_.gateway.netns)
      return refuse(fmt::format("{}: gateway.netns cannot change on reload; restart", config_path_));
    if (next.control != cfg_.control)
      return refuse(fmt::format("{}: [control] (socket, metrics) cannot change on reload; restart",
                                config_path_));
    if (next == cfg_) return accept("config unchanged");
    try {
      apply_config(next, /*initial=*/false);
    } catch (const std::exception& e) {
      return refuse(fmt::format("apply failed, running config kept: {}", e.what()));
    }
    cfg_ = next;
    return accept(fmt::format("config applied as generation {}", state_.generation));
  }

  int refresh_nexthops() { return xdpgw::refresh_nexthops(state_); }
  const config::Config& config() const { return cfg_; }

  nlohmann::json status() const { return status_json(cfg_, config_path_, dp_, reloads_); }
  nlohmann::json stats(bool all) const {
    nlohmann::json s = stats_json(dp_.verdict_stats_fd(), dp_.handler_stats_fd(), all);
    s["policy"] = policy_stats_json(cfg_, dp_);
    return s;
  }
  std::vector<control::MetricFamily> metric_families() const {
    return metrics(cfg_, dp_, reloads_);
  }

 private:
  static Datapath make_datapath(const config::Config& cfg, const RunOptions& opts) {
    const auto pins = pin_dir(cfg.gateway.instance);
    if (opts.fresh) {
      int detached = remove_pinned_instance(pins);
      spdlog::info("instance {}: --fresh: removed earlier pins ({} links detached)",
                   cfg.gateway.instance, detached);
    }
    return Datapath(LoadOptions{.pin_dir = pins});
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
      dp_.attach(p.ifindex, to_attach_mode(next.gateway.attach_mode));
      spdlog::info("port {} (ifindex {}): {}, {} mode", p.name, p.ifindex,
                   had_link ? "link adopted and moved to the new program" : "attached",
                   config::to_string(next.gateway.attach_mode));
    }
    AppliedState state = apply(dp_, next);
    state_ = std::move(state);
    spdlog::info("config applied as generation {}: {} ports, route source {}, {} static "
                 "routes, steering {}",
                 state_.generation, next.ports.size(), config::to_string(next.routing.source),
                 next.routing.routes.size(),
                 next.steering.enabled()
                     ? fmt::format("on ({} cpus)", next.steering.cpus.size())
                     : std::string("off"));
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

  ReloadResult refuse(std::string why) {
    ++reloads_.failures;
    reloads_.last_ok = false;
    reloads_.last_message = why;
    spdlog::error("reload refused: {}", why);
    return {false, std::move(why)};
  }
  ReloadResult accept(std::string what) {
    reloads_.last_ok = true;
    reloads_.last_message = what;
    spdlog::info("reload: {}", what);
    return {true, std::move(what)};
  }

  std::string config_path_;
  config::Config cfg_;
  Datapath dp_;
  AppliedState state_;
  ReloadCounters reloads_;
};

// The control socket's commands, all answered on the io thread.
void register_commands(control::ControlServer& server, Gateway& gw) {
  server.on("status", [&gw](const nlohmann::json&) { return gw.status(); });
  server.on("stats", [&gw](const nlohmann::json& args) {
    return gw.stats(args.value("all", false));
  });
  server.on("reload", [&gw](const nlohmann::json&) -> nlohmann::json {
    ReloadResult r = gw.reload();
    if (!r.ok) throw std::runtime_error(r.message);
    return {{"message", r.message}};
  });
}

// Metrics are for watching, not forwarding: a listener that cannot bind is
// logged and shown in status, and the gateway runs on without it.
std::unique_ptr<control::MetricsServer> start_metrics(boost::asio::io_context& io,
                                                      const Gateway& gw) {
  const auto& ep = gw.config().control.metrics;
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
  InstanceLock lock(cfg.gateway.instance);
  Gateway gw(config_path, cfg, opts);

  boost::asio::io_context io;
  control::ControlServer control(io, gw.config().control.socket);
  register_commands(control, gw);
  spdlog::info("control socket: {}", gw.config().control.socket);
  auto metrics_server = start_metrics(io, gw);

  boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    io.stop();
  });

  boost::asio::signal_set reload_signal(io, SIGHUP);
  std::function<void()> wait_for_hup = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::info("SIGHUP: reloading {}", config_path);
      gw.reload();
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
        if (int n = gw.refresh_nexthops(); n > 0)
          spdlog::info("nexthops: {} updated from the neighbour table", n);
      } catch (const std::exception& e) {
        spdlog::warn("nexthop refresh failed: {}", e.what());
      }
      schedule_refresh();
    });
  };
  schedule_refresh();

  spdlog::info("instance {}: running", cfg.gateway.instance);
  io.run();
  spdlog::info("instance {}: exiting; XDP keeps forwarding with this config "
               "(`xdpgw stop -i {} --detach` removes it)",
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
