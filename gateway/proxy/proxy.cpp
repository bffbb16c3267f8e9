#include "proxy/proxy.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lb/maglev.hpp"
#include "proxy/proxy_protocol.hpp"
#include "proxy/splice.hpp"

// glibc's <netinet/in.h> predates it (Linux 4.15, <linux/in6.h>).
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

namespace xdpgw::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// The Maglev key of a client: its 5-tuple, hashed with a fixed key like the
// table itself, so every gateway instance sends a client to the same backend.
uint64_t flow_hash(const tcp::endpoint& client, const tcp::endpoint& vip) {
  auto v6 = [](const asio::ip::address& a) {
    return a.is_v6() ? a.to_v6().to_bytes()
                     : asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
  };
  std::string key;
  for (const auto& bytes : {v6(client.address()), v6(vip.address())})
    key.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (uint16_t port : {client.port(), vip.port()}) {
    key.push_back(static_cast<char>(port >> 8));
    key.push_back(static_cast<char>(port & 0xff));
  }
  key.push_back(static_cast<char>(IPPROTO_TCP));
  return lb::siphash_2_4({.k0 = 0x7864706777507278ULL, .k1 = 0x70726f78796d6f64ULL}, key);
}

asio::ip::address to_asio(const config::IpAddr& a) {
  if (a.family == config::IpFamily::kV4) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(a.bytes.begin(), 4, b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(a.bytes.begin(), 16, b.begin());
  return asio::ip::address_v6(b);
}

std::string text(const tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

void set_int(int fd, int level, int name, int value, std::string_view what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0)
    throw std::system_error(errno, std::generic_category(), std::string(what));
}

// Closing with SO_LINGER {on, 0} sends a RST instead of a FIN.
void linger_zero(tcp::socket& s) {
  boost::system::error_code ec;
  s.set_option(asio::socket_base::linger(true, 0), ec);
}

}  // namespace

struct ProxyService::VipState {
  explicit VipState(asio::io_context& io) : retry_timer(io) {}
  config::Vip cfg;
  std::vector<uint32_t> table;  // Maglev slot -> index into cfg.backends
  size_t usable = 0;
  std::unique_ptr<tcp::acceptor> acceptor;
  uint64_t listen_gen = 0;  // an accept handler of an older acceptor is stale
  bool accept_pending = false;
  asio::steady_timer retry_timer;  // after an accept error (EMFILE ...)
  std::string listen_error;
  uint64_t active = 0;
  uint64_t accepted = 0;
  uint64_t no_backend = 0;    // clients closed: no backend left to try
  uint64_t splice_errors = 0;
  uint64_t relayed = 0;       // copied in user space: a side had closed before the splice
  uint64_t idle_closed = 0;
  uint64_t copied = 0;        // directions copied by the daemon: their reader could not keep up
  uint64_t resets = 0;        // connections that ended with a RST from a side
  uint64_t bytes_to_backend = 0;  // of connections already closed
  uint64_t bytes_to_client = 0;
  std::map<std::string, uint64_t> connect_failures;  // backend id
  std::map<std::string, uint64_t> spliced;           // backend id
};

struct ProxyService::Conn {
  Conn(asio::io_context& io, uint64_t id, std::shared_ptr<VipState> vip, tcp::socket client)
      : id(id), vip(std::move(vip)), client(std::move(client)), backend(io), connect_timer(io),
        fin_timer{asio::steady_timer(io), asio::steady_timer(io)},
        flow_timer{asio::steady_timer(io), asio::steady_timer(io)} {}
  tcp::socket& sock(Side s) { return s == kClient ? client : backend; }

  uint64_t id;
  std::shared_ptr<VipState> vip;  // kept alive by its connections across reloads
  tcp::socket client;
  tcp::socket backend;
  tcp::endpoint client_ep, vip_ep, backend_ep;
  std::string backend_id;
  asio::steady_timer connect_timer;
  uint64_t hash = 0;
  uint32_t attempt = 0;
  std::set<uint32_t> tried;  // indices into vip->cfg.backends
  size_t next_slot = 0;
  bool spliced = false;
  bool relayed = false;  // copied in user space (see relay())
  uint64_t relay_bytes[2] = {0, 0};
  // Allocated when a direction is first copied: a spliced connection
  // needs none, and 128 KiB each would add up over thousands of them.
  std::unique_ptr<std::array<char, 65536>> relay_buf[2];
  uint64_t cookie[2] = {0, 0};
  uint64_t send_base[2] = {0, 0};  // send_stream_position at splice time
  bool waiting[2] = {false, false};
  bool eof[2] = {false, false};   // read EOF on this side
  bool shut[2] = {false, false};  // we shut down this side's write half
  asio::steady_timer fin_timer[2];
  std::chrono::milliseconds fin_delay[2] = {std::chrono::milliseconds(1), std::chrono::milliseconds(1)};
  bool copying[2] = {false, false};  // this side's bytes are copied by the daemon (check_flow)
  asio::steady_timer flow_timer[2];
  std::chrono::milliseconds flow_delay[2] = {std::chrono::milliseconds(1), std::chrono::milliseconds(1)};
  uint64_t activity = 0;  // segments both ways at the last sweep
  Clock::time_point created = Clock::now();
  Clock::time_point last_active = created;
};

ProxyService::ProxyService(asio::io_context& io, WeightFn weight)
    : io_(io), weight_(std::move(weight)), sweep_timer_(io), drain_timer_(io) {}

ProxyService::~ProxyService() {
  for (auto& [id, c] : conns_)
    if (c->spliced) splicer_->unsplice(c->cookie[kClient], c->cookie[kBackend]);
  conns_.clear();  // the sockets close here, once each
}

uint64_t ProxyService::bytes_from(const Conn& c, Side side) const {
  if (!c.spliced) return c.relay_bytes[side];
  auto s = splicer_->side(c.cookie[side]);
  return (s ? s->bytes : 0) + c.relay_bytes[side];
}

ProxyService::Conn* ProxyService::find(uint64_t id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

void ProxyService::configure(const config::LoadBalancer& lb) {
  const bool any = std::any_of(lb.vips.begin(), lb.vips.end(),
                               [](const config::Vip& v) { return v.mode == config::LbMode::kProxy; });
  if (any && !splicer_) {
    try {
      splicer_ = std::make_unique<Splicer>();
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format(
          "proxy mode unavailable: this kernel cannot splice sockets with a SOCKHASH and an sk_skb "
          "stream verdict program ({}); VIPs with mode = \"proxy\" cannot be served",
          e.what()));
    }
    spdlog::info("proxy: SOCKHASH splice loaded (sk_skb stream verdict)");
    const int fd = ::dup(splicer_->events_fd());
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup proxy_events epoll fd");
    events_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
    wait_for_events();
    // Two sockets per proxied connection: the usual soft limit of 1024
    // open files would cap a VIP near 500 connections.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        spdlog::info("proxy: open-file limit raised to {} (two sockets per proxied connection)", rl.rlim_cur);
      else
        spdlog::warn("proxy: raising the open-file limit to {}: {}", rl.rlim_max, std::strerror(errno));
    }
  }
  std::set<std::string> wanted;
  for (const auto& vip : lb.vips) {
    if (vip.mode != config::LbMode::kProxy) continue;
    wanted.insert(vip.name);
    auto& state = vips_[vip.name];
    if (!state) state = std::make_shared<VipState>(io_);
    const bool moved = state->cfg.addr != vip.addr || state->cfg.port != vip.port;
    state->cfg = vip;
    rebuild_table(*state);
    if (moved || !state->acceptor) open_listener(*state);
    arm_accept(state);
  }
  for (auto it = vips_.begin(); it != vips_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("proxy: VIP {} removed; its {} connections stay until they end", it->first,
                 it->second->active);
    it->second->acceptor.reset();  // a pending accept completes as aborted
    ++it->second->listen_gen;
    it = vips_.erase(it);
  }
  if (enabled()) schedule_sweep();
}

void ProxyService::open_listener(VipState& vip) {
  ++vip.listen_gen;
  vip.accept_pending = false;
  vip.acceptor.reset();
  const tcp::endpoint ep(to_asio(vip.cfg.addr), vip.cfg.port);
  try {
    auto acc = std::make_unique<tcp::acceptor>(io_);
    acc->open(ep.protocol());
    acc->set_option(asio::socket_base::reuse_address(true));
    if (ep.address().is_v6()) acc->set_option(asio::ip::v6_only(true));
    // The kernel delivers VIP:port here only where the VIP is a local
    // address (on lo or a port); IP_FREEBIND lets the listener exist before
    // the address is configured, so the daemon starts and reloads
    // regardless of the order an operator does things in.
    if (ep.address().is_v6())
      set_int(acc->native_handle(), IPPROTO_IPV6, IPV6_FREEBIND, 1, "setsockopt IPV6_FREEBIND");
    else
      set_int(acc->native_handle(), IPPROTO_IP, IP_FREEBIND, 1, "setsockopt IP_FREEBIND");
    acc->bind(ep);
    acc->listen(asio::socket_base::max_listen_connections);
    vip.acceptor = std::move(acc);
    vip.listen_error.clear();
    spdlog::info("proxy: VIP {} listening on {}", vip.cfg.name, text(ep));
  } catch (const std::exception& e) {
    vip.listen_error = fmt::format("listen on {}: {}", text(ep), e.what());
    spdlog::error("proxy: VIP {}: {}; retried on the next reload", vip.cfg.name, vip.listen_error);
  }
}

void ProxyService::rebuild_table(VipState& vip) {
  std::vector<lb::Backend> pool;
  vip.usable = 0;
  for (const auto& be : vip.cfg.backends) {
    pool.push_back({.id = be.id(), .weight = weight_(vip.cfg, be)});
    if (pool.back().weight > 0) ++vip.usable;
  }
  vip.table = lb::build_maglev_table(pool, vip.cfg.table_size);
}

void ProxyService::rebuild(const std::string& vip_name) {
  if (auto it = vips_.find(vip_name); it != vips_.end()) rebuild_table(*it->second);
}

void ProxyService::arm_accept(const std::shared_ptr<VipState>& vip) {
  if (!vip->acceptor || vip->accept_pending || draining_ || vip->active >= vip->cfg.max_connections)
    return;
  vip->accept_pending = true;
  vip->acceptor->async_accept(
      [this, weak = std::weak_ptr<VipState>(vip), gen = vip->listen_gen](const boost::system::error_code& ec,
                                                                         tcp::socket socket) {
        auto vip = weak.lock();
        if (!vip || gen != vip->listen_gen) {
          spdlog::trace("proxy: accept completed on a closed listener ({})", ec.message());
          return;
        }
        vip->accept_pending = false;
        if (ec) {
          if (ec == asio::error::operation_aborted) return;
          // EMFILE, ENOBUFS...: the client waits in the backlog; try again
          // a little later instead of spinning.
          spdlog::warn("proxy: VIP {}: accept: {}", vip->cfg.name, ec.message());
          vip->retry_timer.expires_after(std::chrono::milliseconds(100));
          vip->retry_timer.async_wait([this, weak](const boost::system::error_code& timer_ec) {
            if (auto v = weak.lock(); v && !timer_ec) arm_accept(v);
          });
          return;
        }
        const uint64_t id = next_id_++;
        spdlog::trace("proxy: VIP {}: accepted connection {}", vip->cfg.name, id);
        auto conn = std::make_unique<Conn>(io_, id, vip, std::move(socket));
        Conn& c = *conn;
        conns_.emplace(id, std::move(conn));
        ++vip->active;
        ++vip->accepted;
        boost::system::error_code ep_ec;
        c.client_ep = c.client.remote_endpoint(ep_ec);
        c.vip_ep = c.client.local_endpoint(ep_ec);
        if (ep_ec) {  // the client is already gone
          close_conn(c, "client gone before connect", false, false);
        } else {
          c.client.set_option(tcp::no_delay(true), ep_ec);
          c.hash = flow_hash(c.client_ep, c.vip_ep);
          connect_next(c);
        }
        arm_accept(vip);
      });
}

// The next backend of the table the client's hash points at that was not
// tried yet, up to connect_tries of them.
void ProxyService::connect_next(Conn& c) {
  VipState& vip = *c.vip;
  std::optional<uint32_t> pick;
  if (!vip.table.empty() && c.tried.size() < vip.cfg.connect_tries) {
    const size_t size = vip.table.size();
    if (c.attempt == 0) c.next_slot = c.hash % size;
    for (size_t n = 0; n < size && !pick; ++n, c.next_slot = (c.next_slot + 1) % size)
      if (!c.tried.contains(vip.table[c.next_slot])) pick = vip.table[c.next_slot];
  }
  if (!pick) {
    ++vip.no_backend;
    spdlog::debug("proxy: VIP {}: client {}: no backend left after {} tries", vip.cfg.name,
                  text(c.client_ep), c.tried.size());
    close_conn(c, "no backend", /*rst_client=*/true, false);
    return;
  }
  c.tried.insert(*pick);
  const config::Backend& be = vip.cfg.backends[*pick];
  c.backend_id = be.id();
  c.backend_ep = tcp::endpoint(to_asio(be.addr), be.port != 0 ? be.port : vip.cfg.port);
  boost::system::error_code ec;
  c.backend.close(ec);
  c.backend = tcp::socket(io_);
  const uint32_t attempt = ++c.attempt;
  const uint64_t id = c.id;
  c.connect_timer.expires_after(std::chrono::milliseconds(vip.cfg.connect_timeout_ms));
  c.connect_timer.async_wait([this, id, attempt](const boost::system::error_code& timer_ec) {
    Conn* c = find(id);
    if (timer_ec || c == nullptr || c->attempt != attempt || c->spliced) return;
    boost::system::error_code ignored;
    c->backend.close(ignored);  // the connect completes as aborted: next backend
  });
  c.backend.async_connect(c.backend_ep, [this, id, attempt](const boost::system::error_code& conn_ec) {
    Conn* c = find(id);
    if (c == nullptr || c->attempt != attempt) return;
    c->connect_timer.cancel();
    if (conn_ec) {
      ++c->vip->connect_failures[c->backend_id];
      spdlog::debug("proxy: VIP {}: connect to {} failed: {}", c->vip->cfg.name, c->backend_id,
                    conn_ec == asio::error::operation_aborted ? "timeout" : conn_ec.message());
      connect_next(*c);
      return;
    }
    spdlog::trace("proxy: VIP {}: connection {} connected to {}", c->vip->cfg.name, c->id, c->backend_id);
    on_connected(*c);
  });
}

void ProxyService::on_connected(Conn& c) {
  VipState& vip = *c.vip;
  const int cfd = c.client.native_handle(), bfd = c.backend.native_handle();
  try {
    boost::system::error_code ec;
    c.backend.set_option(tcp::no_delay(true), ec);
    if (vip.cfg.proxy_protocol) {
      // A fresh socket's send buffer takes 52 bytes at once; anything else
      // is an error, not a partial write to finish later.
      const std::vector<uint8_t> header = proxy_v2_header(c.client_ep, c.vip_ep);
      const ssize_t n = ::send(bfd, header.data(), header.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(header.size()))
        throw std::system_error(n < 0 ? errno : EAGAIN, std::generic_category(), "write PROXY v2 header");
    }
    c.cookie[kClient] = Splicer::cookie(cfd);
    c.cookie[kBackend] = Splicer::cookie(bfd);
    c.send_base[kClient] = Splicer::send_stream_position(cfd);
    c.send_base[kBackend] = Splicer::send_stream_position(bfd);
    try {
      splicer_->splice(cfd, c.cookie[kClient], bfd, c.cookie[kBackend]);
    } catch (const std::system_error& e) {
      // A SOCKHASH takes established TCP sockets only: a client that sent
      // its request and its FIN before the backend answered (or a backend
      // that said all it had to say and closed) is past that. Such a
      // connection is copied in user space instead; it has little left to
      // carry in one direction anyway.
      if (e.code().value() != EOPNOTSUPP) throw;
      relay(c);
      return;
    }
    c.spliced = true;
    by_cookie_[c.cookie[kClient]] = {c.id, kClient};
    by_cookie_[c.cookie[kBackend]] = {c.id, kBackend};
    // Bytes that arrived before the sockets entered the SOCKHASH (the
    // client's request, a backend's greeting) go through the verdict now.
    Splicer::kick(cfd);
    Splicer::kick(bfd);
  } catch (const std::exception& e) {
    ++vip.splice_errors;
    spdlog::warn("proxy: VIP {}: client {} -> {}: splice failed: {}", vip.cfg.name, text(c.client_ep),
                 c.backend_id, e.what());
    close_conn(c, "splice failed", true, true);
    return;
  }
  ++vip.spliced[c.backend_id];
  c.last_active = Clock::now();
  watch(c, kClient);
  watch(c, kBackend);
}

// Flow control. A redirect to the peer's egress queues skbs on the peer's
// psock without limit: a fast backend and a slow client would pile the
// whole response up in the gateway. So every XDPGW_PROXY_CHECK_BYTES the
// verdict reports a side, and a side more than kHighWater ahead of what
// reached its peer's send queue is copied by the daemon for the rest of
// the connection (Splicer::set_passive): read at the pace the peer's send
// buffer allows, so the gateway holds at most the two sockets' buffers.
// (Going back to the splice later would need the queue the daemon reads
// and the verdict's redirects ordered against each other, which nothing
// in the kernel offers; a direction whose reader was this slow gains
// little from zero copy anyway.)
namespace {
constexpr uint64_t kHighWater = 4u << 20;
}  // namespace

void ProxyService::wait_for_events() {
  events_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    try {
      splicer_->consume_events([this](uint64_t cookie) {
        if (auto it = by_cookie_.find(cookie); it != by_cookie_.end())
          check_flow(it->second.first, it->second.second);
      });
    } catch (const std::exception& e) {
      spdlog::warn("proxy: {}", e.what());
    }
    wait_for_events();
  });
}

uint64_t ProxyService::backlog(Conn& c, Side side) const {
  const Side peer = side == kClient ? kBackend : kClient;
  auto s = splicer_->side(c.cookie[side]);
  const uint64_t redirected = s ? s->bytes : 0;
  const uint64_t written = Splicer::send_stream_position(c.sock(peer).native_handle()) - c.send_base[peer];
  return redirected > written ? redirected - written : 0;
}

void ProxyService::check_flow(uint64_t id, Side side) {
  Conn* c = find(id);
  if (c == nullptr || !c->spliced || c->copying[side]) return;
  try {
    const uint64_t queued = backlog(*c, side);
    if (queued <= kHighWater) return;
    splicer_->set_passive(c->cookie[side]);
    c->copying[side] = true;
    ++c->vip->copied;
    spdlog::trace("proxy: VIP {}: {} {} is {} bytes ahead of its peer: copied from now on", c->vip->cfg.name,
                  side == kClient ? "client" : "backend", side == kClient ? text(c->client_ep) : c->backend_id,
                  queued);
  } catch (const std::exception& e) {
    ++c->vip->splice_errors;
    spdlog::warn("proxy: VIP {}: flow control: {}", c->vip->cfg.name, e.what());
    close_conn(*c, "splice error", true, true);
    return;
  }
  copy_when_flushed(id, side, 0);
}

// The copy starts once every byte redirected before has reached the peer,
// seen on two looks a timer tick apart (a verdict run that had not seen
// the switch is long over by the second), so the bytes keep their order.
void ProxyService::copy_when_flushed(uint64_t id, Side side, int flushed_looks) {
  Conn* c = find(id);
  if (c == nullptr) return;
  try {
    flushed_looks = backlog(*c, side) == 0 ? flushed_looks + 1 : 0;
  } catch (const std::exception& e) {
    ++c->vip->splice_errors;
    spdlog::warn("proxy: VIP {}: flow control: {}", c->vip->cfg.name, e.what());
    close_conn(*c, "splice error", true, true);
    return;
  }
  if (flushed_looks >= 2) {
    pump(*c, side);
    return;
  }
  c->flow_timer[side].expires_after(c->flow_delay[side]);
  c->flow_delay[side] = std::min(c->flow_delay[side] * 2, std::chrono::milliseconds(50));
  c->flow_timer[side].async_wait([this, id, side, flushed_looks](const boost::system::error_code& ec) {
    if (!ec) copy_when_flushed(id, side, flushed_looks);
  });
}

void ProxyService::relay(Conn& c) {
  ++c.vip->relayed;
  c.relayed = true;
  ++c.vip->spliced[c.backend_id];
  pump(c, kClient);
  pump(c, kBackend);
}

// One direction of a relayed connection: read what `from` sends, write it
// to its peer, then read again (one buffer in flight: the peer's send
// buffer throttles the reader, as in the kernel's splice).
void ProxyService::pump(Conn& c, Side from) {
  const uint64_t id = c.id;
  if (!c.relay_buf[from]) c.relay_buf[from] = std::make_unique<std::array<char, 65536>>();
  c.sock(from).async_read_some(
      asio::buffer(*c.relay_buf[from]), [this, id, from](const boost::system::error_code& ec, size_t n) {
        Conn* c = find(id);
        if (c == nullptr || ec == asio::error::operation_aborted) return;
        const Side to = from == kClient ? kBackend : kClient;
        if (ec == asio::error::eof) {
          c->eof[from] = true;
          boost::system::error_code ignored;
          c->sock(to).shutdown(tcp::socket::shutdown_send, ignored);
          c->shut[to] = true;
          if (c->eof[to] && c->shut[from]) close_conn(*c, "closed", false, false);
          return;
        }
        if (ec) {
          ++c->vip->resets;
          close_conn(*c, from == kClient ? "client reset" : "backend reset", to == kClient, to == kBackend);
          return;
        }
        c->relay_bytes[from] += n;
        asio::async_write(c->sock(to), asio::buffer(c->relay_buf[from]->data(), n),
                          [this, id, from](const boost::system::error_code& write_ec, size_t) {
                            Conn* c = find(id);
                            if (c == nullptr || write_ec == asio::error::operation_aborted) return;
                            if (write_ec) {
                              ++c->vip->resets;
                              close_conn(*c, "write failed", true, true);
                              return;
                            }
                            pump(*c, from);
                          });
      });
}

// Spliced sockets wake user space only for EOF and errors (redirected data
// never reaches the socket's own queue). Asio's epoll registration is edge
// triggered, so an EOF that came before the wait was armed is looked for
// once with poll().
void ProxyService::watch(Conn& c, Side side) {
  if (c.waiting[side] || c.eof[side]) return;
  c.waiting[side] = true;
  const uint64_t id = c.id;
  c.sock(side).async_wait(tcp::socket::wait_read, [this, id, side](const boost::system::error_code& ec) {
    Conn* c = find(id);
    if (c == nullptr) return;
    c->waiting[side] = false;
    if (ec == asio::error::operation_aborted) return;
    on_readable(id, side);
  });
  pollfd p{.fd = c.sock(side).native_handle(), .events = POLLIN | POLLRDHUP, .revents = 0};
  if (::poll(&p, 1, 0) > 0) asio::post(io_, [this, id, side] { on_readable(id, side); });
}

void ProxyService::on_readable(uint64_t id, Side side) {
  Conn* c = find(id);
  // A copied side's EOF and errors are pump()'s.
  if (c == nullptr || c->eof[side] || c->copying[side]) return;
  const Side peer = side == kClient ? kBackend : kClient;
  char byte = 0;
  const ssize_t n = ::recv(c->sock(side).native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  const int err = n < 0 ? errno : 0;
  if (n < 0 && (err == EAGAIN || err == EINTR)) {
    watch(*c, side);
    return;
  }
  if (n < 0) {
    // RST (or a timeout) on this side: the peer gets a RST too.
    ++c->vip->resets;
    spdlog::debug("proxy: VIP {}: {} {}: {}", c->vip->cfg.name, side == kClient ? "client" : "backend",
                  side == kClient ? text(c->client_ep) : c->backend_id, std::strerror(err));
    close_conn(*c, side == kClient ? "client reset" : "backend reset", peer == kClient, peer == kBackend);
    return;
  }
  if (n > 0) {
    // Bytes the verdict has not taken yet (they raced the kick in
    // on_connected): kick again and look later.
    int one = 1;
    setsockopt(c->sock(side).native_handle(), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    c->fin_timer[side].expires_after(std::chrono::milliseconds(1));
    c->fin_timer[side].async_wait([this, id, side](const boost::system::error_code& ec) {
      if (!ec) on_readable(id, side);
    });
    return;
  }
  // EOF. A RST after a FIN still leaves an error to collect.
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(c->sock(side).native_handle(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    ++c->vip->resets;
    close_conn(*c, side == kClient ? "client reset" : "backend reset", peer == kClient, peer == kBackend);
    return;
  }
  c->eof[side] = true;
  forward_fin(id, side);
}

// The redirect hands bytes to the peer's psock, whose worker writes them
// into the peer socket a moment later: shutting the peer's write side
// before that would cut them off. So the FIN goes once the peer's send
// stream has advanced by every byte the verdict redirected from `side`.
void ProxyService::forward_fin(uint64_t id, Side side) {
  Conn* c = find(id);
  if (c == nullptr) return;
  const Side peer = side == kClient ? kBackend : kClient;
  uint64_t redirected = 0, written = 0;
  try {
    if (auto s = splicer_->side(c->cookie[side])) redirected = s->bytes;
    written = Splicer::send_stream_position(c->sock(peer).native_handle()) - c->send_base[peer];
  } catch (const std::exception& e) {
    ++c->vip->splice_errors;
    spdlog::warn("proxy: VIP {}: forwarding a FIN: {}", c->vip->cfg.name, e.what());
    close_conn(*c, "splice error", true, true);
    return;
  }
  if (written < redirected) {
    c->fin_timer[side].expires_after(c->fin_delay[side]);
    c->fin_delay[side] = std::min(c->fin_delay[side] * 2, std::chrono::milliseconds(100));
    c->fin_timer[side].async_wait([this, id, side](const boost::system::error_code& ec) {
      if (!ec) forward_fin(id, side);
    });
    return;
  }
  boost::system::error_code ec;
  c->sock(peer).shutdown(tcp::socket::shutdown_send, ec);
  c->shut[peer] = true;
  if (c->eof[peer] && c->shut[side]) close_conn(*c, "closed", false, false);
}

void ProxyService::close_conn(Conn& c, std::string_view why, bool rst_client, bool rst_backend) {
  VipState& vip = *c.vip;
  by_cookie_.erase(c.cookie[kClient]);
  by_cookie_.erase(c.cookie[kBackend]);
  vip.bytes_to_backend += bytes_from(c, kClient);
  vip.bytes_to_client += bytes_from(c, kBackend);
  if (c.spliced) splicer_->unsplice(c.cookie[kClient], c.cookie[kBackend]);
  if (rst_client) linger_zero(c.client);
  if (rst_backend && c.backend.is_open()) linger_zero(c.backend);
  spdlog::trace("proxy: VIP {}: {} <-> {}: {}", vip.cfg.name, text(c.client_ep), c.backend_id, why);
  boost::system::error_code ec;
  c.client.close(ec);
  c.backend.close(ec);
  --vip.active;
  auto vip_ptr = c.vip;
  const uint64_t id = c.id;
  conns_.erase(id);  // c is gone from here on
  if (vips_.contains(vip_ptr->cfg.name) && vips_.at(vip_ptr->cfg.name) == vip_ptr) arm_accept(vip_ptr);
  if (draining_ && conns_.empty() && drain_done_) {
    drain_timer_.cancel();
    asio::post(io_, std::exchange(drain_done_, nullptr));
  }
}

void ProxyService::schedule_sweep() {
  if (sweeping_) return;
  sweeping_ = true;
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    sweeping_ = false;
    if (ec) return;
    sweep_idle();
    if (enabled()) schedule_sweep();
  });
}

// Activity is the verdict's segment counters of both sides: a connection
// whose counters did not move for the VIP's idle_timeout_ms is closed.
void ProxyService::sweep_idle() {
  const auto now = Clock::now();
  std::vector<uint64_t> idle;
  for (auto& [id, c] : conns_) {
    if ((!c->spliced && !c->relayed) || c->vip->cfg.idle_timeout_ms == 0) continue;
    uint64_t activity = c->relay_bytes[kClient] + c->relay_bytes[kBackend];
    for (Side s : {kClient, kBackend})
      if (auto side = c->spliced ? splicer_->side(c->cookie[s]) : std::nullopt) activity += side->segments;
    if (activity != c->activity) {
      c->activity = activity;
      c->last_active = now;
    } else if (now - c->last_active >= std::chrono::milliseconds(c->vip->cfg.idle_timeout_ms)) {
      idle.push_back(id);
    }
  }
  for (uint64_t id : idle)
    if (Conn* c = find(id)) {
      ++c->vip->idle_closed;
      close_conn(*c, "idle timeout", false, false);
    }
}

void ProxyService::drain(std::chrono::milliseconds grace, std::function<void()> done) {
  draining_ = true;
  for (auto& [name, vip] : vips_) {
    vip->acceptor.reset();
    ++vip->listen_gen;
  }
  if (conns_.empty()) {
    asio::post(io_, std::move(done));
    return;
  }
  spdlog::info("proxy: stopping: {} proxied connections get {} ms to finish", conns_.size(), grace.count());
  drain_done_ = std::move(done);
  drain_timer_.expires_after(grace);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::info("proxy: grace period over: closing {} proxied connections", conns_.size());
    std::vector<uint64_t> ids;
    for (auto& [id, c] : conns_) ids.push_back(id);
    for (uint64_t id : ids)
      if (Conn* c = find(id)) close_conn(*c, "stopping", false, false);
    if (drain_done_) asio::post(io_, std::exchange(drain_done_, nullptr));
  });
}

nlohmann::json ProxyService::flows(size_t limit) const {
  nlohmann::json list = nlohmann::json::array();
  const auto now = Clock::now();
  for (const auto& [id, c] : conns_) {
    if (list.size() >= limit) break;
    const uint64_t to_backend = bytes_from(*c, kClient), to_client = bytes_from(*c, kBackend);
    std::string state = c->relayed ? "relayed"
                        : !c->spliced ? "connecting"
                        : c->eof[kClient] && c->eof[kBackend] ? "closing"
                        : c->eof[kClient] ? "client-fin"
                        : c->eof[kBackend] ? "backend-fin"
                                           : "spliced";
    list.push_back({{"vip", c->vip->cfg.name},
                    {"client", text(c->client_ep)},
                    {"backend", c->backend_id},
                    {"to_backend_bytes", to_backend},
                    {"to_client_bytes", to_client},
                    {"age_s", std::chrono::duration<double>(now - c->created).count()},
                    {"state", state}});
  }
  return {{"total", conns_.size()}, {"connections", std::move(list)}};
}

nlohmann::json ProxyService::status() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, vip] : vips_) {
    nlohmann::json v{{"listening", vip->acceptor != nullptr},
                     {"accepting", vip->accept_pending},
                     {"active", vip->active},
                     {"max_connections", vip->cfg.max_connections},
                     {"usable_backends", vip->usable}};
    if (!vip->listen_error.empty()) v["error"] = vip->listen_error;
    out[name] = std::move(v);
  }
  return out;
}

std::vector<control::MetricFamily> ProxyService::metrics() const {
  using control::MetricFamily;
  MetricFamily accepted{"xdpgw_proxy_connections_total", "Client connections accepted by proxy VIPs", "counter", {}};
  MetricFamily active{"xdpgw_proxy_connections_active", "Proxied connections open now (connecting or spliced)", "gauge", {}};
  MetricFamily spliced{"xdpgw_proxy_backend_connections_total", "Connections spliced to each backend", "counter", {}};
  MetricFamily failures{"xdpgw_proxy_connect_failures_total", "Failed connects (refused, unreachable, timed out) per backend", "counter", {}};
  MetricFamily no_backend{"xdpgw_proxy_no_backend_total", "Clients closed because no backend was left to try", "counter", {}};
  MetricFamily splice_errors{"xdpgw_proxy_splice_errors_total", "Connections closed because the splice could not be set up or followed", "counter", {}};
  MetricFamily relayed{"xdpgw_proxy_relayed_total", "Connections copied in user space because a side had closed before the splice", "counter", {}};
  MetricFamily copied{"xdpgw_proxy_copied_directions_total", "Directions the daemon copies itself because their reader could not keep up with the splice", "counter", {}};
  MetricFamily idle{"xdpgw_proxy_idle_closed_total", "Connections closed by the idle timeout", "counter", {}};
  MetricFamily resets{"xdpgw_proxy_resets_total", "Connections ended by a RST from one side (propagated to the other)", "counter", {}};
  MetricFamily bytes{"xdpgw_proxy_bytes_total", "Payload bytes spliced, by direction", "counter", {}};
  // Bytes of live connections are in the verdict's per-socket counters.
  std::map<std::string, std::pair<uint64_t, uint64_t>> live;
  for (const auto& [id, c] : conns_) {
    auto& [to_backend, to_client] = live[c->vip->cfg.name];
    to_backend += bytes_from(*c, kClient);
    to_client += bytes_from(*c, kBackend);
  }
  for (const auto& [name, vip] : vips_) {
    const std::vector<std::pair<std::string, std::string>> l{{"vip", name}};
    accepted.samples.push_back({l, static_cast<double>(vip->accepted)});
    active.samples.push_back({l, static_cast<double>(vip->active)});
    no_backend.samples.push_back({l, static_cast<double>(vip->no_backend)});
    splice_errors.samples.push_back({l, static_cast<double>(vip->splice_errors)});
    idle.samples.push_back({l, static_cast<double>(vip->idle_closed)});
    relayed.samples.push_back({l, static_cast<double>(vip->relayed)});
    copied.samples.push_back({l, static_cast<double>(vip->copied)});
    resets.samples.push_back({l, static_cast<double>(vip->resets)});
    const auto [live_to_backend, live_to_client] = live[name];
    bytes.samples.push_back({{{"vip", name}, {"direction", "to_backend"}},
                             static_cast<double>(vip->bytes_to_backend + live_to_backend)});
    bytes.samples.push_back({{{"vip", name}, {"direction", "to_client"}},
                             static_cast<double>(vip->bytes_to_client + live_to_client)});
    for (const auto& be : vip->cfg.backends) {
      const std::vector<std::pair<std::string, std::string>> lb{{"vip", name}, {"backend", be.id()}};
      auto count = [&](const std::map<std::string, uint64_t>& m) {
        auto it = m.find(be.id());
        return static_cast<double>(it == m.end() ? 0 : it->second);
      };
      spliced.samples.push_back({lb, count(vip->spliced)});
      failures.samples.push_back({lb, count(vip->connect_failures)});
    }
  }
  std::vector<MetricFamily> out{accepted, active, spliced, failures, no_backend, splice_errors, relayed, copied, idle, resets, bytes};
  if (splicer_) {
    const SpliceCounters k = splicer_->counters();
    out.push_back({"xdpgw_proxy_verdict_skbs_total",
                   "skbs the splice verdict program handled: redirected, or dropped because the peer was gone",
                   "counter",
                   {{{{"result", "redirected"}}, static_cast<double>(k.redirected_skbs)},
                    {{{"result", "no_peer"}}, static_cast<double>(k.no_peer_skbs)},
                    {{{"result", "redirect_failed"}}, static_cast<double>(k.redirect_failed_skbs)},
                    {{{"result", "empty"}}, static_cast<double>(k.empty_skbs)},
                    {{{"result", "passed"}}, static_cast<double>(k.passed_skbs)}}});
  }
  return out;
}

}  // namespace xdpgw::proxy
