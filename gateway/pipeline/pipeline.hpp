// The AF_XDP userspace pipeline: packets XDP punts (bpf/lib/punt.h) arrive on
// one AF_XDP socket per (interface, queue), all sharing one Umem, and go
// through three stages:
//   parse     frame -> conn_table key (packet.hpp);
//   classify  first matching rule -> action (forward out a port, drop, pass
//             to the kernel) and whether to offload it;
//   act       forward: MACs from the kernel neighbour table, TTL/hop limit,
//             out of the egress port's AF_XDP tx (same Umem: no copy);
//             drop: the frame goes back to the fill ring;
//             pass: re-injected into the kernel through a TAP (tap.hpp);
//             offload: the verdict written into conn_table, after which XDP
//             applies it and the pipeline sees no more of the flow.
// One thread serves every socket; waits through io_uring or busy-polls.
//
// A crash or stop of the pipeline never stops XDP: its XSKMAP slots vanish
// with its sockets and punt rules fall back to pass/drop; non-punted traffic
// never touches it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <tuple>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "datapath/neigh.hpp"
#include "pipeline/packet.hpp"
#include "pipeline/pcap.hpp"
#include "pipeline/tap.hpp"
#include "xdpgw/shared.h"
#include "xsk/socket.hpp"
#include "xsk/umem.hpp"
#include "xsk/waiter.hpp"

namespace xdpgw::pipeline {

enum class Action { Forward, Drop, Pass };
const char* to_string(Action a);

// A classification rule: the same match as the BPF punt rule it comes with
// (so the pipeline decides on exactly what XDP punted for that rule), and
// what to do.
struct Rule {
  xdpgw_punt_rule match{};
  Action action = Action::Pass;
  std::string out_port;  // Forward: the egress port (one of PipelineConfig::ports)
  bool offload = true;   // write the verdict into conn_table
};

bool rule_matches(const xdpgw_punt_rule& r, const xdpgw_flow_key& k);

struct PipelineConfig {
  std::vector<std::string> ports;  // interfaces to serve, every rx queue of each
  std::vector<Rule> rules;
  std::string tap_name;  // device for Pass; required when a rule passes
  uint32_t frame_count = 8192;
  uint32_t batch = 64;
  xsk::WaitMode wait = xsk::WaitMode::Uring;
  xsk::BindMode bind = xsk::BindMode::Auto;
  // Capture of punted packets (as they arrived, before any rewrite) into a
  // pcapng file written through io_uring; empty path = off.
  std::string capture_path;
  uint64_t capture_count = 0;  // 0 = no limit
  uint32_t capture_snaplen = 65535;
};

// The datapath maps the pipeline writes (fds are duplicated).
struct PipelineMaps {
  int xsks = -1;       // XSKMAP
  int xsk_slots = -1;  // (ifindex, queue) -> slot
  int conn_table = -1;
};

struct PipelineStats {
  std::atomic<uint64_t> rx{0};
  std::atomic<uint64_t> forwarded{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> passed{0};
  std::atomic<uint64_t> offloaded{0};
  std::atomic<uint64_t> parse_errors{0};
  std::atomic<uint64_t> no_neighbour{0};  // forward without a resolved next hop: passed instead
  std::atomic<uint64_t> tx_ring_full{0};  // forward that found no tx slot: dropped
};

struct SocketInfo {
  std::string ifname;
  uint32_t queue;
  uint32_t slot;
  bool zero_copy;
};

class Pipeline {
 public:
  // Opens every socket, registers them in the maps, starts the thread. Runs
  // in the calling thread's network namespace (interfaces, TAP, sockets).
  Pipeline(const PipelineConfig& config, const PipelineMaps& maps);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  // stop(), then removes the xsk_slots and XSKMAP entries, closes the
  // sockets and frees the Umem.
  ~Pipeline();

  void stop();
  // Replaces the classification rules and nothing else: sockets, rings, the
  // UMEM and frames in flight stay (a reload that changes only
  // [[punt.rule]]s). Checked here: a forward rule's port must be served, a
  // pass rule needs the TAP; otherwise throws std::invalid_argument and
  // changes nothing. The pipeline thread takes them before its next batch.
  void replace_rules(std::vector<Rule> rules);
  const PipelineStats& stats() const noexcept { return stats_; }
  std::vector<SocketInfo> sockets() const;
  // Frame accounting of the shared Umem (valid once stopped, or as a
  // snapshot that may be mid-batch while running).
  xsk::FrameAccounting accounting() const;
  // The same as the pipeline thread last published it (once per loop): for
  // observers on other threads, which must not read the Umem's counters
  // while the thread changes them.
  xsk::FrameAccounting published_accounting() const;
  void verify_frames() const;
  // Starts capturing punted packets into `writer` (replacing a running
  // capture); the pipeline thread picks it up at its next loop. `count` 0 =
  // until stop_capture(). Each packet is written with its ingress port and
  // rx queue and the comment "punted". A failing write (the reader of a
  // pipe went away) ends the capture, not the pipeline.
  void start_capture(std::unique_ptr<PcapngWriter> writer, uint64_t count);
  void stop_capture();
  struct CaptureStatus {
    bool running = false;
    uint64_t records = 0;  // written to the current / last capture
    std::string error;     // why the last capture stopped early, if it did
  };
  CaptureStatus capture_status() const;
  // The error that ended the thread, if one did.
  std::exception_ptr error() const;

 private:
  struct Port {
    std::string name;
    uint32_t ifindex = 0;
    std::array<uint8_t, 6> mac{};
    std::vector<xsk::Socket*> sockets;  // by queue
  };
  void run(const std::stop_token& st);
  void handle(xsk::Socket& in, const xsk::RxFrame& f, std::vector<uint64_t>& recycle);
  bool forward(const ParsedPacket& p, const Rule& rule, const xsk::RxFrame& f, xsk::Socket& in);
  void pass(const xsk::RxFrame& f);
  void offload(const ParsedPacket& p, uint8_t action);
  void flush_tx();
  std::optional<std::array<uint8_t, 6>> neighbour(const neigh::Key& key);

  PipelineConfig config_;
  PipelineStats stats_;
  UniqueFd xsks_, xsk_slots_, conn_table_;
  std::unique_ptr<xsk::Umem> umem_;
  std::optional<Tap> tap_;
  std::vector<std::unique_ptr<xsk::Socket>> sockets_;
  std::vector<Port> ports_;
  struct RuleTable {
    std::vector<Rule> rules;
    std::vector<int> out_port;  // index into ports_, per rule (-1: not a forward rule)
  };
  RuleTable make_rule_table(std::vector<Rule> rules) const;
  RuleTable rules_;  // the pipeline thread's, after construction
  // Hand-over of replace_rules() to the pipeline thread, as for captures.
  std::mutex rules_mu_;
  std::atomic<bool> rules_change_{false};
  std::optional<RuleTable> rules_next_;
  void take_rules_change();
  std::unique_ptr<xsk::Waiter> waiter_;
  uint32_t fill_target_ = 0;
  // Next-hop MACs from the kernel's neighbour table, each kept for a second:
  // a netlink round trip per forwarded packet would cost more than the rest
  // of the pipeline. A stale MAC lives at most that long (as for the XDP
  // nexthops, which the daemon refreshes once a second).
  struct CachedNeighbour {
    std::optional<std::array<uint8_t, 6>> mac;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::tuple<int, std::array<uint8_t, 16>, uint32_t>, CachedNeighbour> neigh_cache_;
  std::unique_ptr<PcapngWriter> capture_;
  uint64_t capture_limit_ = 0;
  // Hand-over from the control thread: a new writer (or a request to stop),
  // taken by the pipeline thread under capture_mu_ when capture_change_ is set.
  mutable std::mutex capture_mu_;
  std::atomic<bool> capture_change_{false};
  std::unique_ptr<PcapngWriter> capture_next_;
  uint64_t capture_next_limit_ = 0;
  std::atomic<bool> capture_running_{false};
  struct PublishedFrames {
    std::atomic<uint64_t> free{0}, fill{0}, rx{0}, tx{0};
  } published_;
  void publish_accounting();
  std::atomic<uint64_t> capture_records_{0};
  std::string capture_error_;  // guarded by capture_mu_
  void take_capture_change();
  void capture(const xsk::Socket& in, const xsk::RxFrame& f);
  mutable std::mutex error_mu_;
  std::exception_ptr error_;
  std::jthread thread_;
};

}  // namespace xdpgw::pipeline
