// IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) export messages of flow
// records. Pure: bytes in, bytes out, no sockets, no clock (the caller
// passes the time), so tests parse back what it writes.
//
// One Encoder per collector: each owns the sequence numbers of its
// transport session. IPFIX's counts the data records sent before a
// message; NetFlow v9's counts the export packets.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace xdpgw::flow_export {

enum class Format : uint8_t { kIpfix, kNetflow9 };

// IPFIX flowEndReason (IE 136).
enum class EndReason : uint8_t {
  kIdleTimeout = 1,
  kActiveTimeout = 2,
  kEndOfFlow = 3,  // TCP FIN or RST seen
  kForcedEnd = 4,  // the exporter stopped
};

struct FlowRecord {
  bool ipv6 = false;
  std::array<uint8_t, 16> src{};  // network order; IPv4 in the first 4 bytes
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;  // host order; ICMP: dport = type << 8 | code (sent as IE 32/139)
  uint16_t dport = 0;
  uint8_t proto = 0;
  uint8_t tcp_flags = 0;
  uint32_t ingress_ifindex = 0;
  uint32_t egress_ifindex = 0;
  uint64_t packets = 0;  // sampled counts, as accounted
  uint64_t bytes = 0;
  uint64_t first_ms = 0;  // Unix epoch, milliseconds
  uint64_t last_ms = 0;
  EndReason end_reason = EndReason::kIdleTimeout;
  // Load-balancer NAT: the addresses and ports after translation
  // (postNAT*/postNAPT*, IEs 225-228, 281, 282); src/dst above are the
  // packet's before it.
  bool nat = false;
  std::array<uint8_t, 16> post_src{};
  std::array<uint8_t, 16> post_dst{};
  uint16_t post_sport = 0;
  uint16_t post_dport = 0;
};

// Template ids this encoder uses: data templates by record kind, then the
// sampling options template.
inline constexpr uint16_t kTemplateV4 = 256;
inline constexpr uint16_t kTemplateV6 = 257;
inline constexpr uint16_t kTemplateV4Nat = 258;
inline constexpr uint16_t kTemplateV6Nat = 259;
inline constexpr uint16_t kTemplateSampling = 260;
// Messages stay below an IPv6 minimum-MTU path's UDP payload (1232), so
// they are never fragmented.
inline constexpr std::size_t kDefaultMaxMessage = 1200;

// An information element of a template: id and length in bytes.
struct Field {
  uint16_t id;
  uint16_t length;
};

// The fields of the data template `template_id` in `format`.
std::vector<Field> template_fields(Format format, uint16_t template_id);
uint16_t template_for(const FlowRecord& r);

// One export message (a UDP datagram's payload) and the data records in it.
struct Message {
  std::vector<uint8_t> bytes;
  uint32_t records = 0;
};

class Encoder {
 public:
  // `boot_ms`: the exporter's start (epoch ms), NetFlow v9's sysUptime zero.
  // `sampling` > 1 is announced in an options record (samplingInterval,
  // IE 34) sent with the templates.
  Encoder(Format format, uint32_t observation_domain_id, uint32_t sampling, uint64_t boot_ms,
          std::size_t max_message = kDefaultMaxMessage);

  // Export messages for `records`, in order, each at most max_message
  // bytes; with `templates`, the first message starts with the template
  // (and sampling options) sets. No records and `templates`: one message of
  // templates only.
  std::vector<Message> encode(std::span<const FlowRecord> records, uint64_t now_ms, bool templates);

  Format format() const { return format_; }
  uint32_t sequence() const { return sequence_; }

 private:
  void begin_message(std::vector<uint8_t>& msg, uint64_t now_ms) const;
  void finish_message(std::vector<uint8_t>& msg, uint32_t records_in_msg, uint32_t count);
  void append_templates(std::vector<uint8_t>& msg, uint32_t& count) const;
  void append_record(std::vector<uint8_t>& msg, const FlowRecord& r) const;

  Format format_;
  uint32_t domain_;
  uint32_t sampling_;
  uint64_t boot_ms_;
  std::size_t max_message_;
  // IPFIX: data records sent so far; NetFlow v9: messages sent so far.
  uint32_t sequence_ = 0;
};

}  // namespace xdpgw::flow_export
