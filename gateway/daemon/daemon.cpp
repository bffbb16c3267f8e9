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
    spdlog::warn("truncate {}: {}", path_.string(), std::strerror(errno));
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

int run(const config::Config& cfg, const RunOptions& opts) {
  InstanceLock lock(cfg.gateway.instance);
  const auto pins = pin_dir(cfg.gateway.instance);
  if (opts.fresh) {
    int detached = remove_pinned_instance(pins);
    spdlog::info("instance {}: --fresh: removed earlier pins ({} links detached)",
                 cfg.gateway.instance, detached);
  }

  Datapath dp(LoadOptions{.pin_dir = pins});
  spdlog::info("instance {}: datapath {} (dispatcher prog id {}), maps pinned in {}",
               cfg.gateway.instance, dp.adopted() ? "adopted from pins" : "loaded",
               dp.dispatcher_id(), pins.string());

  AppliedState state = apply(dp, cfg);
  spdlog::info("config applied as generation {}: {} ports, route source {}, {} static "
               "routes, steering {}",
               state.generation, cfg.ports.size(), config::to_string(cfg.routing.source),
               cfg.routing.routes.size(),
               cfg.steering.enabled() ? fmt::format("on ({} cpus)", cfg.steering.cpus.size())
                                      : std::string("off"));

  for (const auto& p : cfg.ports) {
    bool was_attached = dp.adopted() && [&] {
      for (uint32_t i : dp.pinned_links())
        if (i == p.ifindex) return true;
      return false;
    }();
    dp.attach(p.ifindex, to_attach_mode(cfg.gateway.attach_mode));
    spdlog::info("port {} (ifindex {}): {}, {} mode", p.name, p.ifindex,
                 was_attached ? "link adopted and moved to the new program" : "attached",
                 config::to_string(cfg.gateway.attach_mode));
  }
  detach_unconfigured_ports(dp, cfg);
  for (const auto& p : cfg.ports) {
    try {
      if (auto warning = link_check::redirect_target_warning(p.name, p.ifindex))
        spdlog::warn("{}", *warning);
    } catch (const std::exception& e) {
      spdlog::warn("port {}: could not check its veth peer: {}", p.name, e.what());
    }
  }

  boost::asio::io_context io;
  boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    io.stop();
  });

  // Static nexthops follow the kernel's neighbour table. Polling once a
  // second keeps this simple; a missed MAC change only sends packets to the
  // kernel (PASS_NO_NEIGH) until the next round, never to a wrong host.
  boost::asio::steady_timer neigh_timer(io);
  std::function<void()> schedule_refresh = [&] {
    neigh_timer.expires_after(std::chrono::seconds(1));
    neigh_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      try {
        if (int n = refresh_nexthops(state); n > 0)
          spdlog::info("nexthops: {} updated from the neighbour table", n);
      } catch (const std::exception& e) {
        spdlog::warn("nexthop refresh failed: {}", e.what());
      }
      schedule_refresh();
    });
  };
  if (!state.nexthops.empty()) schedule_refresh();

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
