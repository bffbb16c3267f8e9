#include "daemon/daemon.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <system_error>

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

bool dir_has_entries(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) &&
         !std::filesystem::is_empty(dir, ec);
}

}  // namespace

std::filesystem::path pin_dir(const std::string& instance) {
  return std::filesystem::path(kPinRoot) / instance;
}

int run(const config::Config& cfg, const RunOptions& opts) {
  const auto pins = pin_dir(cfg.gateway.instance);
  if (dir_has_entries(pins)) {
    if (!opts.fresh) {
      spdlog::error(
          "instance {}: {} already holds pins (another xdpgw running, or "
          "left by a crashed run); stop it, or start with --fresh to "
          "remove them",
          cfg.gateway.instance, pins.string());
      return 1;
    }
    spdlog::warn("instance {}: removing leftover pins in {}",
                 cfg.gateway.instance, pins.string());
    std::filesystem::remove_all(pins);
  }

  Datapath dp(LoadOptions{.pin_dir = pins});
  spdlog::info("instance {}: datapath loaded, dispatcher prog id {}, maps pinned in {}",
               cfg.gateway.instance, dp.dispatcher_id(), pins.string());

  AppliedState state = apply(dp, cfg);
  spdlog::info("config applied: {} ports, route source {}, {} static routes, "
               "steering {}",
               cfg.ports.size(), config::to_string(cfg.routing.source),
               cfg.routing.routes.size(),
               cfg.steering.enabled() ? fmt::format("on ({} cpus)", cfg.steering.cpus.size())
                                      : std::string("off"));

  for (const auto& p : cfg.ports) {
    dp.attach(p.ifindex, to_attach_mode(cfg.gateway.attach_mode));
    spdlog::info("port {} (ifindex {}): attached, {} mode", p.name, p.ifindex,
                 config::to_string(cfg.gateway.attach_mode));
  }
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
        if (int n = refresh_nexthops(dp, state); n > 0)
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
  spdlog::info("instance {}: detaching and removing pins", cfg.gateway.instance);
  return 0;
}

}  // namespace xdpgw::daemon
