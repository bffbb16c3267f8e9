#include "daemon/daemon.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "common/error.hpp"
#include "control/control_server.hpp"
#include "control/metrics.hpp"
#include "daemon/gateway.hpp"
#include "daemon/periodic.hpp"
#include "daemon/service_notify.hpp"
#include "datapath/datapath.hpp"
#include "datapath/netdev.hpp"

namespace xdpgw::daemon {

std::optional<uint32_t> SystemEnvironment::ifindex(std::string_view name) const {
  return netdev::ifindex(name);
}

config::Result<config::Config> load_config(const std::string& path) {
  auto raw = config::parse(path);
  if (!raw) return raw.errors();
  return config::validate(raw.value(), SystemEnvironment{});
}

namespace {

// The control socket's commands, all answered on the io thread.
void register_commands(control::ControlServer& server, Gateway& gw,
                       const std::function<ReloadResult()>& reload) {
  server.on("status", [&gw](const nlohmann::json&) { return gw.status(); });
  server.on_with_fds("capture", [&gw](const nlohmann::json& args, std::vector<UniqueFd>& fds) {
    return gw.captures().command(args, fds);
  });
  server.on("events", [&gw](const nlohmann::json& args) {
    return gw.events().after(args.value("after", uint64_t{0}));
  });
  server.on("stats", [&gw](const nlohmann::json& args) { return gw.stats(args.value("all", false)); });
  server.on("flows", [&gw](const nlohmann::json& args) {
    return gw.flows(args.value("limit", size_t{100}));
  });
  server.on("backend", [&gw](const nlohmann::json& args) -> nlohmann::json {
    const std::string action = args.at("action").get<std::string>();
    if (action != "drain" && action != "undrain")
      throw std::runtime_error(fmt::format("unknown backend action {:?}", action));
    return {{"message", gw.lb().set_drained(args.at("vip").get<std::string>(),
                                            args.at("backend").get<std::string>(),
                                            action == "drain")}};
  });
  server.on("announce", [&gw](const nlohmann::json& args) -> nlohmann::json {
    announce::Announcer* announcer = gw.lb().announcer();
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
  boost::asio::io_context io;
  // After io: its components' timers and sockets go first.
  Gateway gw(io, config_path, cfg, opts);

  // systemd hears of every reload, from SIGHUP (systemctl reload) or the
  // control socket (xdpgw reload), and is READY again whatever its outcome:
  // a refused reload leaves the running config serving.
  const std::function<ReloadResult()> reload = [&] {
    notifier.reloading(fmt::format("reloading {}", config_path));
    ReloadResult r = gw.reload();
    notifier.ready(r.ok ? r.message : "reload refused, running config kept: " + r.message);
    return r;
  };

  control::ControlServer control(io, gw.config().control.socket);
  register_commands(control, gw, reload);
  spdlog::info("control socket: {}", gw.config().control.socket);
  auto metrics_server = start_metrics(io, gw);

  // Stopping withdraws the VIPs first and keeps serving for the grace
  // period, so flows the upstream still sends here while it converges are
  // not lost. A second signal stops at once.
  boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer grace_timer(io);
  auto stop_now = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {} again: stopping now", sig);
    io.stop();
  };
  // Proxied connections get [lb] proxy_stop_grace_ms to finish (none: at once).
  const auto drain_then_stop = [&] {
    gw.lb().proxy().drain(std::chrono::milliseconds(gw.config().lb.proxy_stop_grace_ms), [&] { io.stop(); });
  };
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    notifier.stopping(fmt::format("signal {}: stopping; XDP keeps forwarding", sig));
    announce::Announcer* announcer = gw.lb().announcer();
    if (announcer == nullptr) {
      spdlog::info("signal {}: stopping", sig);
      stop_signals.async_wait(stop_now);
      drain_then_stop();
      return;
    }
    const uint32_t grace_ms = gw.config().announce.withdraw_grace_ms;
    spdlog::info("signal {}: withdrawing the VIPs, then serving {} ms more before stopping", sig,
                 grace_ms);
    stop_signals.async_wait(stop_now);
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

  // The watchdog is fed from the event loop: a loop that stops turning (a
  // handler stuck in a syscall) stops feeding it, and systemd restarts the
  // daemon; XDP forwards on meanwhile.
  std::optional<Periodic> watchdog;
  if (auto interval = notifier.watchdog_interval()) {
    watchdog.emplace(io, "watchdog", std::chrono::duration_cast<std::chrono::milliseconds>(*interval),
                     [&notifier] { notifier.watchdog(); });
    watchdog->start();
  }

  // Every port is attached (the Gateway's constructor applied the config),
  // the control socket and metrics listen: ready.
  spdlog::info("instance {}: running", cfg.gateway.instance);
  notifier.ready(fmt::format("instance {}: {} ports attached", cfg.gateway.instance,
                             gw.config().ports.size()));
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
    // Nothing of the instance is left: its lock file goes too (no daemon
    // holds it, the wait above made sure).
    std::error_code ec;
    std::filesystem::remove(lock_path(instance), ec);
    spdlog::info("instance {}: {} XDP links detached, pins removed", instance, detached);
  }
  return 0;
}

}  // namespace xdpgw::daemon
