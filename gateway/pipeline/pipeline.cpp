#include "pipeline/pipeline.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "datapath/neigh.hpp"
#include "datapath/netdev.hpp"

namespace xdpgw::pipeline {

const char* to_string(Action a) {
  switch (a) {
    case Action::Forward: return "forward";
    case Action::Drop: return "drop";
    case Action::Pass: return "pass";
  }
  return "?";
}

namespace {

UniqueFd dup_fd(int fd, const char* what) {
  if (fd < 0) throw std::invalid_argument(fmt::format("pipeline: no {} map", what));
  UniqueFd d(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!d) throw_errno(errno, fmt::format("dup {} map fd", what));
  return d;
}

// Rx queues of an interface (ETHTOOL_GCHANNELS); 1 when the driver does not
// say (one queue is what every driver has).
uint32_t rx_queue_count(const std::string& ifname) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno(errno, "socket for ETHTOOL_GCHANNELS");
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  if (ioctl(s.get(), SIOCETHTOOL, &ifr) < 0) return 1;
  const uint32_t n = ch.rx_count + ch.combined_count;
  return n ? n : 1;
}

uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint64_t monotonic_ns() {
  timespec ts{};
  // The clock XDP stamps connection-table entries with
  // (bpf_ktime_get_coarse_ns), so last_seen never goes back past created.
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool prefix_match(const uint8_t* addr, const uint8_t* pfx, unsigned len) {
  for (unsigned i = 0; i < 16 && len > 0; ++i) {
    const unsigned bits = len >= 8 ? 8 : len;
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr[i] ^ pfx[i]) & mask) return false;
    len -= bits;
  }
  return true;
}

}  // namespace

// Mirrors punt_rule_matches() in bpf/lib/punt.h.
bool rule_matches(const xdpgw_punt_rule& r, const xdpgw_flow_key& k) {
  const uint16_t sport = ntohs(k.sport), dport = ntohs(k.dport);
  if (r.proto && r.proto != k.proto) return false;
  if (r.family && r.family != k.family) return false;
  if (sport < r.sport_lo || sport > r.sport_hi) return false;
  if (dport < r.dport_lo || dport > r.dport_hi) return false;
  if (r.src_prefixlen && !prefix_match(k.src, r.src, r.src_prefixlen)) return false;
  if (r.dst_prefixlen && !prefix_match(k.dst, r.dst, r.dst_prefixlen)) return false;
  return true;
}

Pipeline::Pipeline(const PipelineConfig& config, const PipelineMaps& maps)
    : config_(config),
      xsks_(dup_fd(maps.xsks, "xsks")),
      xsk_slots_(dup_fd(maps.xsk_slots, "xsk_slots")),
      conn_table_(dup_fd(maps.conn_table, "conn_table")) {
  if (config_.ports.empty()) throw std::invalid_argument("pipeline: no ports");
  if (config_.batch == 0 || config_.batch > 1024) throw std::invalid_argument("pipeline: batch out of 1..1024");

  for (const std::string& name : config_.ports) {
    const auto dev = netdev::describe(name);
    ports_.push_back(Port{.name = name, .ifindex = dev.ifindex, .mac = dev.mac, .sockets = {}});
  }
  if (!config_.tap_name.empty()) tap_.emplace(config_.tap_name);
  rules_ = make_rule_table(config_.rules);
  if (!config_.capture_path.empty()) {
    capture_ = std::make_unique<PcapngWriter>(config_.capture_path, config_.capture_snaplen);
    capture_limit_ = config_.capture_count;
    capture_running_ = true;
  }

  uint32_t total_queues = 0;
  std::vector<uint32_t> queues;
  for (const Port& p : ports_) {
    queues.push_back(rx_queue_count(p.name));
    total_queues += queues.back();
  }
  if (total_queues > XDPGW_MAX_XSKS)
    throw std::invalid_argument(fmt::format("pipeline: {} queues, XSKMAP has {}", total_queues, XDPGW_MAX_XSKS));
  // Half the frames wait in fill rings (split evenly), half are in flight
  // (rx batches, tx rings, completion).
  fill_target_ = config_.frame_count / 2 / total_queues;
  uint32_t ring = 64;
  while (ring < fill_target_) ring <<= 1;
  umem_ = std::make_unique<xsk::Umem>(xsk::UmemConfig{.frame_count = config_.frame_count,
                                                      .fill_size = ring,
                                                      .comp_size = ring});
  uint32_t slot = 0;
  for (std::size_t pi = 0; pi < ports_.size(); ++pi) {
    for (uint32_t q = 0; q < queues[pi]; ++q, ++slot) {
      auto s = std::make_unique<xsk::Socket>(
          *umem_, xsk::SocketConfig{.ifname = ports_[pi].name,
                                    .queue = q,
                                    .rx_size = ring,
                                    .tx_size = ring,
                                    .fill_size = ring,
                                    .comp_size = ring,
                                    .mode = config_.bind,
                                    .xskmap_fd = xsks_.get(),
                                    .xskmap_slot = slot,
                                    .initial_fill = fill_target_});
      // The slot map last: XDP redirects here only once the socket is in
      // the XSKMAP and its fill ring has frames.
      const xdpgw_xsk_key key{.ifindex = ports_[pi].ifindex, .queue = q};
      check_errno(bpf_map_update_elem(xsk_slots_.get(), &key, &slot, BPF_ANY),
                  fmt::format("xsk_slots entry for {} queue {}", ports_[pi].name, q));
      spdlog::info("pipeline: AF_XDP socket {} queue {} slot {} in {} mode", ports_[pi].name, q, slot,
                   s->zero_copy() ? "zero-copy" : "copy");
      ports_[pi].sockets.push_back(s.get());
      sockets_.push_back(std::move(s));
    }
  }
  std::vector<xsk::Socket*> raw;
  for (auto& s : sockets_) raw.push_back(s.get());
  waiter_ = std::make_unique<xsk::Waiter>(config_.wait, raw);
  spdlog::info("pipeline: {} sockets, {} rules, waits by {}", sockets_.size(), rules_.rules.size(),
               xsk::to_string(config_.wait));
  publish_accounting();
  thread_ = std::jthread([this](const std::stop_token& st) { run(st); });
}

Pipeline::~Pipeline() {
  stop();
  // XDP first stops choosing our slots, then the sockets close (each
  // removes its XSKMAP entry), then the Umem goes.
  for (const Port& p : ports_)
    for (const xsk::Socket* s : p.sockets) {
      const xdpgw_xsk_key key{.ifindex = p.ifindex, .queue = s->queue()};
      (void)bpf_map_delete_elem(xsk_slots_.get(), &key);
    }
  waiter_.reset();  // its io_uring holds references to the sockets
  sockets_.clear();
  umem_.reset();
}

void Pipeline::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

std::vector<SocketInfo> Pipeline::sockets() const {
  std::vector<SocketInfo> out;
  for (const auto& s : sockets_) out.push_back({s->ifname(), s->queue(), s->xskmap_slot(), s->zero_copy()});
  return out;
}

xsk::FrameAccounting Pipeline::accounting() const { return umem_->accounting(); }

xsk::FrameAccounting Pipeline::published_accounting() const {
  return {.total = config_.frame_count,
          .free = published_.free.load(std::memory_order_relaxed),
          .in_fill = published_.fill.load(std::memory_order_relaxed),
          .in_rx = published_.rx.load(std::memory_order_relaxed),
          .in_tx = published_.tx.load(std::memory_order_relaxed)};
}

void Pipeline::publish_accounting() {
  const xsk::FrameAccounting f = umem_->accounting();
  published_.free.store(f.free, std::memory_order_relaxed);
  published_.fill.store(f.in_fill, std::memory_order_relaxed);
  published_.rx.store(f.in_rx, std::memory_order_relaxed);
  published_.tx.store(f.in_tx, std::memory_order_relaxed);
}
void Pipeline::verify_frames() const { umem_->verify(); }

Pipeline::RuleTable Pipeline::make_rule_table(std::vector<Rule> rules) const {
  RuleTable table;
  for (const Rule& r : rules) {
    int idx = -1;
    if (r.action == Action::Forward) {
      for (std::size_t i = 0; i < ports_.size(); ++i)
        if (ports_[i].name == r.out_port) idx = static_cast<int>(i);
      if (idx < 0) throw std::invalid_argument(fmt::format("pipeline: forward port '{}' is not served", r.out_port));
    }
    if (r.action == Action::Pass && !tap_)
      throw std::invalid_argument("pipeline: a rule passes to the kernel but no TAP device is configured");
    table.out_port.push_back(idx);
  }
  table.rules = std::move(rules);
  return table;
}

void Pipeline::replace_rules(std::vector<Rule> rules) {
  RuleTable table = make_rule_table(std::move(rules));  // errors reach the caller
  std::lock_guard lock(rules_mu_);
  rules_next_ = std::move(table);
  rules_change_.store(true, std::memory_order_release);
}

void Pipeline::take_rules_change() {
  std::lock_guard lock(rules_mu_);
  rules_ = std::move(*rules_next_);
  rules_next_.reset();
  rules_change_.store(false, std::memory_order_release);
}

void Pipeline::start_capture(std::unique_ptr<PcapngWriter> writer, uint64_t count) {
  std::lock_guard lock(capture_mu_);
  capture_next_ = std::move(writer);
  capture_next_limit_ = count;
  capture_records_ = 0;
  capture_error_.clear();
  capture_running_ = true;
  capture_change_.store(true, std::memory_order_release);
}

void Pipeline::stop_capture() {
  std::lock_guard lock(capture_mu_);
  capture_next_.reset();
  capture_change_.store(true, std::memory_order_release);
}

void Pipeline::take_capture_change() {
  std::lock_guard lock(capture_mu_);
  try {
    if (capture_) capture_->flush();
  } catch (const std::exception& e) {
    capture_error_ = e.what();
  }
  capture_ = std::move(capture_next_);
  capture_limit_ = capture_next_limit_;
  capture_running_ = capture_ != nullptr;
  capture_change_.store(false, std::memory_order_release);
}

Pipeline::CaptureStatus Pipeline::capture_status() const {
  // Running until the pipeline thread took a stop request and flushed.
  std::lock_guard lock(capture_mu_);
  return {.running = capture_running_.load() || capture_change_.load(),
          .records = capture_records_.load(),
          .error = capture_error_};
}

std::exception_ptr Pipeline::error() const {
  std::lock_guard lock(error_mu_);
  return error_;
}

void Pipeline::run(const std::stop_token& st) {
  std::vector<xsk::RxFrame> batch(config_.batch);
  std::vector<uint64_t> recycle;
  recycle.reserve(config_.batch);
  try {
    while (!st.stop_requested()) {
      if (capture_change_.load(std::memory_order_acquire)) take_capture_change();
      if (rules_change_.load(std::memory_order_acquire)) take_rules_change();
      bool work = false;
      for (auto& s : sockets_) {
        const uint32_t n = s->receive(batch);
        recycle.clear();
        for (uint32_t i = 0; i < n; ++i) handle(*s, batch[i], recycle);
        const uint32_t back = s->recycle(recycle);
        // The fill ring publishes its consumer lazily in copy mode, so a
        // recycle can find it full: those frames go to the free stack and
        // the refill below hands them out again.
        for (std::size_t i = back; i < recycle.size(); ++i) umem_->release(recycle[i], xsk::FrameState::Rx);
        if (s->fill_outstanding() < fill_target_) s->refill(fill_target_ - s->fill_outstanding());
        work |= n > 0;
      }
      flush_tx();
      publish_accounting();
      if (work) {
        waiter_->flush();
      } else {
        waiter_->wait(std::chrono::milliseconds(100));
      }
    }
    // Let the kernel finish what we queued, so the account closes.
    for (auto& s : sockets_) {
      for (int i = 0; i < 1000 && s->tx_pending() > 0; ++i) {
        s->kick_tx();
        s->complete();
      }
    }
    if (capture_) capture_->flush();
    capture_.reset();
    capture_running_ = false;
  } catch (...) {
    std::lock_guard lock(error_mu_);
    error_ = std::current_exception();
    try {
      throw;
    } catch (const std::exception& e) {
      spdlog::error("pipeline stopped: {} (XDP keeps running; punt rules fall back)", e.what());
    }
  }
}

void Pipeline::flush_tx() {
  for (auto& s : sockets_) {
    s->complete();
    if (s->tx_pending() > 0 && s->tx_needs_kick()) waiter_->kick(*s);
  }
}

void Pipeline::handle(xsk::Socket& in, const xsk::RxFrame& f, std::vector<uint64_t>& recycle) {
  stats_.rx.fetch_add(1, std::memory_order_relaxed);
  if (capture_) capture(in, f);
  ParsedPacket p;
  const ParseStatus ps = parse({umem_->data(f.addr), f.len}, p);
  if (ps != ParseStatus::Ok) {
    // XDP punts only TCP/UDP it parsed: this is a frame we cannot judge.
    stats_.parse_errors.fetch_add(1, std::memory_order_relaxed);
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    recycle.push_back(f.addr);
    return;
  }
  // Classify: the first rule that matches, as in XDP. A packet no rule
  // matches (a rule removed by a reload while it was in flight, or an
  // offloaded PUNT flow) goes to the kernel if we can, else is dropped.
  std::size_t ri = 0;
  while (ri < rules_.rules.size() && !rule_matches(rules_.rules[ri].match, p.key)) ++ri;
  const Rule* rule = ri < rules_.rules.size() ? &rules_.rules[ri] : nullptr;
  const Action action = rule ? rule->action : (tap_ ? Action::Pass : Action::Drop);

  switch (action) {
    case Action::Drop:
      if (rule && rule->offload) offload(p, XDPGW_FLOW_DROP);
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);
      recycle.push_back(f.addr);
      return;
    case Action::Pass:
      if (rule && rule->offload) offload(p, XDPGW_FLOW_PASS);
      pass(f);
      recycle.push_back(f.addr);
      return;
    case Action::Forward:
      if (forward(p, *rule, f, in)) return;  // the frame is in a tx ring now
      recycle.push_back(f.addr);
      return;
  }
}

void Pipeline::capture(const xsk::Socket& in, const xsk::RxFrame& f) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  try {
    capture_->write({.captured = {umem_->data(f.addr), f.len},
                     .orig_len = f.len,
                     .wall_ns = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec),
                     .ifindex = static_cast<uint32_t>(in.ifindex()),
                     .rx_queue = in.queue(),
                     .comment = "punted"});
    capture_records_.store(capture_->records(), std::memory_order_relaxed);
    if (capture_limit_ && capture_->records() >= capture_limit_) {
      capture_->flush();
      capture_.reset();
      capture_running_ = false;
    }
  } catch (const std::exception& e) {
    // The capture's own failure (a full disk, the pipe's reader gone): the
    // packets go on.
    spdlog::warn("capture of punted packets stopped: {}", e.what());
    std::lock_guard lock(capture_mu_);
    capture_error_ = e.what();
    capture_.reset();
    capture_running_ = false;
  }
}

bool Pipeline::forward(const ParsedPacket& p, const Rule& rule, const xsk::RxFrame& f, xsk::Socket& in) {
  const Port& out = ports_[static_cast<std::size_t>(rules_.out_port[&rule - rules_.rules.data()])];
  uint8_t* d = umem_->data(f.addr);
  // Next hop: the destination itself, on the egress port's link (the rule
  // names the port; XDP's route for the offloaded flow must agree).
  neigh::Key nk{.family = p.key.family, .addr = {}, .ifindex = out.ifindex};
  std::memcpy(nk.addr.data(), p.key.dst, p.key.family == AF_INET ? 4 : 16);
  // A tagged frame is routed by the kernel's VLAN devices, as XDP's router
  // leaves it (pass_vlan_tagged); an offloaded FORWARD verdict for its flow
  // gets there through XDP's router too.
  if (p.vlan_depth) {
    if (rule.offload) offload(p, XDPGW_FLOW_FORWARD);
    if (tap_) {
      pass(f);
    } else {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  const auto dmac = neighbour(nk);
  uint8_t* ttl = p.key.family == AF_INET ? d + p.l3_off + 8 : d + p.l3_off + 7;
  if (!dmac || *ttl <= 1) {
    // Unresolved neighbour or expiring TTL: the kernel resolves / answers.
    if (!dmac) {
      neigh::request_resolution(nk);
      stats_.no_neighbour.fetch_add(1, std::memory_order_relaxed);
    }
    if (tap_) {
      pass(f);
    } else {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  std::memcpy(d, dmac->data(), 6);
  std::memcpy(d + 6, out.mac.data(), 6);
  --*ttl;
  if (p.key.family == AF_INET) {
    uint8_t* ip = d + p.l3_off;
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    ip[10] = ip[11] = 0;
    uint32_t sum = 0;
    for (std::size_t i = 0; i < ihl; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
    const uint16_t c = csum_fold(sum);
    ip[10] = static_cast<uint8_t>(c >> 8);
    ip[11] = static_cast<uint8_t>(c & 0xff);
  }
  if (rule.offload) offload(p, XDPGW_FLOW_FORWARD);
  // Same queue index on the egress port when it has one, else queue 0.
  xsk::Socket* tx = in.queue() < out.sockets.size() ? out.sockets[in.queue()] : out.sockets[0];
  const xsk::TxFrame t{.addr = f.addr, .len = f.len};
  if (tx->transmit({&t, 1}) != 1) {
    stats_.tx_ring_full.fetch_add(1, std::memory_order_relaxed);
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  stats_.forwarded.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Passing back to the kernel: the frame is written to our TAP with the TAP's
// MAC as destination, so the stack takes it as received there. Chosen over
// the alternatives because it is a real ingress path for *this* packet: an
// AF_XDP tx on the ingress port would send it out to the peer, not up the
// stack, and XDP cannot re-run on a frame userspace holds. Later packets of
// an offloaded PASS flow skip all this: XDP passes them on their own port.
// Consequence (docs/configuration.md): the first packets arrive on the TAP, so strict
// rp_filter must not be on for it.
void Pipeline::pass(const xsk::RxFrame& f) {
  uint8_t* d = umem_->data(f.addr);
  std::memcpy(d, tap_->mac().data(), 6);
  tap_->inject({d, f.len});
  stats_.passed.fetch_add(1, std::memory_order_relaxed);
}

std::optional<std::array<uint8_t, 6>> Pipeline::neighbour(const neigh::Key& key) {
  const auto now = std::chrono::steady_clock::now();
  auto& entry = neigh_cache_[{key.family, key.addr, key.ifindex}];
  if (now >= entry.expires) {
    entry.mac = neigh::lookup(key);
    // An unresolved neighbour is asked again on the next packet.
    entry.expires = entry.mac ? now + std::chrono::seconds(1) : now;
  }
  return entry.mac;
}

void Pipeline::offload(const ParsedPacket& p, uint8_t action) {
  xdpgw_flow flow{};
  flow.action = action;
  flow.flags = XDPGW_FLOW_F_OFFLOADED;
  flow.created_ns = flow.last_seen_ns = monotonic_ns();
  // BPF_NOEXIST: a flow already decided (by an earlier packet of the same
  // batch, or by the load balancer) keeps its entry and counters.
  if (bpf_map_update_elem(conn_table_.get(), &p.key, &flow, BPF_NOEXIST) == 0) {
    stats_.offloaded.fetch_add(1, std::memory_order_relaxed);
  } else if (errno != EEXIST) {
    throw_errno(errno, "write verdict into conn_table");
  }
}

}  // namespace xdpgw::pipeline
