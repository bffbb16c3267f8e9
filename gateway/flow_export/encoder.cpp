// Wire formats: RFC 7011 (IPFIX) sections 3.1 (message header), 3.3 (sets),
// 3.4.1-3.4.2 (template and options template records); RFC 3954 (NetFlow
// v9) sections 5.1 (header), 5.2 (template FlowSet), 6.1 (options template),
// 5.3 (data FlowSet, padded to 4 bytes).
#include "flow_export/encoder.hpp"

#include <stdexcept>

namespace xdpgw::flow_export {
namespace {

// IANA IPFIX information element ids (the same numbers in NetFlow v9 for
// every field used here).
enum Ie : uint16_t {
  kOctetDeltaCount = 1,
  kPacketDeltaCount = 2,
  kProtocolIdentifier = 4,
  kTcpControlBits = 6,
  kSourceTransportPort = 7,
  kSourceIPv4Address = 8,
  kIngressInterface = 10,
  kDestinationTransportPort = 11,
  kDestinationIPv4Address = 12,
  kEgressInterface = 14,
  kLastSwitched = 21,   // NetFlow v9: sysUptime ms of the last packet
  kFirstSwitched = 22,  // and of the first
  kSourceIPv6Address = 27,
  kIcmpTypeCodeIPv4 = 32,  // NetFlow v9 ICMP_TYPE, for both families
  kIcmpTypeCodeIPv6 = 139,
  kDestinationIPv6Address = 28,
  kSamplingInterval = 34,
  kFlowEndReason = 136,
  kObservationDomainId = 149,
  kFlowStartMilliseconds = 152,
  kFlowEndMilliseconds = 153,
  kPostNatSourceIPv4Address = 225,
  kPostNatDestinationIPv4Address = 226,
  kPostNaptSourceTransportPort = 227,
  kPostNaptDestinationTransportPort = 228,
  kPostNatSourceIPv6Address = 281,
  kPostNatDestinationIPv6Address = 282,
};

constexpr uint16_t kIpfixVersion = 10;
constexpr uint16_t kNetflow9Version = 9;
constexpr uint16_t kIpfixTemplateSet = 2;
constexpr uint16_t kIpfixOptionsTemplateSet = 3;
constexpr uint16_t kNf9TemplateSet = 0;
constexpr uint16_t kNf9OptionsTemplateSet = 1;
constexpr uint16_t kNf9ScopeSystem = 1;

void put8(std::vector<uint8_t>& b, uint8_t v) { b.push_back(v); }
void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, uint16_t(v >> 16));
  put16(b, uint16_t(v));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
  put32(b, uint32_t(v >> 32));
  put32(b, uint32_t(v));
}
void set16(std::vector<uint8_t>& b, std::size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}

std::size_t record_size(Format f, uint16_t tid) {
  std::size_t n = 0;
  for (const Field& field : template_fields(f, tid)) n += field.length;
  return n;
}

// A set (FlowSet) being written: its header's offset, patched on close.
struct OpenSet {
  std::size_t at = 0;
  uint16_t id = 0;
  bool open = false;
};

void open_set(std::vector<uint8_t>& b, OpenSet& s, uint16_t id) {
  s = {b.size(), id, true};
  put16(b, id);
  put16(b, 0);  // length, patched by close_set
}

void close_set(std::vector<uint8_t>& b, OpenSet& s, Format f) {
  if (!s.open) return;
  // NetFlow v9 FlowSets end on a 4-byte boundary (RFC 3954 5.3); IPFIX
  // needs no padding and collectors may not expect it.
  if (f == Format::kNetflow9)
    while ((b.size() - s.at) % 4) b.push_back(0);
  set16(b, s.at + 2, uint16_t(b.size() - s.at));
  s.open = false;
}

}  // namespace

std::vector<Field> template_fields(Format f, uint16_t tid) {
  const bool v6 = tid == kTemplateV6 || tid == kTemplateV6Nat;
  const bool nat = tid == kTemplateV4Nat || tid == kTemplateV6Nat;
  if (tid < kTemplateV4 || tid > kTemplateV6Nat) throw std::invalid_argument("no such data template");
  const uint16_t alen = v6 ? 16 : 4;
  std::vector<Field> out{
      {v6 ? kSourceIPv6Address : kSourceIPv4Address, alen},
      {v6 ? kDestinationIPv6Address : kDestinationIPv4Address, alen},
      {kSourceTransportPort, 2},
      {kDestinationTransportPort, 2},
      {kProtocolIdentifier, 1},
      // ICMP type << 8 | code: collectors read it here, not from the
      // destination port (nfdump zeroes the ports of ICMP flows).
      {f == Format::kIpfix && v6 ? kIcmpTypeCodeIPv6 : kIcmpTypeCodeIPv4, 2},
      // IPFIX defines tcpControlBits as 16 bits (RFC 7125); NetFlow v9 as 8.
      {kTcpControlBits, uint16_t(f == Format::kIpfix ? 2 : 1)},
      {kIngressInterface, 4},
      {kEgressInterface, 4},
      {kPacketDeltaCount, 8},
      {kOctetDeltaCount, 8},
  };
  if (f == Format::kIpfix) {
    out.push_back({kFlowStartMilliseconds, 8});
    out.push_back({kFlowEndMilliseconds, 8});
    out.push_back({kFlowEndReason, 1});
  } else {
    out.push_back({kFirstSwitched, 4});
    out.push_back({kLastSwitched, 4});
  }
  if (nat) {
    out.push_back({v6 ? kPostNatSourceIPv6Address : kPostNatSourceIPv4Address, alen});
    out.push_back({v6 ? kPostNatDestinationIPv6Address : kPostNatDestinationIPv4Address, alen});
    out.push_back({kPostNaptSourceTransportPort, 2});
    out.push_back({kPostNaptDestinationTransportPort, 2});
  }
  return out;
}

uint16_t template_for(const FlowRecord& r) {
  if (r.nat) return r.ipv6 ? kTemplateV6Nat : kTemplateV4Nat;
  return r.ipv6 ? kTemplateV6 : kTemplateV4;
}

Encoder::Encoder(Format format, uint32_t observation_domain_id, uint32_t sampling,
                 uint64_t boot_ms, std::size_t max_message)
    : format_(format),
      domain_(observation_domain_id),
      sampling_(sampling),
      boot_ms_(boot_ms),
      max_message_(max_message) {
  // The templates must fit one message with room for a record.
  if (max_message_ < 512) throw std::invalid_argument("flow export message size below 512 bytes");
}

void Encoder::begin_message(std::vector<uint8_t>& msg, uint64_t now_ms) const {
  msg.clear();
  msg.reserve(max_message_);
  const auto secs = uint32_t(now_ms / 1000);
  if (format_ == Format::kIpfix) {
    put16(msg, kIpfixVersion);
    put16(msg, 0);  // length
    put32(msg, secs);
    put32(msg, sequence_);  // data records sent before this message
    put32(msg, domain_);
  } else {
    put16(msg, kNetflow9Version);
    put16(msg, 0);  // count of records
    put32(msg, uint32_t(now_ms - boot_ms_));  // sysUptime
    put32(msg, secs);
    put32(msg, sequence_);  // export packets sent before this one
    put32(msg, domain_);    // source id
  }
}

void Encoder::finish_message(std::vector<uint8_t>& msg, uint32_t records_in_msg, uint32_t count) {
  if (format_ == Format::kIpfix) {
    set16(msg, 2, uint16_t(msg.size()));
    sequence_ += records_in_msg;  // wraps mod 2^32 as RFC 7011 says
  } else {
    set16(msg, 2, uint16_t(count));
    sequence_ += 1;
  }
}

void Encoder::append_templates(std::vector<uint8_t>& msg, uint32_t& count) const {
  OpenSet set;
  open_set(msg, set, format_ == Format::kIpfix ? kIpfixTemplateSet : kNf9TemplateSet);
  for (uint16_t tid : {kTemplateV4, kTemplateV6, kTemplateV4Nat, kTemplateV6Nat}) {
    const auto fields = template_fields(format_, tid);
    put16(msg, tid);
    put16(msg, uint16_t(fields.size()));
    for (const Field& f : fields) {
      put16(msg, f.id);
      put16(msg, f.length);
    }
    ++count;
  }
  close_set(msg, set, format_);
  if (sampling_ <= 1) return;
  // The sampling interval as an options record: nfdump (and most
  // collectors) scale the counts of this exporter's records by it.
  open_set(msg, set, format_ == Format::kIpfix ? kIpfixOptionsTemplateSet : kNf9OptionsTemplateSet);
  put16(msg, kTemplateSampling);
  if (format_ == Format::kIpfix) {
    put16(msg, 2);  // field count
    put16(msg, 1);  // scope field count
    put16(msg, kObservationDomainId);
    put16(msg, 4);
  } else {
    put16(msg, 4);  // option scope length (bytes)
    put16(msg, 4);  // option length (bytes)
    put16(msg, kNf9ScopeSystem);
    put16(msg, 4);
  }
  put16(msg, kSamplingInterval);
  put16(msg, 4);
  close_set(msg, set, format_);
  ++count;
  open_set(msg, set, kTemplateSampling);
  put32(msg, domain_);
  put32(msg, sampling_);
  close_set(msg, set, format_);
  ++count;
}

void Encoder::append_record(std::vector<uint8_t>& msg, const FlowRecord& r) const {
  const std::size_t alen = r.ipv6 ? 16 : 4;
  msg.insert(msg.end(), r.src.begin(), r.src.begin() + alen);
  msg.insert(msg.end(), r.dst.begin(), r.dst.begin() + alen);
  const bool icmp = r.proto == 1 || r.proto == 58;
  put16(msg, icmp ? 0 : r.sport);
  put16(msg, icmp ? 0 : r.dport);
  put8(msg, r.proto);
  put16(msg, icmp ? r.dport : 0);
  if (format_ == Format::kIpfix) put16(msg, r.tcp_flags);
  else put8(msg, r.tcp_flags);
  put32(msg, r.ingress_ifindex);
  put32(msg, r.egress_ifindex);
  put64(msg, r.packets);
  put64(msg, r.bytes);
  if (format_ == Format::kIpfix) {
    put64(msg, r.first_ms);
    put64(msg, r.last_ms);
    put8(msg, uint8_t(r.end_reason));
  } else {
    // Relative to sysUptime's zero; a flow older than the exporter starts
    // at its zero.
    put32(msg, uint32_t(r.first_ms > boot_ms_ ? r.first_ms - boot_ms_ : 0));
    put32(msg, uint32_t(r.last_ms > boot_ms_ ? r.last_ms - boot_ms_ : 0));
  }
  if (r.nat) {
    msg.insert(msg.end(), r.post_src.begin(), r.post_src.begin() + alen);
    msg.insert(msg.end(), r.post_dst.begin(), r.post_dst.begin() + alen);
    put16(msg, r.post_sport);
    put16(msg, r.post_dport);
  }
}

std::vector<Message> Encoder::encode(std::span<const FlowRecord> records, uint64_t now_ms,
                                     bool templates) {
  std::vector<Message> out;
  std::vector<uint8_t> msg;
  std::size_t i = 0;
  bool first = true;
  while (first || i < records.size()) {
    begin_message(msg, now_ms);
    uint32_t count = 0, data_records = 0;
    if (first && templates) append_templates(msg, count);
    first = false;
    OpenSet set;
    for (; i < records.size(); ++i) {
      const uint16_t tid = template_for(records[i]);
      const std::size_t need = record_size(format_, tid) + (set.open && set.id == tid ? 0 : 4 + 3);
      if (msg.size() + need > max_message_) break;
      if (!set.open || set.id != tid) {
        close_set(msg, set, format_);
        open_set(msg, set, tid);
      }
      append_record(msg, records[i]);
      ++count;
      ++data_records;
    }
    close_set(msg, set, format_);
    finish_message(msg, data_records, count);
    out.push_back({msg, data_records});
  }
  return out;
}

}  // namespace xdpgw::flow_export
