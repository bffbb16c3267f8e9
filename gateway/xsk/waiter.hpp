// How a pipeline thread waits for packets and kicks transmission.
//
// Uring: one io_uring per thread. Poll requests on every socket (POLLIN) and
// the tx kicks of a whole batch (IORING_OP_SEND with no data, which is
// sendto(fd, NULL, 0, MSG_DONTWAIT): the AF_XDP wake-up) go in with a single
// io_uring_enter that also waits, so a loop iteration that forwards to
// several ports costs one syscall instead of one per socket plus a poll.
//
// BusyPoll: never sleeps; kicks with sendto directly. Lowest latency, burns
// a core. Chosen by config.
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "xsk/socket.hpp"

namespace xdpgw::xsk {

enum class WaitMode { Uring, BusyPoll };
const char* to_string(WaitMode m);

// RAII owner of an io_uring instance.
class Uring {
 public:
  explicit Uring(unsigned entries);
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
  ~Uring();
  io_uring* get() noexcept { return &ring_; }
  // An SQE, submitting what is queued first when the SQ is full.
  io_uring_sqe* sqe();

 private:
  io_uring ring_{};
};

// Holds file references to the sockets while polls are armed: destroy the
// Waiter before the Sockets it waits on, or a closed socket lives on in the
// kernel until the ring goes.
class Waiter {
 public:
  Waiter(WaitMode mode, std::span<Socket* const> sockets);
  // Cancels every request still in flight and reaps them before the ring
  // goes: a pending poll holds a reference to its socket's file, and the
  // kernel tears a ring down asynchronously, so the socket would otherwise
  // stay bound to its queue for a while after close (a new socket on that
  // queue, e.g. a pipeline restarted by a reload, gets EBUSY).
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  WaitMode mode() const noexcept { return mode_; }

  // Asks for a tx kick of `s`; with Uring it is sent with the next wait().
  void kick(Socket& s);
  // Uring: submits queued kicks, (re)arms polls and sleeps until a socket is
  // readable or `timeout` passes. BusyPoll: flushes nothing (kicks went out
  // directly) and returns at once.
  void wait(std::chrono::milliseconds timeout);
  // Uring: submits queued kicks without waiting (a busy loop that never
  // sleeps still gets its kicks out) and reaps what completed.
  void flush();

  uint64_t kicks_sent() const noexcept { return kicks_; }
  uint64_t wakeups() const noexcept { return wakeups_; }

 private:
  void reap();
  // Consumes every completion without judging it (for the destructor).
  void drain_quietly() noexcept;
  WaitMode mode_;
  std::vector<Socket*> sockets_;
  std::vector<bool> poll_armed_;
  std::vector<bool> kick_queued_;
  std::unique_ptr<Uring> ring_;  // Uring mode only
  unsigned in_flight_ = 0;
  uint64_t kicks_ = 0;
  uint64_t wakeups_ = 0;
};

}  // namespace xdpgw::xsk
