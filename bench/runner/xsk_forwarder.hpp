// The AF_XDP ceiling of a punt path: bench/bpf/xsk_min.bpf.c on the
// gateway's ingress port redirects every frame into an AF_XDP socket, and one
// thread of this process does the least a userspace forwarder can do with
// it: write both MACs and transmit it out of the egress port's AF_XDP socket.
// Built from the daemon's own AF_XDP blocks (gateway/xsk: one shared UMEM, so
// rx -> tx moves an address, not bytes; batches of 64; io_uring wait and tx
// kicks), with the same ring sizes as xdpgw's pipeline on two ports, so what
// the pipeline adds (parse, rule match, neighbour lookup, TTL and checksum)
// is the difference.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "harness/addr.hpp"
#include "runner/bpf_programs.hpp"
#include "xsk/socket.hpp"
#include "xsk/umem.hpp"
#include "xsk/waiter.hpp"

struct xbn_xsk_min_skel;

namespace xdpgw::bench {

struct XskForwarderStats {
  uint64_t punted = 0;        // frames XDP redirected towards the socket
  uint64_t received = 0;      // frames the loop took off the rx ring
  uint64_t transmitted = 0;   // frames it put into the egress tx ring
  uint64_t tx_ring_full = 0;  // frames that found no tx slot (dropped)
  xsk::SocketStats rx_socket;  // the kernel's drops on the rx socket
};

class MinimalXskForwarder {
 public:
  // Loads and attaches the XDP program on `ingress`, opens the sockets (rx
  // on ingress queue 0, tx on egress queue 0: a veth has one queue) inside
  // the namespace, starts the thread.
  MinimalXskForwarder(const std::string& netns_path, const std::string& ingress,
                      const std::string& egress, const test::MacAddr& dst_mac,
                      const test::MacAddr& src_mac);
  MinimalXskForwarder(const MinimalXskForwarder&) = delete;
  MinimalXskForwarder& operator=(const MinimalXskForwarder&) = delete;
  // Stops the thread, closes the sockets (the rx socket leaves the XSKMAP
  // first), frees the UMEM, detaches XDP.
  ~MinimalXskForwarder();

  XskForwarderStats stats() const;
  // Why the thread stopped early, if it did.
  std::optional<std::string> error() const;

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_xsk_min_skel* skel) const noexcept;
  };
  void run(const std::stop_token& stop);

  test::MacAddr dst_mac_;
  test::MacAddr src_mac_;
  // Declaration order is teardown order reversed: the thread goes first,
  // then the waiter (its io_uring holds socket references), the sockets,
  // the UMEM, the XDP link and the program.
  std::unique_ptr<::xbn_xsk_min_skel, SkeletonDeleter> skel_;
  std::optional<XdpLink> link_;
  std::unique_ptr<xsk::Umem> umem_;
  std::unique_ptr<xsk::Socket> rx_;
  std::unique_ptr<xsk::Socket> tx_;
  std::unique_ptr<xsk::Waiter> waiter_;
  uint32_t fill_target_ = 0;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> transmitted_{0};
  std::atomic<uint64_t> tx_ring_full_{0};
  mutable std::mutex error_mu_;
  std::optional<std::string> error_;
  std::jthread thread_;
};

}  // namespace xdpgw::bench
