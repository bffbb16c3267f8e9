#include "pipeline/pcap.hpp"

#include <fcntl.h>
#include <sys/time.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace xdpgw::pipeline {

namespace {
template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(v));  // host order: pcap readers detect it from the magic
}
}  // namespace

PcapWriter::PcapWriter(const std::filesystem::path& path, uint32_t snaplen) : snaplen_(snaplen) {
  if (snaplen_ == 0) throw std::invalid_argument("pcap snaplen must be at least 1");
  fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd_) throw_errno(errno, fmt::format("create capture file {}", path.string()));
  std::vector<uint8_t> hdr;
  put<uint32_t>(hdr, 0xa1b2c3d4);  // microsecond pcap
  put<uint16_t>(hdr, 2);
  put<uint16_t>(hdr, 4);
  put<int32_t>(hdr, 0);
  put<uint32_t>(hdr, 0);
  put<uint32_t>(hdr, snaplen_);
  put<uint32_t>(hdr, 1);  // LINKTYPE_ETHERNET
  queue(std::move(hdr));
}

PcapWriter::~PcapWriter() {
  try {
    flush();
  } catch (const std::exception& e) {
    spdlog::error("capture file: {}", e.what());
  }
}

void PcapWriter::write(std::span<const uint8_t> frame) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  write(frame, static_cast<uint32_t>(frame.size()), tv);
}

void PcapWriter::write(std::span<const uint8_t> captured, uint32_t orig_len, timeval when) {
  const uint32_t caplen = captured.size() < snaplen_ ? static_cast<uint32_t>(captured.size()) : snaplen_;
  std::vector<uint8_t> rec;
  rec.reserve(16 + caplen);
  put<uint32_t>(rec, static_cast<uint32_t>(when.tv_sec));
  put<uint32_t>(rec, static_cast<uint32_t>(when.tv_usec));
  put<uint32_t>(rec, caplen);
  put<uint32_t>(rec, orig_len < caplen ? caplen : orig_len);
  rec.insert(rec.end(), captured.begin(), captured.begin() + caplen);
  queue(std::move(rec));
  ++records_;
}

void PcapWriter::queue(std::vector<uint8_t> bytes) {
  // Bound the memory held by writes the disk has not finished.
  while (in_flight_.size() >= 32) reap(true);
  in_flight_.push_back(std::move(bytes));
  done_.push_back(false);
  const std::vector<uint8_t>& b = in_flight_.back();
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_write(sqe, fd_.get(), b.data(), static_cast<unsigned>(b.size()), offset_);
  io_uring_sqe_set_data64(sqe, next_id_++);
  offset_ += b.size();
  check_errno(io_uring_submit(ring_.get()), "io_uring_submit (capture write)");
  reap(false);
}

void PcapWriter::reap(bool wait) {
  io_uring_cqe* cqe = nullptr;
  if (wait) {
    check_errno(io_uring_wait_cqe(ring_.get(), &cqe), "io_uring_wait_cqe (capture write)");
  }
  while (io_uring_peek_cqe(ring_.get(), &cqe) == 0) {
    const uint64_t id = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(ring_.get(), cqe);
    const std::size_t i = id - first_id_;
    if (i >= in_flight_.size()) throw std::logic_error("capture write completion for an unknown write");
    if (res < 0) throw_errno(res, "capture file write");
    if (static_cast<std::size_t>(res) != in_flight_[i].size())
      throw std::runtime_error(fmt::format("short capture file write: {} of {}", res, in_flight_[i].size()));
    done_[i] = true;
    while (!done_.empty() && done_.front()) {
      done_.pop_front();
      in_flight_.pop_front();
      ++first_id_;
    }
  }
}

void PcapWriter::flush() {
  while (!in_flight_.empty()) reap(true);
}

}  // namespace xdpgw::pipeline
