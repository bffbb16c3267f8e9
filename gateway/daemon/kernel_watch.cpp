#include "daemon/kernel_watch.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace xdpgw::daemon {
namespace {

// IFF_LOWER_UP is in <linux/if.h>, which clashes with <net/if.h>.
constexpr unsigned kIffLowerUp = 1u << 16;
constexpr auto kRouteSettle = std::chrono::milliseconds(100);

}  // namespace

KernelWatch::KernelWatch(boost::asio::io_context& io, Sync sync, PortName port_name,
                         std::chrono::milliseconds resync_interval)
    : sync_(std::move(sync)),
      port_name_(std::move(port_name)),
      route_settle_(io),
      subscription_(io, "kernel events",
                    {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_NEIGH,
                     RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE},
                    routing::RtnlEvents::Handlers{
                        .message = [this](const nlmsghdr* nlh) { on_message(nlh); },
                        .batch_done = [this](auto) { on_batch_done(); },
                        .overrun =
                            [this] {
                              ++overruns_;
                              spdlog::warn("kernel events: netlink queue overrun (ENOBUFS); "
                                           "comparing everything with the kernel");
                              pending_ = {.links = true, .addresses = true, .neighbours = true};
                              pending_cause_ = "overrun";
                            },
                        .failed =
                            [this](const std::string& error) {
                              ++event_sync_failures_;
                              last_error_ = error;
                              spdlog::error("kernel events: {}", error);
                            }}),
      resync_(io, "kernel resync", resync_interval, [this] { resync("resync"); }) {
  resync_.start();
}

void KernelWatch::on_message(const nlmsghdr* nlh) {
  auto note = [this](const char* kind, std::string cause) {
    ++events_[kind];
    if (pending_cause_.empty()) pending_cause_ = std::move(cause);
  };
  switch (nlh->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
      note("link", "link event");
      pending_.links = true;
      // Carrier and admin state of a port are reported at once; XDP keeps
      // its link either way, and the kernel stops delivering frames.
      if (nlh->nlmsg_type == RTM_NEWLINK && (ifi->ifi_change & (IFF_UP | kIffLowerUp)) != 0)
        if (auto name = port_name_(static_cast<uint32_t>(ifi->ifi_index))) {
          const bool up = (ifi->ifi_flags & IFF_UP) != 0 && (ifi->ifi_flags & kIffLowerUp) != 0;
          spdlog::log(up ? spdlog::level::info : spdlog::level::warn, "port {}: link {}", *name,
                      up ? "up" : "DOWN (no carrier or administratively down)");
        }
      break;
    }
    case RTM_NEWADDR:
    case RTM_DELADDR:
      note("address", "address event");
      pending_.addresses = true;
      break;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
      if (!port_name_(static_cast<uint32_t>(ndm->ndm_ifindex))) break;
      note("neighbour", "neighbour event");
      pending_.neighbours = true;
      break;
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      ++events_["route"];
      if (!route_settle_armed_) {
        route_settle_armed_ = true;
        route_settle_.expires_after(kRouteSettle);
        route_settle_.async_wait([this](const boost::system::error_code& ec) {
          if (ec) return;
          route_settle_armed_ = false;
          run_sync({.neighbours = true}, "route event");
        });
      }
      break;
    default:
      break;
  }
}

void KernelWatch::on_batch_done() {
  if (!pending_.any()) return;
  const KernelChanges changes = std::exchange(pending_, {});
  const std::string cause = std::exchange(pending_cause_, {});
  run_sync(changes, cause);
}

void KernelWatch::run_sync(const KernelChanges& changes, const std::string& cause) {
  ++event_syncs_;
  try {
    sync_(changes, cause);
  } catch (const std::exception& e) {
    // The resync retries it all.
    ++event_sync_failures_;
    last_error_ = e.what();
    spdlog::error("kernel events ({}): {}", cause, e.what());
  }
}

void KernelWatch::resync(const std::string& cause) {
  if (sync_({.links = true, .addresses = true, .neighbours = true}, cause)) {
    ++repairs_;
    spdlog::warn("kernel resync found changes no event had reported (now applied)");
  }
}

nlohmann::json KernelWatch::status() const {
  return {{"events", events_},
          {"event_syncs", event_syncs_},
          {"event_sync_failures", event_sync_failures_},
          {"overruns", overruns_},
          {"resyncs", resync_.runs()},
          {"resync_repairs", repairs_},
          {"resync_failures", resync_.failures()},
          {"last_error", last_error_.empty() ? resync_.last_error() : last_error_}};
}

void KernelWatch::metrics(std::vector<control::MetricFamily>& out) const {
  control::MetricFamily events{.name = "xdpgw_kernel_events_total",
                               .help = "rtnetlink events the daemon acted on, by kind.",
                               .type = "counter",
                               .samples = {}};
  for (const auto& [kind, n] : events_)
    events.samples.push_back({{{"kind", kind}}, static_cast<double>(n)});
  out.push_back(std::move(events));
  out.push_back({.name = "xdpgw_kernel_event_overruns_total",
                 .help = "Times the kernel dropped rtnetlink events (ENOBUFS); each causes a "
                         "full comparison.",
                 .type = "counter",
                 .samples = {{{}, static_cast<double>(overruns_)}}});
  out.push_back({.name = "xdpgw_kernel_resync_repairs_total",
                 .help = "Periodic resyncs that found a change no rtnetlink event had reported.",
                 .type = "counter",
                 .samples = {{{}, static_cast<double>(repairs_)}}});
}

}  // namespace xdpgw::daemon
