#include "runner/bpf_programs.hpp"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "gen/system.hpp"
#include "harness/netns.hpp"
#include "harness/prog_run.hpp"
#include "xbn_drop_min.skel.h"
#include "xbn_fib_min.skel.h"
#include "xbn_redirect_min.skel.h"
#include "xbn_sink.skel.h"

namespace xdpgw::bench {
namespace {

int ifindex_in(const std::string& netns_path, const std::string& ifname) {
  return query_interface(netns_path, ifname).ifindex;
}

}  // namespace

void XdpLink::Deleter::operator()(::bpf_link* link) const noexcept { bpf_link__destroy(link); }

XdpLink::XdpLink(const bpf_program* program, const std::string& netns_path,
                 const std::string& ifname) {
  const int ifindex = ifindex_in(netns_path, ifname);
  // A bpf_link lives in no namespace; the ifindex is resolved here.
  test::NetnsGuard inside(netns_path);
  ::bpf_link* link = bpf_program__attach_xdp(program, ifindex);
  if (link == nullptr) {
    throw_errno(errno, fmt::format("attach XDP program {} to {} in {}", bpf_program__name(program),
                                   ifname, netns_path));
  }
  link_.reset(link);
}

std::string xdp_attach_mode(const std::string& netns_path, const std::string& ifname) {
  const int ifindex = ifindex_in(netns_path, ifname);
  test::NetnsGuard inside(netns_path);
  LIBBPF_OPTS(bpf_xdp_query_opts, query);
  check_errno(bpf_xdp_query(ifindex, 0, &query), fmt::format("bpf_xdp_query {} in {}", ifname, netns_path));
  switch (query.attach_mode) {
    case XDP_ATTACHED_NONE: return "none";
    case XDP_ATTACHED_DRV: return "native";
    case XDP_ATTACHED_SKB: return "generic";
    case XDP_ATTACHED_HW: return "offload";
    case XDP_ATTACHED_MULTI: return "multi";
    default: return "unknown";
  }
}

uint32_t xdp_prog_id(const std::string& netns_path, const std::string& ifname) {
  const int ifindex = ifindex_in(netns_path, ifname);
  test::NetnsGuard inside(netns_path);
  LIBBPF_OPTS(bpf_xdp_query_opts, query);
  check_errno(bpf_xdp_query(ifindex, 0, &query), fmt::format("bpf_xdp_query {} in {}", ifname, netns_path));
  return query.prog_id;
}

// ---- Sink ---------------------------------------------------------------------

void Sink::SkeletonDeleter::operator()(::xbn_sink_skel* skel) const noexcept {
  xbn_sink_skel__destroy(skel);
}

Sink::Sink(const std::string& netns_path, const std::string& ifname, uint16_t match_dport)
    : skel_([&] {
        ::xbn_sink_skel* skel = xbn_sink_skel__open();
        if (skel == nullptr) throw_errno(errno, "open BPF skeleton xbn_sink");
        std::unique_ptr<::xbn_sink_skel, SkeletonDeleter> owner(skel);
        skel->rodata->match_dport_be = htons(match_dport);
        check_errno(xbn_sink_skel__load(skel), "load BPF program xbn_sink");
        return owner;
      }()),
      link_(skel_->progs.xbn_sink, netns_path, ifname) {}

Sink::Sink(Sink&&) noexcept = default;
Sink& Sink::operator=(Sink&&) noexcept = default;
Sink::~Sink() = default;

xbn_counter Sink::read(uint32_t key) const {
  return test::sum_percpu<xbn_counter>(bpf_map__fd(skel_->maps.sink_stats), key,
                                       [](xbn_counter sum, const xbn_counter& cpu) {
                                         sum.packets += cpu.packets;
                                         sum.bytes += cpu.bytes;
                                         return sum;
                                       });
}

xbn_counter Sink::matched() const { return read(XBN_SINK_MATCHED); }
xbn_counter Sink::other() const { return read(XBN_SINK_OTHER); }

// ---- MinimalRedirect ------------------------------------------------------------

void MinimalRedirect::SkeletonDeleter::operator()(::xbn_redirect_min_skel* skel) const noexcept {
  xbn_redirect_min_skel__destroy(skel);
}

MinimalRedirect::MinimalRedirect(const std::string& netns_path, const std::string& ingress,
                                 const std::string& egress, const test::MacAddr& dst_mac,
                                 const test::MacAddr& src_mac)
    : skel_([&] {
        ::xbn_redirect_min_skel* skel = xbn_redirect_min_skel__open();
        if (skel == nullptr) throw_errno(errno, "open BPF skeleton xbn_redirect_min");
        std::unique_ptr<::xbn_redirect_min_skel, SkeletonDeleter> owner(skel);
        std::ranges::copy(dst_mac, skel->bss->egress_macs.dst);
        std::ranges::copy(src_mac, skel->bss->egress_macs.src);
        check_errno(xbn_redirect_min_skel__load(skel), "load BPF program xbn_redirect_min");
        const uint32_t key = 0;
        const auto egress_ifindex = static_cast<uint32_t>(ifindex_in(netns_path, egress));
        // The kernel resolves a DEVMAP entry's ifindex in the writer's namespace.
        test::NetnsGuard inside(netns_path);
        check_errno(bpf_map_update_elem(bpf_map__fd(skel->maps.tx_port), &key, &egress_ifindex, 0),
                    fmt::format("tx_port[0] = {} ({})", egress, egress_ifindex));
        return owner;
      }()),
      link_(skel_->progs.xbn_redirect_min, netns_path, ingress) {}

MinimalRedirect::MinimalRedirect(MinimalRedirect&&) noexcept = default;
MinimalRedirect& MinimalRedirect::operator=(MinimalRedirect&&) noexcept = default;
MinimalRedirect::~MinimalRedirect() = default;

// ---- MinimalFib ---------------------------------------------------------------------

void MinimalFib::SkeletonDeleter::operator()(::xbn_fib_min_skel* skel) const noexcept {
  xbn_fib_min_skel__destroy(skel);
}

MinimalFib::MinimalFib(const std::string& netns_path, const std::string& ingress,
                       const std::string& egress)
    : skel_([&] {
        ::xbn_fib_min_skel* skel = xbn_fib_min_skel__open_and_load();
        if (skel == nullptr) throw_errno(errno, "open and load BPF program xbn_fib_min");
        std::unique_ptr<::xbn_fib_min_skel, SkeletonDeleter> owner(skel);
        const int ports_fd = bpf_map__fd(skel->maps.tx_ports);
        for (const std::string& port : {ingress, egress}) {
          const auto ifindex = static_cast<uint32_t>(ifindex_in(netns_path, port));
          // The kernel resolves a DEVMAP entry's ifindex in the writer's namespace.
          test::NetnsGuard inside(netns_path);
          check_errno(bpf_map_update_elem(ports_fd, &ifindex, &ifindex, 0),
                      fmt::format("tx_ports[{0}] = {0} ({1})", ifindex, port));
        }
        return owner;
      }()),
      link_(skel_->progs.xbn_fib_min, netns_path, ingress) {}

MinimalFib::MinimalFib(MinimalFib&&) noexcept = default;
MinimalFib& MinimalFib::operator=(MinimalFib&&) noexcept = default;
MinimalFib::~MinimalFib() = default;

// ---- MinimalDrop ------------------------------------------------------------------

void MinimalDrop::SkeletonDeleter::operator()(::xbn_drop_min_skel* skel) const noexcept {
  xbn_drop_min_skel__destroy(skel);
}

MinimalDrop::MinimalDrop(const std::string& netns_path, const std::string& ingress)
    : skel_([&] {
        ::xbn_drop_min_skel* skel = xbn_drop_min_skel__open_and_load();
        if (skel == nullptr) throw_errno(errno, "open and load BPF program xbn_drop_min");
        return std::unique_ptr<::xbn_drop_min_skel, SkeletonDeleter>(skel);
      }()),
      link_(skel_->progs.xbn_drop_min, netns_path, ingress) {}

MinimalDrop::MinimalDrop(MinimalDrop&&) noexcept = default;
MinimalDrop& MinimalDrop::operator=(MinimalDrop&&) noexcept = default;
MinimalDrop::~MinimalDrop() = default;

xbn_counter MinimalDrop::dropped() const {
  return test::sum_percpu<xbn_counter>(bpf_map__fd(skel_->maps.drop_stats), 0,
                                       [](xbn_counter sum, const xbn_counter& cpu) {
                                         sum.packets += cpu.packets;
                                         sum.bytes += cpu.bytes;
                                         return sum;
                                       });
}

}  // namespace xdpgw::bench
