// The kernel half of proxy mode: the SOCKHASH, the peer table and the
// sk_skb stream verdict program of bpf/proxy.bpf.c, loaded and attached for
// as long as this object lives. Nothing is pinned: spliced sockets belong
// to this daemon process and die with it (a kill -9 closes them all).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "xdpgw/proxy.h"

struct xdpgw_proxy_skel;
struct ring_buffer;

namespace xdpgw::proxy {

struct SpliceCounters {
  uint64_t redirected_bytes = 0;
  uint64_t redirected_skbs = 0;
  uint64_t no_peer_skbs = 0;        // arrived during a teardown, dropped
  uint64_t redirect_failed_skbs = 0;  // the peer was not in the SOCKHASH, dropped
  uint64_t empty_skbs = 0;  // bare FINs: no payload to carry
  uint64_t passed_skbs = 0;  // left for the daemon to copy (flow control)
};

struct SideCounters {
  uint64_t bytes = 0;     // read from this socket and sent out of its peer
  uint64_t segments = 0;  // skbs, for activity
};

class Splicer {
 public:
  // Loads bpf/proxy.bpf.c and attaches its verdict to the SOCKHASH. Throws
  // std::system_error naming the step that failed: that is the probe for
  // proxy mode (a kernel without sk_skb programs or SOCKHASH fails here).
  Splicer();
  ~Splicer();
  Splicer(const Splicer&) = delete;
  Splicer& operator=(const Splicer&) = delete;

  // The key a socket has in the maps (SO_COOKIE).
  static uint64_t cookie(int fd);

  // Makes the kernel move every byte `a` receives out of `b` and back:
  // peers first, then both sockets as redirect targets, then both under
  // the verdict (so whichever runs first finds its peer). Throws naming the step; on a throw, what
  // was inserted is removed again.
  void splice(int fd_a, uint64_t cookie_a, int fd_b, uint64_t cookie_b);
  // Removes both sockets and their peers (entries already gone are fine).
  void unsplice(uint64_t cookie_a, uint64_t cookie_b) noexcept;

  // Flow control: from now on the verdict leaves the bytes `cookie`
  // receives in the socket's own queue (which counts against its receive
  // buffer: TCP's window holds the sender back) for the daemon to copy.
  void set_passive(uint64_t cookie);
  // Kicks the verdict on bytes already queued on a socket: SO_RCVLOWAT
  // makes the kernel check the queue at once (tcp_set_rcvlowat ->
  // tcp_data_ready -> the psock's data_ready). Bytes that arrived before a
  // socket entered the SOCKHASH would otherwise wait for the next segment.
  static void kick(int fd);

  // proxy_events: the fd to wait on, and a call per pending event with the
  // socket's cookie (the verdict crossed a flow-control check).
  int events_fd() const;
  void consume_events(const std::function<void(uint64_t cookie)>& on_event);

  std::optional<SideCounters> side(uint64_t cookie) const;
  // Bytes written into a TCP socket's send stream so far, plus a constant
  // per socket (acked + still queued: tcp_info bytes_acked + SIOCOUTQ).
  // Differences tell how much of what the verdict redirected to a socket
  // has reached its send queue. Throws naming the call.
  static uint64_t send_stream_position(int fd);
  SpliceCounters counters() const;

 private:
  struct SkelDeleter {
    void operator()(xdpgw_proxy_skel* s) const noexcept;
  };
  std::unique_ptr<xdpgw_proxy_skel, SkelDeleter> skel_;
  struct RingDeleter {
    void operator()(ring_buffer* r) const noexcept;
  };
  std::unique_ptr<ring_buffer, RingDeleter> events_;
  std::function<void(uint64_t)> on_event_;  // set during consume_events
  int socks_fd_ = -1;   // owned by skel_
  int passive_fd_ = -1;
  int targets_fd_ = -1;
  int peers_fd_ = -1;
  int stats_fd_ = -1;
  int prog_fd_ = -1;
  bool attached_ = false;
};

}  // namespace xdpgw::proxy
