// The benchmark's own XDP programs, each loaded from its skeleton and
// attached through a bpf_link that is released (detached) with its owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bench_shared.h"
#include "harness/addr.hpp"

struct bpf_link;
struct bpf_program;
struct xbn_sink_skel;
struct xbn_redirect_min_skel;
struct xbn_drop_min_skel;
struct xbn_fib_min_skel;

namespace xdpgw::bench {

// An XDP program attached to an interface of a namespace through a
// bpf_link (native mode on veth: the kernel picks driver mode when no mode
// flag is given and the driver supports XDP). Destroying it detaches.
class XdpLink {
 public:
  XdpLink(const bpf_program* program, const std::string& netns_path, const std::string& ifname);
  XdpLink(XdpLink&&) noexcept = default;
  XdpLink& operator=(XdpLink&&) noexcept = default;
  ~XdpLink() = default;

 private:
  struct Deleter {
    void operator()(::bpf_link* link) const noexcept;
  };
  std::unique_ptr<::bpf_link, Deleter> link_;
};

// How XDP runs on an interface: "native", "generic", "offload", "multi" or
// "none" (bpf_xdp_query).
std::string xdp_attach_mode(const std::string& netns_path, const std::string& ifname);
// Id of the XDP program attached to an interface, 0 when none.
uint32_t xdp_prog_id(const std::string& netns_path, const std::string& ifname);

// bench/bpf/sink.bpf.c on the sink end of a path: drops every frame and
// counts the generator's (UDP to `match_dport`) apart from the rest.
class Sink {
 public:
  Sink(const std::string& netns_path, const std::string& ifname, uint16_t match_dport);
  Sink(Sink&&) noexcept;
  Sink& operator=(Sink&&) noexcept;
  ~Sink();

  xbn_counter matched() const;  // the generator's frames that arrived
  xbn_counter other() const;    // anything else (the gateway's own ND, MLD, ...)

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_sink_skel* skel) const noexcept;
  };
  xbn_counter read(uint32_t key) const;

  // Declared before the link: the link is destroyed (detached) first.
  std::unique_ptr<::xbn_sink_skel, SkeletonDeleter> skel_;
  XdpLink link_;
};

// bench/bpf/redirect_min.bpf.c on a gateway's ingress port: writes the two
// MACs and redirects every frame to the egress port through a DEVMAP.
class MinimalRedirect {
 public:
  MinimalRedirect(const std::string& netns_path, const std::string& ingress,
                  const std::string& egress, const test::MacAddr& dst_mac,
                  const test::MacAddr& src_mac);
  MinimalRedirect(MinimalRedirect&&) noexcept;
  MinimalRedirect& operator=(MinimalRedirect&&) noexcept;
  ~MinimalRedirect();

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_redirect_min_skel* skel) const noexcept;
  };
  std::unique_ptr<::xbn_redirect_min_skel, SkeletonDeleter> skel_;
  XdpLink link_;
};

// bench/bpf/fib_min.bpf.c on a gateway's ingress port: the minimal XDP
// router (bpf_fib_lookup, TTL, MACs, DEVMAP_HASH redirect). Both gateway
// ports are its egress candidates.
class MinimalFib {
 public:
  MinimalFib(const std::string& netns_path, const std::string& ingress, const std::string& egress);
  MinimalFib(MinimalFib&&) noexcept;
  MinimalFib& operator=(MinimalFib&&) noexcept;
  ~MinimalFib();

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_fib_min_skel* skel) const noexcept;
  };
  std::unique_ptr<::xbn_fib_min_skel, SkeletonDeleter> skel_;
  XdpLink link_;
};

// bench/bpf/drop_min.bpf.c on a gateway's ingress port: counts every frame
// and drops it (the XDP ceiling of a path whose job is dropping).
class MinimalDrop {
 public:
  MinimalDrop(const std::string& netns_path, const std::string& ingress);
  MinimalDrop(MinimalDrop&&) noexcept;
  MinimalDrop& operator=(MinimalDrop&&) noexcept;
  ~MinimalDrop();

  xbn_counter dropped() const;  // summed over CPUs

 private:
  struct SkeletonDeleter {
    void operator()(::xbn_drop_min_skel* skel) const noexcept;
  };
  std::unique_ptr<::xbn_drop_min_skel, SkeletonDeleter> skel_;
  XdpLink link_;
};

}  // namespace xdpgw::bench
