#include "daemon/lb_control.hpp"

#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "daemon/lb_observe.hpp"
#include "datapath/datapath.hpp"
#include "datapath/neigh.hpp"
#include "datapath/rtnl.hpp"
#include "lb/health_config.hpp"

namespace xdpgw::daemon {
namespace {

const config::Vip& find_vip(const config::Config& cfg, const std::string& name) {
  for (const auto& vip : cfg.lb.vips)
    if (vip.name == name) return vip;
  throw std::runtime_error(fmt::format("no VIP named {:?}", name));
}

// A backend by its id ("198.18.3.2:8080") or, when unambiguous, address.
const config::Backend& find_backend(const config::Vip& vip, const std::string& text) {
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

}  // namespace

LbControl::LbControl(boost::asio::io_context& io, Datapath& dp, const config::Config& running,
                     MissingPort missing_port)
    : io_(io),
      dp_(dp),
      cfg_(running),
      missing_port_(std::move(missing_port)),
      health_(io,
              [this](const std::string& id, bool healthy, const std::string& reason) {
                auto [vip, backend] = lb::split_health_target_id(id);
                try {
                  set_healthy(vip, backend, healthy, reason);
                } catch (const std::exception& e) {
                  spdlog::error("health of {}: {}", id, e.what());
                }
              }),
      proxy_(io, [this](const config::Vip& vip, const config::Backend& be) {
        return lb_.effective_weight(vip, be);
      }),
      announce_job_(io, "announcements", std::chrono::seconds(1), [this] {
        update_announcements();
      }) {
  lb_.adopt(dp_, cfg_);
}

void LbControl::start(const std::string& instance) {
  sync_health();
  // A kernel that cannot splice refuses a config with proxy VIPs at start
  // (one line, and the daemon exits); on reload it is logged (sync()).
  proxy_.configure(cfg_.lb);
  if (!cfg_.announce.enabled) return;
  announcer_.emplace(io_, instance, cfg_.announce);
  spdlog::info("announce: VIPs go to BIRD at {} through {}", cfg_.announce.bird_socket,
               cfg_.announce.include);
  update_announcements();
  announce_job_.start();
}

void LbControl::sync() {
  sync_health();
  try {
    proxy_.configure(cfg_.lb);
  } catch (const std::exception& e) {
    spdlog::error("proxy: {}", e.what());
  }
  update_announcements();
}

// Gives the checker the targets of the running config and takes over the
// state of every target it reports: kept targets keep theirs, new or
// changed ones start as their initial state says ("up": a restart must not
// empty the Maglev tables while the first checks run).
void LbControl::sync_health() {
  lb::HealthPlan plan = lb::health_targets(cfg_.lb, lb::InitialState::kUp);
  for (const auto& why : plan.unchecked) spdlog::warn("health check: {}", why);
  for (const auto& st : health_.set_targets(std::move(plan.targets))) {
    auto [vip, backend] = lb::split_health_target_id(st.id);
    set_healthy(vip, backend, st.healthy, "initial state");
  }
}

// Operator drain: the backend gets no new flows of the VIP; its established
// flows keep going (they are in the connection table).
std::string LbControl::set_drained(const std::string& vip_name, const std::string& backend,
                                   bool drained) {
  const config::Vip& vip = find_vip(cfg_, vip_name);
  const config::Backend& be = find_backend(vip, backend);
  lb_.set_drained(vip.name, be.id(), drained);
  size_t usable = rebuild_ring(dp_, dp_.active_generation(), vip, lb_);
  proxy_.rebuild(vip.name);
  std::string what = fmt::format("VIP {} backend {} {}; {} of {} backends take new flows",
                                 vip.name, be.id(), drained ? "drained" : "undrained", usable,
                                 vip.backends.size());
  spdlog::info("{}", what);
  update_announcements();
  return what;
}

void LbControl::set_healthy(const std::string& vip_name, const std::string& backend,
                            bool healthy, const std::string& reason) {
  const config::Vip& vip = find_vip(cfg_, vip_name);
  if (lb_.healthy(vip.name, backend) == healthy) return;
  lb_.set_healthy(vip.name, backend, healthy);
  size_t usable = rebuild_ring(dp_, dp_.active_generation(), vip, lb_);
  proxy_.rebuild(vip.name);
  spdlog::log(healthy ? spdlog::level::info : spdlog::level::warn,
              "VIP {} backend {} is {} ({}); {} of {} backends take new flows", vip.name, backend,
              healthy ? "up" : "DOWN", reason, usable, vip.backends.size());
  update_announcements();
}

void LbControl::update_announcements() {
  if (announcer_) announcer_->update(vip_readiness());
}

// A VIP is servable here while every port is attached and at least one
// backend takes new flows. With a health check, "takes new flows" also
// needs a completed check: a starting instance keeps Maglev tables full
// (initial state "up", so a restart does not drop flows), but it must not
// attract new traffic on a guess.
std::vector<announce::VipReadiness> LbControl::vip_readiness() const {
  std::vector<announce::VipReadiness> out;
  const std::optional<std::string> missing = missing_port_();
  for (const auto& vip : cfg_.lb.vips) {
    announce::VipReadiness r{.name = vip.name, .addr = vip.addr};
    size_t usable = 0, unconfirmed = 0;
    for (const auto& be : vip.backends) {
      if (lb_.effective_weight(vip, be) == 0) continue;
      if (vip.health_check) {
        auto st = health_.status(lb::health_target_id(vip.name, be.id()));
        if (st && st->last_result.empty()) {
          ++unconfirmed;
          continue;
        }
      }
      ++usable;
    }
    if (missing) {
      r.why = fmt::format("port {} is missing", *missing);
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

void LbControl::warm_backend_neighbours() const {
  for (const auto& vip : cfg_.lb.vips) {
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

nlohmann::json LbControl::json() const { return lb_json(cfg_, dp_, lb_); }

void LbControl::status(nlohmann::json& status) const {
  status["lb"] = json();
  if (announcer_) status["announce"] = announcer_->status();
  if (proxy_.enabled()) status["proxy"] = proxy_.status();
}

void LbControl::metrics(std::vector<control::MetricFamily>& out) const {
  for (auto& f : lb_metrics(cfg_, dp_, lb_)) out.push_back(std::move(f));
  if (announcer_)
    for (auto& f : announcer_->metrics()) out.push_back(std::move(f));
  if (proxy_.enabled())
    for (auto& f : proxy_.metrics()) out.push_back(std::move(f));
}

}  // namespace xdpgw::daemon
