#include "announce/announcer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace xdpgw::announce {
namespace {

// BIRD answers a configure in milliseconds; one that takes longer is hung
// or parsing a very large config, and the next tick retries.
constexpr std::chrono::milliseconds kBirdTimeout{5000};
constexpr std::chrono::milliseconds kFirstRetry{1000};
constexpr std::chrono::milliseconds kMaxRetry{10000};

std::vector<std::string> to_strings(const std::set<config::IpAddr>& addrs) {
  std::vector<std::string> out;
  out.reserve(addrs.size());
  for (const auto& a : addrs) out.push_back(a.to_string());
  return out;
}

}  // namespace

Announcer::Announcer(boost::asio::io_context& io, std::string instance, config::Announce settings)
    : io_(io),
      instance_(std::move(instance)),
      settings_(std::move(settings)),
      protocols_(protocol_names(settings_.protocol)) {}

std::set<config::IpAddr> Announcer::wanted() const {
  std::set<config::IpAddr> out;
  if (withdrawn_ || shutting_down_) return out;
  for (const auto& vip : vips_)
    if (vip.servable) out.insert(vip.addr);
  return out;
}

void Announcer::update(std::vector<VipReadiness> vips) {
  vips_ = std::move(vips);
  sync();
}

void Announcer::set_withdrawn(bool withdrawn) {
  if (withdrawn_ == withdrawn) return;
  withdrawn_ = withdrawn;
  spdlog::info("announce: instance {} by the operator", withdrawn ? "withdrawn" : "restored");
  retry_at_ = {};  // an operator's request does not wait for a backoff
  sync();
}

void Announcer::withdraw_for_shutdown(std::function<void()> done) {
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  retry_at_ = {};
  sync();
}

void Announcer::sync() {
  if (in_flight_) return;  // finish_exchange() syncs again
  const std::set<config::IpAddr> want = wanted();
  if (accepted_ == want) {
    if (shutting_down_ && shutdown_done_) std::exchange(shutdown_done_, nullptr)();
    return;
  }
  if (std::chrono::steady_clock::now() < retry_at_) return;
  try {
    write_file_atomically(settings_.include,
                          render_include(instance_, settings_.include, protocols_, want));
  } catch (const std::exception& e) {
    record_failure(fmt::format("writing {}: {}", settings_.include, e.what()));
    if (shutting_down_ && shutdown_done_) std::exchange(shutdown_done_, nullptr)();
    return;
  }
  in_flight_ = true;
  async_configure(io_, settings_.bird_socket, kBirdTimeout,
                  [this, want](ConfigureResult result) { finish_exchange(want, std::move(result)); });
}

void Announcer::finish_exchange(const std::set<config::IpAddr>& sent, ConfigureResult result) {
  in_flight_ = false;
  if (result.ok) {
    std::set<config::IpAddr> added, removed;
    const std::set<config::IpAddr> before = accepted_.value_or(std::set<config::IpAddr>{});
    std::set_difference(sent.begin(), sent.end(), before.begin(), before.end(),
                        std::inserter(added, added.end()));
    std::set_difference(before.begin(), before.end(), sent.begin(), sent.end(),
                        std::inserter(removed, removed.end()));
    spdlog::info("announce: BIRD reconfigured ({}): announcing [{}]{}{}", result.message,
                 fmt::join(to_strings(sent), ", "),
                 added.empty() ? "" : fmt::format("; added {}", fmt::join(to_strings(added), ", ")),
                 removed.empty() ? "" : fmt::format("; withdrew {}", fmt::join(to_strings(removed), ", ")));
    accepted_ = sent;
    last_ok_ = true;
    last_reply_ = result.message;
    last_error_.clear();
    backoff_ = std::chrono::milliseconds{0};
    retry_at_ = {};
    ++accepted_count_;
  } else {
    record_failure(std::move(result.message));
    // Shutdown does not wait for a BIRD that is not answering.
    if (shutting_down_ && shutdown_done_) {
      std::exchange(shutdown_done_, nullptr)();
      return;
    }
  }
  sync();
}

void Announcer::record_failure(std::string message) {
  ++failed_count_;
  // Logged when the reason changes, not at every retry.
  if (last_ok_ != false || message != last_error_)
    spdlog::error("announce: could not update BIRD (retrying with backoff): {}", message);
  last_ok_ = false;
  last_error_ = std::move(message);
  backoff_ = std::clamp(backoff_ * 2, kFirstRetry, kMaxRetry);
  retry_at_ = std::chrono::steady_clock::now() + backoff_;
}

nlohmann::json Announcer::status() const {
  nlohmann::json vips = nlohmann::json::array();
  for (const auto& v : vips_) {
    const bool announced = accepted_ && accepted_->contains(v.addr);
    vips.push_back({{"name", v.name}, {"address", v.addr.to_string()}, {"servable", v.servable},
                    {"why", v.why}, {"announced", announced}});
  }
  const std::set<config::IpAddr> want = wanted();
  nlohmann::json j = {
      {"include", settings_.include},
      {"bird_socket", settings_.bird_socket},
      {"protocols", {protocols_.v4, protocols_.v6}},
      {"withdrawn", withdrawn_},
      {"shutting_down", shutting_down_},
      {"wanted", to_strings(want)},
      {"announced", accepted_ ? nlohmann::json(to_strings(*accepted_)) : nlohmann::json(nullptr)},
      {"in_sync", accepted_ == want},
      {"vips", std::move(vips)},
      {"bird",
       {{"ok", last_ok_ ? nlohmann::json(*last_ok_) : nlohmann::json(nullptr)},
        {"reply", last_reply_},
        {"error", last_error_},
        {"accepted", accepted_count_},
        {"failed", failed_count_}}},
  };
  return j;
}

std::vector<control::MetricFamily> Announcer::metrics() const {
  control::MetricFamily announced{
      "xdpgw_announce_vip_announced",
      "1 while BIRD has accepted a config announcing the VIP's address from this instance", "gauge", {}};
  for (const auto& v : vips_)
    announced.samples.push_back({{{"vip", v.name}, {"address", v.addr.to_string()}},
                                 accepted_ && accepted_->contains(v.addr) ? 1.0 : 0.0});
  control::MetricFamily servable{"xdpgw_announce_vip_servable",
                                 "1 while the VIP has a usable backend and the instance can serve it",
                                 "gauge", {}};
  for (const auto& v : vips_)
    servable.samples.push_back({{{"vip", v.name}, {"address", v.addr.to_string()}}, v.servable ? 1.0 : 0.0});
  return {
      std::move(announced),
      std::move(servable),
      {"xdpgw_announce_withdrawn", "1 while the operator has withdrawn this instance's VIPs", "gauge",
       {{{}, withdrawn_ ? 1.0 : 0.0}}},
      {"xdpgw_announce_in_sync", "1 when BIRD announces exactly what this instance wants", "gauge",
       {{{}, accepted_ == wanted() ? 1.0 : 0.0}}},
      {"xdpgw_announce_bird_configures_total", "Exchanges with BIRD's control socket, by result",
       "counter",
       {{{{"result", "accepted"}}, double(accepted_count_)},
        {{{"result", "failed"}}, double(failed_count_)}}},
  };
}

std::string format_status(const nlohmann::json& st) {
  std::string out = "announce (BGP via BIRD):\n";
  const auto& bird = st.at("bird");
  std::string state;
  if (st.value("shutting_down", false))
    state = "shutting down: everything withdrawn";
  else if (st.value("withdrawn", false))
    state = "WITHDRAWN by the operator (`xdpgw announce restore` announces again)";
  else
    state = st.value("in_sync", false) ? "in sync" : "NOT in sync with BIRD";
  out += fmt::format("  {}; include {}, BIRD socket {}\n", state,
                     st.at("include").get<std::string>(), st.at("bird_socket").get<std::string>());
  if (!bird.at("ok").is_null())
    out += fmt::format("  last exchange: {} ({} accepted, {} failed)\n",
                       bird.at("ok").get<bool>() ? bird.at("reply").get<std::string>()
                                                 : "FAILED: " + bird.at("error").get<std::string>(),
                       bird.at("accepted").get<uint64_t>(), bird.at("failed").get<uint64_t>());
  for (const auto& v : st.at("vips"))
    out += fmt::format("  VIP {} {}: {} ({})\n", v.at("name").get<std::string>(),
                       v.at("address").get<std::string>(),
                       v.at("announced").get<bool>() ? "announced" : "not announced",
                       v.at("why").get<std::string>());
  return out;
}

}  // namespace xdpgw::announce
