#include "xsk/umem.hpp"

#include <sys/mman.h>

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::xsk {

MmapArea::MmapArea(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno(errno, fmt::format("mmap of a {}-byte UMEM area", bytes));
  data_ = static_cast<uint8_t*>(p);
  size_ = bytes;
}

MmapArea::MmapArea(MmapArea&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MmapArea& MmapArea::operator=(MmapArea&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MmapArea::~MmapArea() { reset(); }

void MmapArea::reset() noexcept {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

namespace {
bool power_of_two(uint32_t v) { return v && !(v & (v - 1)); }
const char* state_name(FrameState s) {
  switch (s) {
    case FrameState::Free: return "free";
    case FrameState::Fill: return "fill";
    case FrameState::Rx: return "rx";
    case FrameState::Tx: return "tx";
  }
  return "?";
}
}  // namespace

Umem::Umem(const UmemConfig& config)
    : frame_size_(config.frame_size), frame_count_(config.frame_count) {
  if (!power_of_two(frame_size_) || frame_size_ < 2048)
    throw std::invalid_argument(fmt::format("UMEM frame size {} is not a power of two >= 2048", frame_size_));
  if (!frame_count_) throw std::invalid_argument("UMEM needs at least one frame");
  area_ = MmapArea(std::size_t{frame_size_} * frame_count_);
  const xsk_umem_config cfg{.fill_size = config.fill_size,
                            .comp_size = config.comp_size,
                            .frame_size = frame_size_,
                            .frame_headroom = 0,
                            .flags = 0};
  check_errno(xsk_umem__create(&umem_, area_.data(), area_.size(), &fill0_, &comp0_, &cfg),
              fmt::format("xsk_umem__create ({} frames of {} bytes)", frame_count_, frame_size_));
  frames_.resize(frame_count_);
  free_.reserve(frame_count_);
  // Highest address at the bottom, so frames leave in address order: easier
  // to read in a debugger, nothing depends on it.
  for (uint64_t i = frame_count_; i-- > 0;) free_.push_back(i * frame_size_);
  free_count_ = frame_count_;
}

Umem::~Umem() {
  // Sockets are destroyed before their Umem (they hold a reference to it), so
  // EBUSY here would be a bug in the owner's order; nothing to do about it in
  // a destructor but not leak the area (MmapArea unmaps it anyway).
  if (umem_) (void)xsk_umem__delete(umem_);
}

Umem::FrameInfo& Umem::info(uint64_t addr) {
  const uint64_t index = addr / frame_size_;
  if (index >= frame_count_)
    throw std::logic_error(fmt::format("UMEM address {:#x} beyond the area ({} frames)", addr, frame_count_));
  return frames_[index];
}

uint64_t& Umem::counter(FrameState s) noexcept {
  switch (s) {
    case FrameState::Fill: return in_fill_;
    case FrameState::Rx: return in_rx_;
    case FrameState::Tx: return in_tx_;
    case FrameState::Free: break;
  }
  return free_count_;
}

std::size_t Umem::alloc(std::span<uint64_t> out, FrameState to, uint16_t owner) {
  std::size_t n = 0;
  while (n < out.size() && !free_.empty()) {
    const uint64_t addr = free_.back();
    free_.pop_back();
    --free_count_;
    FrameInfo& fi = info(addr);
    fi.state = to;
    fi.owner = owner;
    ++counter(to);
    out[n++] = addr;
  }
  return n;
}

std::optional<uint64_t> Umem::alloc_one(FrameState to, uint16_t owner) {
  uint64_t addr = 0;
  if (alloc({&addr, 1}, to, owner) == 0) return std::nullopt;
  return addr;
}

void Umem::transition(uint64_t addr, FrameState from, FrameState to, uint16_t owner) {
  FrameInfo& fi = info(frame_of(addr));
  if (fi.state != from)
    throw std::logic_error(fmt::format("UMEM frame {:#x} is {}, expected {} (moving to {})", frame_of(addr),
                                       state_name(fi.state), state_name(from), state_name(to)));
  --counter(from);
  ++counter(to);
  fi.state = to;
  fi.owner = owner;
  if (to == FrameState::Free) free_.push_back(frame_of(addr));
}

void Umem::release(uint64_t addr, FrameState from) { transition(addr, from, FrameState::Free, 0); }

std::size_t Umem::reclaim_owner(uint16_t owner) {
  std::size_t n = 0;
  for (uint64_t i = 0; i < frame_count_; ++i) {
    FrameInfo& fi = frames_[i];
    if (fi.owner == owner && (fi.state == FrameState::Fill || fi.state == FrameState::Tx)) {
      transition(i * frame_size_, fi.state, FrameState::Free, 0);
      ++n;
    }
  }
  return n;
}

FrameAccounting Umem::accounting() const noexcept {
  return {.total = frame_count_, .free = free_count_, .in_fill = in_fill_, .in_rx = in_rx_, .in_tx = in_tx_};
}

void Umem::verify() const {
  FrameAccounting recount{.total = frame_count_};
  for (const FrameInfo& fi : frames_) {
    switch (fi.state) {
      case FrameState::Free: ++recount.free; break;
      case FrameState::Fill: ++recount.in_fill; break;
      case FrameState::Rx: ++recount.in_rx; break;
      case FrameState::Tx: ++recount.in_tx; break;
    }
  }
  const FrameAccounting counted = accounting();
  if (!(recount == counted) || !counted.balanced() || free_.size() != counted.free)
    throw std::logic_error(fmt::format(
        "UMEM accounting broken: counters free={} fill={} rx={} tx={}, frames free={} fill={} rx={} tx={}, "
        "free stack {} of {}",
        counted.free, counted.in_fill, counted.in_rx, counted.in_tx, recount.free, recount.in_fill, recount.in_rx,
        recount.in_tx, free_.size(), frame_count_));
  for (uint64_t addr : free_)
    if (frames_[addr / frame_size_].state != FrameState::Free)
      throw std::logic_error(fmt::format("UMEM frame {:#x} on the free stack is not free", addr));
}

}  // namespace xdpgw::xsk
