// UMEM: the packet buffer area AF_XDP sockets share with the kernel, and the
// exact account of who holds each of its frames.
//
// One Umem serves every socket of a pipeline (XDP_SHARED_UMEM, one fill and
// one completion ring per (interface, queue)), so forwarding a frame from one
// port's rx to another port's tx moves an address, never bytes.
//
// Every frame is in exactly one state at any time:
//   free  on the Umem's free-frame stack, owned by nobody;
//   fill  given to the kernel through a socket's fill ring: in that ring, in
//         the kernel waiting for a packet, or in the socket's rx ring not yet
//         peeked by us (we cannot tell those apart without racing the kernel);
//   rx    peeked from an rx ring, held by the pipeline;
//   tx    given to the kernel through a socket's tx ring: in the tx ring, being
//         sent, or in the completion ring not yet reaped.
// So frames_free + in_fill + in_rx + in_tx == total always holds, and a
// per-frame state byte lets verify() prove it frame by frame (a double free or
// a frame returned by the wrong path throws instead of corrupting the pool).
//
// Namespaces: the UMEM's own fd becomes its first socket, and an AF_XDP
// socket binds by ifindex in the network namespace it was created in. Create
// a Umem in the namespace of the interfaces it will serve, or the bind finds
// another device with the same ifindex (we got EBUSY; a silent wrong bind is
// possible too).
#pragma once

#include <xdp/xsk.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace xdpgw::xsk {

// Anonymous, page-aligned mapping; unmapped on destruction. AF_XDP wants the
// area page aligned, which mmap gives without a custom allocator.
class MmapArea {
 public:
  MmapArea() = default;
  explicit MmapArea(std::size_t bytes);
  MmapArea(MmapArea&& other) noexcept;
  MmapArea& operator=(MmapArea&& other) noexcept;
  MmapArea(const MmapArea&) = delete;
  MmapArea& operator=(const MmapArea&) = delete;
  ~MmapArea();

  uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  void reset() noexcept;
  uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

struct UmemConfig {
  uint32_t frame_count = 8192;
  uint32_t frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;  // power of two
  // Ring sizes of the first socket's fill/completion rings (powers of two).
  uint32_t fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS * 2;
  uint32_t comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS * 2;
};

enum class FrameState : uint8_t { Free = 0, Fill = 1, Rx = 2, Tx = 3 };

struct FrameAccounting {
  uint64_t total = 0;
  uint64_t free = 0;
  uint64_t in_fill = 0;
  uint64_t in_rx = 0;
  uint64_t in_tx = 0;
  bool balanced() const { return free + in_fill + in_rx + in_tx == total; }
  bool operator==(const FrameAccounting&) const = default;
};

class Umem {
 public:
  explicit Umem(const UmemConfig& config = {});
  // Sockets keep a pointer to their Umem and libxdp keeps pointers to the
  // ring structs inside it: neither copyable nor movable.
  Umem(const Umem&) = delete;
  Umem& operator=(const Umem&) = delete;
  ~Umem();

  uint32_t frame_size() const noexcept { return frame_size_; }
  uint32_t frame_count() const noexcept { return frame_count_; }
  uint8_t* data(uint64_t addr) const noexcept { return area_.data() + addr; }
  // The frame an address (which may carry an offset into it) belongs to.
  uint64_t frame_of(uint64_t addr) const noexcept { return addr - addr % frame_size_; }

  // Takes up to out.size() frames off the free stack (state -> `to`, owner
  // socket `owner`); returns how many.
  std::size_t alloc(std::span<uint64_t> out, FrameState to, uint16_t owner);
  std::optional<uint64_t> alloc_one(FrameState to, uint16_t owner);
  // Moves a frame between states, checking it was in `from`: the single
  // place every transition goes through.
  void transition(uint64_t addr, FrameState from, FrameState to, uint16_t owner);
  // Back on the free stack (from `from`).
  void release(uint64_t addr, FrameState from);
  // Every frame a socket left in the kernel (fill or tx, owned by `owner`)
  // back to the free stack: called after the socket is closed, when the
  // kernel has let go of its rings.
  std::size_t reclaim_owner(uint16_t owner);

  FrameAccounting accounting() const noexcept;
  // Recounts from the per-frame states and the free stack; throws
  // std::logic_error when they disagree with the counters or with each other.
  void verify() const;

  // For libxdp: the umem, and the rings the first socket takes over.
  xsk_umem* raw() const noexcept { return umem_; }
  xsk_ring_prod* first_fill() noexcept { return &fill0_; }
  xsk_ring_cons* first_comp() noexcept { return &comp0_; }
  uint16_t register_socket() noexcept { return ++next_owner_; }

 private:
  struct FrameInfo {
    FrameState state = FrameState::Free;
    uint16_t owner = 0;
  };
  FrameInfo& info(uint64_t addr);
  uint64_t& counter(FrameState s) noexcept;

  uint32_t frame_size_;
  uint32_t frame_count_;
  MmapArea area_;
  xsk_ring_prod fill0_{};
  xsk_ring_cons comp0_{};
  xsk_umem* umem_ = nullptr;
  std::vector<uint64_t> free_;  // the free-frame stack
  std::vector<FrameInfo> frames_;
  uint64_t in_fill_ = 0, in_rx_ = 0, in_tx_ = 0, free_count_ = 0;
  uint16_t next_owner_ = 0;
};

}  // namespace xdpgw::xsk
