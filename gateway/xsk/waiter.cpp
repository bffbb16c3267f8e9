#include "xsk/waiter.hpp"

#include <poll.h>
#include <chrono>
#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace xdpgw::xsk {

const char* to_string(WaitMode m) { return m == WaitMode::Uring ? "io_uring" : "busy-poll"; }

Uring::Uring(unsigned entries) {
  check_errno(io_uring_queue_init(entries, &ring_, 0), fmt::format("io_uring_queue_init({})", entries));
}

Uring::~Uring() { io_uring_queue_exit(&ring_); }

io_uring_sqe* Uring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (!s) {
    check_errno(io_uring_submit(&ring_), "io_uring_submit");
    s = io_uring_get_sqe(&ring_);
    if (!s) throw std::runtime_error("io_uring: no submission queue entry after submit");
  }
  return s;
}

namespace {
// user_data: socket index << 1 | kind.
constexpr uint64_t kPoll = 0;
constexpr uint64_t kSend = 1;
}  // namespace

Waiter::Waiter(WaitMode mode, std::span<Socket* const> sockets)
    : mode_(mode), sockets_(sockets.begin(), sockets.end()), poll_armed_(sockets.size(), false),
      kick_queued_(sockets.size(), false) {
  if (mode_ == WaitMode::Uring) {
    // Room for one poll and one kick per socket, in one submission.
    unsigned entries = 8;
    while (entries < 2 * sockets_.size()) entries <<= 1;
    ring_ = std::make_unique<Uring>(entries);
  }
}

namespace {
// user_data of the cancel request itself: no socket has this index.
constexpr uint64_t kCancelAll = ~uint64_t{0};
// How long the destructor waits for cancelled requests to complete. They
// complete at once unless the kernel is wedged; then the ring's own
// (asynchronous) teardown still releases them.
constexpr std::chrono::milliseconds kCancelWait{1000};
}  // namespace

Waiter::~Waiter() {
  if (!ring_) return;
  drain_quietly();  // completions a failed reap() left, if any
  if (in_flight_ == 0) return;
  io_uring_sqe* sqe = io_uring_get_sqe(ring_->get());
  if (sqe == nullptr) {
    io_uring_submit(ring_->get());
    sqe = io_uring_get_sqe(ring_->get());
  }
  if (sqe == nullptr) return;  // cannot happen with a ring sized for every socket twice
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, kCancelAll);
  if (io_uring_submit(ring_->get()) < 0) return;
  const auto deadline = std::chrono::steady_clock::now() + kCancelWait;
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
    __kernel_timespec ts{.tv_sec = 0, .tv_nsec = 10'000'000};
    io_uring_cqe* cqe = nullptr;
    (void)io_uring_wait_cqe_timeout(ring_->get(), &cqe, &ts);  // ETIME/EINTR: look again
    drain_quietly();
  }
  if (in_flight_ > 0) {
    try {
      spdlog::warn("AF_XDP waiter: {} io_uring requests still in flight after cancel; the kernel "
                   "releases their sockets when it tears the ring down", in_flight_);
    } catch (...) {
      // Logging must not throw out of a destructor.
    }
  }
}

void Waiter::kick(Socket& s) {
  if (mode_ == WaitMode::BusyPoll) {
    s.kick_tx();
    ++kicks_;
    return;
  }
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (sockets_[i] != &s || kick_queued_[i]) continue;
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_send(sqe, s.fd(), nullptr, 0, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, (i << 1) | kSend);
    kick_queued_[i] = true;
    ++in_flight_;
    ++kicks_;
    return;
  }
  throw std::logic_error("Waiter::kick: socket not registered with this waiter");
}

void Waiter::reap() {
  // Each completion is consumed before it is acted on, so one that throws
  // leaves neither itself nor the ones before it in the ring.
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(ring_->get(), &cqe) == 0) {
    const uint64_t data = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(ring_->get(), cqe);
    const std::size_t i = data >> 1;
    if (i >= sockets_.size()) continue;  // the destructor's cancel request
    --in_flight_;
    if ((data & 1) == kPoll) {
      poll_armed_[i] = false;
      ++wakeups_;
      if (res < 0 && res != -ECANCELED)
        throw_errno(res, fmt::format("io_uring poll on AF_XDP socket {} queue {}", sockets_[i]->ifname(),
                                     sockets_[i]->queue()));
    } else {
      kick_queued_[i] = false;
      // A busy kernel (EAGAIN/EBUSY/ENOBUFS) means "kick again later": the
      // loop does, because the tx ring still holds the frames.
      if (res < 0 && res != -EAGAIN && res != -EBUSY && res != -ENOBUFS && res != -ENETDOWN)
        throw_errno(res, fmt::format("io_uring tx kick on AF_XDP socket {} queue {}", sockets_[i]->ifname(),
                                     sockets_[i]->queue()));
    }
  }
}

void Waiter::drain_quietly() noexcept {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(ring_->get(), &cqe) == 0) {
    const uint64_t data = io_uring_cqe_get_data64(cqe);
    io_uring_cqe_seen(ring_->get(), cqe);
    if ((data >> 1) < sockets_.size()) --in_flight_;
  }
}

void Waiter::flush() {
  if (mode_ == WaitMode::BusyPoll) return;
  check_errno(io_uring_submit(ring_->get()), "io_uring_submit");
  reap();
}

void Waiter::wait(std::chrono::milliseconds timeout) {
  if (mode_ == WaitMode::BusyPoll) return;
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (poll_armed_[i]) continue;
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_poll_add(sqe, sockets_[i]->fd(), POLLIN);
    io_uring_sqe_set_data64(sqe, (i << 1) | kPoll);
    poll_armed_[i] = true;
    ++in_flight_;
  }
  __kernel_timespec ts{.tv_sec = timeout.count() / 1000, .tv_nsec = (timeout.count() % 1000) * 1'000'000};
  io_uring_cqe* cqe = nullptr;
  const int rc = io_uring_submit_and_wait_timeout(ring_->get(), &cqe, 1, &ts, nullptr);
  if (rc < 0 && rc != -ETIME && rc != -EINTR) throw_errno(rc, "io_uring_submit_and_wait_timeout");
  reap();
}

}  // namespace xdpgw::xsk
