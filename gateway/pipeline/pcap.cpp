#include "pipeline/pcap.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace xdpgw::pipeline {

namespace {

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 1;
constexpr uint32_t kEnhancedPacket = 6;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsresol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kEpbQueue = 6;
constexpr uint32_t kEpbInbound = 1;  // epb_flags bits 0-1: direction
constexpr uint16_t kLinktypeEthernet = 1;

// One block in host byte order (readers detect it from the SHB's magic):
// type, total length, body, options, total length again; everything padded
// to 32 bits.
class Block {
 public:
  explicit Block(uint32_t type) {
    put(type);
    put(uint32_t{0});  // total length, patched by finish()
  }
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b_.insert(b_.end(), p, p + sizeof(v));
  }
  void bytes(std::span<const uint8_t> data) {
    b_.insert(b_.end(), data.begin(), data.end());
    b_.resize((b_.size() + 3) & ~std::size_t{3});
  }
  void option(uint16_t code, std::span<const uint8_t> value) {
    put(code);
    put(static_cast<uint16_t>(value.size()));
    bytes(value);
    options_ = true;
  }
  void option(uint16_t code, std::string_view text) {
    option(code, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
  template <class T>
  void option_value(uint16_t code, T v) {
    option(code, {reinterpret_cast<const uint8_t*>(&v), sizeof(v)});
  }
  std::vector<uint8_t> finish() && {
    if (options_) {
      put(kOptEnd);
      put(uint16_t{0});
    }
    const auto total = static_cast<uint32_t>(b_.size() + 4);
    put(total);
    std::memcpy(&b_[4], &total, 4);
    return std::move(b_);
  }

 private:
  std::vector<uint8_t> b_;
  bool options_ = false;
};

}  // namespace

PcapngWriter::PcapngWriter(const std::filesystem::path& path, uint32_t snaplen) {
  fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd_) throw_errno(errno, fmt::format("create capture file {}", path.string()));
  start(snaplen);
}

PcapngWriter::PcapngWriter(UniqueFd out, uint32_t snaplen) : fd_(std::move(out)), stream_(true) {
  if (!fd_) throw std::invalid_argument("capture output: no file descriptor");
  const int flags = check_errno(::fcntl(fd_.get(), F_GETFL), "fcntl F_GETFL (capture output)");
  if ((flags & O_ACCMODE) == O_RDONLY) throw std::invalid_argument("capture output is not open for writing");
  if (flags & O_NONBLOCK)
    check_errno(::fcntl(fd_.get(), F_SETFL, flags & ~O_NONBLOCK), "fcntl F_SETFL (capture output)");
  start(snaplen);
}

void PcapngWriter::start(uint32_t snaplen) {
  if (snaplen == 0) throw std::invalid_argument("pcap snaplen must be at least 1");
  snaplen_ = snaplen;
  Block shb(kSectionHeader);
  shb.put(uint32_t{0x1A2B3C4D});  // byte-order magic
  shb.put(uint16_t{1});           // version 1.0
  shb.put(uint16_t{0});
  shb.put(int64_t{-1});  // section length: not known in advance
  queue(std::move(shb).finish());
}

PcapngWriter::~PcapngWriter() {
  // The kernel holds pointers into pending_ until each submitted write
  // completes: wait for all of them (a failure is logged, not thrown; the
  // bound only guards against a ring that stopped answering).
  for (int tries = 0; in_flight_ > 0 && tries < 1000; ++tries) {
    try {
      reap(true);
    } catch (const std::exception& e) {
      spdlog::error("capture file: {}", e.what());
    }
  }
}

uint32_t PcapngWriter::interface_id(uint32_t ifindex) {
  if (auto it = interfaces_.find(ifindex); it != interfaces_.end()) return it->second;
  char buf[IF_NAMESIZE] = {};
  const std::string name = ::if_indextoname(ifindex, buf) ? std::string(buf) : fmt::format("ifindex {}", ifindex);
  Block idb(kInterfaceDescription);
  idb.put(kLinktypeEthernet);
  idb.put(uint16_t{0});
  idb.put(snaplen_);
  idb.option(kIfName, name);
  idb.option_value(kIfTsresol, uint8_t{9});  // timestamps in nanoseconds
  queue(std::move(idb).finish());
  const auto id = static_cast<uint32_t>(interfaces_.size());
  interfaces_.emplace(ifindex, id);
  return id;
}

void PcapngWriter::write(std::span<const uint8_t> frame, uint32_t ifindex, std::string_view comment) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  write({.captured = frame,
         .orig_len = static_cast<uint32_t>(frame.size()),
         .wall_ns = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec),
         .ifindex = ifindex,
         .rx_queue = std::nullopt,
         .comment = comment});
}

void PcapngWriter::write(const Packet& p) {
  const uint32_t id = interface_id(p.ifindex);
  const auto caplen = static_cast<uint32_t>(std::min<std::size_t>(p.captured.size(), snaplen_));
  Block epb(kEnhancedPacket);
  epb.put(id);
  epb.put(static_cast<uint32_t>(p.wall_ns >> 32));
  epb.put(static_cast<uint32_t>(p.wall_ns));
  epb.put(caplen);
  epb.put(std::max(p.orig_len, caplen));
  epb.bytes(p.captured.first(caplen));
  if (!p.comment.empty()) epb.option(kOptComment, p.comment);
  epb.option_value(kEpbFlags, kEpbInbound);
  if (p.rx_queue) epb.option_value(kEpbQueue, *p.rx_queue);
  queue(std::move(epb).finish());
  ++records_;
}

void PcapngWriter::queue(std::vector<uint8_t> block) {
  // After a failed write the output is broken (a full disk, a pipe whose
  // reader went away): nothing more is queued.
  if (!error_.empty()) throw std::runtime_error(error_);
  // Bound the memory held by writes the output has not taken yet.
  while (pending_.size() >= kMaxQueued) reap(true);
  pending_.push_back({.bytes = std::move(block), .written = 0, .offset = offset_, .submitted = false, .done = false});
  offset_ += pending_.back().bytes.size();
  if (!stream_ || pending_.size() == 1) submit(pending_.size() - 1);
  reap(false);
}

void PcapngWriter::submit(std::size_t i) {
  Pending& p = pending_[i];
  io_uring_sqe* sqe = ring_.sqe();
  // Stream mode: offset -1 is "at the file's position", which a pipe needs
  // and which keeps a redirected stdout's position right.
  io_uring_prep_write(sqe, fd_.get(), p.bytes.data() + p.written, static_cast<unsigned>(p.bytes.size() - p.written),
                      stream_ ? static_cast<uint64_t>(-1) : p.offset);
  io_uring_sqe_set_data64(sqe, first_id_ + i);
  p.submitted = true;
  ++in_flight_;
  check_errno(io_uring_submit(ring_.get()), "io_uring_submit (capture write)");
}

void PcapngWriter::reap(bool wait) {
  io_uring_cqe* cqe = nullptr;
  if (wait) check_errno(io_uring_wait_cqe(ring_.get(), &cqe), "io_uring_wait_cqe (capture write)");
  while (io_uring_peek_cqe(ring_.get(), &cqe) == 0) {
    const uint64_t id = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(ring_.get(), cqe);
    --in_flight_;
    const std::size_t i = id - first_id_;
    if (i >= pending_.size() || !pending_[i].submitted)
      throw std::logic_error("capture write completion for an unknown write");
    Pending& p = pending_[i];
    std::string failure;
    if (res < 0) {
      failure = std::system_error(-res, std::generic_category(), "capture file write").what();
    } else {
      p.written += static_cast<std::size_t>(res);
      // A pipe may take part of a block; a file only when it is full.
      if (p.written < p.bytes.size() && (!stream_ || res == 0))
        failure = fmt::format("short capture file write: {} of {}", p.written, p.bytes.size());
    }
    if (failure.empty() && p.written < p.bytes.size()) {
      submit(i);  // the rest of a block a pipe took part of
      continue;
    }
    p.done = true;
    if (!failure.empty() && error_.empty()) error_ = failure;
    while (!pending_.empty() && pending_.front().done) {
      pending_.pop_front();
      ++first_id_;
    }
    if (!error_.empty()) throw std::runtime_error(error_);
    if (stream_ && !pending_.empty() && !pending_.front().submitted) submit(0);
  }
}

void PcapngWriter::flush() {
  while (in_flight_ > 0) reap(true);
  if (!error_.empty()) throw std::runtime_error(error_);
}

}  // namespace xdpgw::pipeline
