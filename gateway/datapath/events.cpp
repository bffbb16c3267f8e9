#include "datapath/events.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "datapath/abi.hpp"

namespace xdpgw::events {

namespace {
std::string addr_text(const uint8_t* a, uint8_t family) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a, buf, sizeof(buf));
  return buf;
}
const char* proto_text(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
  }
  return "ip";
}
}  // namespace

std::string Event::type_name() const {
  switch (raw.type) {
    case XDPGW_EV_NEW_FLOW: return "new_flow";
    case XDPGW_EV_FLOW_OFFLOADED: return "flow_offloaded";
    case XDPGW_EV_RATE_LIMIT_DROP: return "rate_limit_drop";
    case XDPGW_EV_PARSE_ERROR: return "parse_error";
  }
  return fmt::format("event_{}", raw.type);
}

std::string Event::to_string() const {
  const auto& k = raw.key;
  std::string flow;
  if (k.family == AF_INET || k.family == AF_INET6)
    flow = fmt::format(" {} {}:{} -> {}:{}", proto_text(k.proto), addr_text(k.src, k.family), ntohs(k.sport),
                       addr_text(k.dst, k.family), ntohs(k.dport));
  const std::string reason = raw.reason ? fmt::format(" {}", abi::reason_name(raw.reason)) : std::string();
  return fmt::format("{}{}{} if {} len {}", type_name(), reason, flow, raw.ifindex, raw.len);
}

std::string Event::to_json() const {
  const auto& k = raw.key;
  std::string out = fmt::format(R"({{"ts_ns":{},"type":"{}","reason":"{}","ifindex":{},"len":{})", raw.ts_ns,
                                type_name(), abi::reason_name(raw.reason), raw.ifindex, raw.len);
  if (k.family == AF_INET || k.family == AF_INET6)
    out += fmt::format(R"(,"proto":"{}","src":"{}","sport":{},"dst":"{}","dport":{})", proto_text(k.proto),
                       addr_text(k.src, k.family), ntohs(k.sport), addr_text(k.dst, k.family), ntohs(k.dport));
  return out + "}";
}

EventCounts read_counts(int fd) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) throw_errno(cpus, "libbpf_num_possible_cpus");
  EventCounts c;
  std::vector<uint64_t> v(static_cast<std::size_t>(cpus));
  for (uint32_t which = 0; which < XDPGW_EVSTAT_COUNT; ++which) {
    check_errno(bpf_map_lookup_elem(fd, &which, v.data()), "read event_stats");
    uint64_t sum = 0;
    for (uint64_t x : v) sum += x;
    (which == XDPGW_EVSTAT_EMITTED ? c.emitted : which == XDPGW_EVSTAT_SUPPRESSED ? c.suppressed : c.ring_full) =
        sum;
  }
  return c;
}

Reader::Reader(int ringbuf_fd, Handler handler) : handler_(std::move(handler)) {
  rb_ = ring_buffer__new(ringbuf_fd, &Reader::on_sample, this, nullptr);
  if (!rb_) throw_errno(errno, "ring_buffer__new on the events map");
}

Reader::~Reader() { ring_buffer__free(rb_); }

int Reader::on_sample(void* self, void* data, size_t size) {
  auto* r = static_cast<Reader*>(self);
  Event ev;
  std::memcpy(&ev.raw, data, size < sizeof(ev.raw) ? size : sizeof(ev.raw));
  r->handler_(ev);
  return 0;
}

int Reader::poll(std::chrono::milliseconds timeout) {
  const int n = ring_buffer__poll(rb_, static_cast<int>(timeout.count()));
  if (n < 0 && n != -EINTR) throw_errno(n, "ring_buffer__poll on events");
  return n < 0 ? 0 : n;
}

int Reader::consume() {
  const int n = ring_buffer__consume(rb_);
  if (n < 0) throw_errno(n, "ring_buffer__consume on events");
  return n;
}

int Reader::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

}  // namespace xdpgw::events
