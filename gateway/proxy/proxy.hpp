// Proxy mode (`mode = "proxy"` VIPs): the daemon accepts the client's TCP
// connection on VIP:port, picks a backend from the VIP's Maglev table by the
// client's 5-tuple, connects to it (trying the next backend of the table on
// refusal or timeout), optionally writes a PROXY protocol v2 header, and
// hands both sockets to the kernel (Splicer): from then on the bytes go from
// socket to socket inside the kernel, and this class only watches for the
// ends of the two streams.
//
//   FIN   a side reads EOF: once every byte redirected from it has reached
//         the peer's send queue, the peer's write side is shut down
//         (a FIN is not carried by a redirect)
//   RST   a side reports an error: the peer is closed with SO_LINGER 0 (RST)
//   idle  no byte in either direction for the VIP's idle_timeout_ms: closed
//   limit max_connections live connections per VIP: accepting pauses (the
//         kernel's backlog holds the next clients) until one closes
//
// Every socket has one owner (an Asio socket in a Conn, which lives in
// conns_ until it is closed, once). A reload reconfigures VIPs in place:
// established connections stay. The daemon exiting closes them all (the
// kernel closes whatever a killed process held).
//
// Threading: everything runs on the io_context given to the constructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "control/metrics.hpp"

namespace xdpgw::proxy {

class Splicer;

// The weight a backend has in its VIP's table right now: its configured
// weight, or 0 while it is down or drained (the daemon's LbRuntime).
using WeightFn = std::function<uint32_t(const config::Vip&, const config::Backend&)>;

class ProxyService {
 public:
  ProxyService(boost::asio::io_context& io, WeightFn weight);
  ~ProxyService();
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // Follows the running config's proxy VIPs: listeners opened (kept when
  // address and port are unchanged, closed for VIPs that are gone), Maglev
  // tables rebuilt; live connections are kept. The first config with a
  // proxy VIP loads the splice program: throws std::runtime_error with one
  // line when this kernel cannot (the probe). A listener that cannot be
  // opened is logged and shown in status(), and retried on the next call.
  void configure(const config::LoadBalancer& lb);
  // A backend's health or drain changed: new connections follow.
  void rebuild(const std::string& vip_name);
  // Stop: no new connections; `done` runs (on the io_context) when the
  // last one has closed, or after `grace`, when the rest are closed.
  void drain(std::chrono::milliseconds grace, std::function<void()> done);

  size_t connections() const { return conns_.size(); }
  bool enabled() const { return !vips_.empty() || !conns_.empty(); }
  // {"total": N, "connections": [{vip, client, backend, to_backend_bytes,
  // to_client_bytes, age_s, state}]}
  nlohmann::json flows(size_t limit) const;
  nlohmann::json status() const;
  std::vector<control::MetricFamily> metrics() const;

 private:
  struct VipState;
  struct Conn;
  enum Side : uint8_t { kClient = 0, kBackend = 1 };

  void open_listener(VipState& vip);
  void arm_accept(const std::shared_ptr<VipState>& vip);
  void rebuild_table(VipState& vip);
  void connect_next(Conn& c);
  void on_connected(Conn& c);
  void relay(Conn& c);
  void pump(Conn& c, Side from);
  uint64_t bytes_from(const Conn& c, Side side) const;
  void watch(Conn& c, Side side);
  void wait_for_events();
  void check_flow(uint64_t id, Side side);
  void copy_when_flushed(uint64_t id, Side side, int flushed_looks);
  uint64_t backlog(Conn& c, Side side) const;
  void on_readable(uint64_t id, Side side);
  void forward_fin(uint64_t id, Side side);
  void close_conn(Conn& c, std::string_view why, bool rst_client, bool rst_backend);
  void sweep_idle();
  void schedule_sweep();
  Conn* find(uint64_t id);

  boost::asio::io_context& io_;
  WeightFn weight_;
  std::unique_ptr<Splicer> splicer_;
  std::map<std::string, std::shared_ptr<VipState>> vips_;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::map<uint64_t, std::pair<uint64_t, Side>> by_cookie_;  // spliced sockets -> (conn id, side)
  std::unique_ptr<boost::asio::posix::stream_descriptor> events_;  // proxy_events' epoll fd
  uint64_t next_id_ = 1;
  boost::asio::steady_timer sweep_timer_;
  bool sweeping_ = false;
  bool draining_ = false;
  boost::asio::steady_timer drain_timer_;
  std::function<void()> drain_done_;
};

}  // namespace xdpgw::proxy
