// The encoder's messages read back by a decoder written from RFC 7011 and
// RFC 3954 (not from the encoder): headers, sequence numbers, templates,
// options, data records field by field, padding and the size bound.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "flow_export/encoder.hpp"

namespace xdpgw::flow_export {
namespace {

uint64_t be(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = v << 8 | x;
  return v;
}

struct Decoded {
  uint16_t version = 0;
  uint16_t length_or_count = 0;
  uint32_t export_secs = 0;
  uint32_t sys_uptime = 0;  // NetFlow v9
  uint32_t sequence = 0;
  uint32_t domain = 0;
  uint32_t records_in_header_count = 0;  // template + options + data records (v9 count)
  std::map<uint16_t, std::vector<Field>> templates;
  std::map<uint16_t, std::vector<Field>> option_templates;  // scope fields first
  std::vector<std::pair<uint16_t, std::map<uint16_t, std::vector<uint8_t>>>> records;  // (template, ie -> bytes)
  std::vector<std::size_t> set_lengths;
};

// Decodes one message given the templates known so far (which it extends).
Decoded decode(std::span<const uint8_t> m, std::map<uint16_t, std::vector<Field>>& known) {
  Decoded d;
  d.version = uint16_t(be(m.subspan(0, 2)));
  d.length_or_count = uint16_t(be(m.subspan(2, 2)));
  std::size_t off = 0;
  if (d.version == 10) {
    if (d.length_or_count != m.size()) throw std::runtime_error("IPFIX length != message size");
    d.export_secs = uint32_t(be(m.subspan(4, 4)));
    d.sequence = uint32_t(be(m.subspan(8, 4)));
    d.domain = uint32_t(be(m.subspan(12, 4)));
    off = 16;
  } else if (d.version == 9) {
    d.sys_uptime = uint32_t(be(m.subspan(4, 4)));
    d.export_secs = uint32_t(be(m.subspan(8, 4)));
    d.sequence = uint32_t(be(m.subspan(12, 4)));
    d.domain = uint32_t(be(m.subspan(16, 4)));
    off = 20;
  } else {
    throw std::runtime_error("bad version");
  }
  const bool ipfix = d.version == 10;
  while (off < m.size()) {
    if (off + 4 > m.size()) throw std::runtime_error("truncated set header");
    const auto id = uint16_t(be(m.subspan(off, 2)));
    const auto len = uint16_t(be(m.subspan(off + 2, 2)));
    if (len < 4 || off + len > m.size()) throw std::runtime_error("bad set length");
    d.set_lengths.push_back(len);
    auto body = m.subspan(off + 4, len - 4);
    std::size_t p = 0;
    if (id == (ipfix ? 2 : 0)) {
      while (p + 4 <= body.size()) {
        const auto tid = uint16_t(be(body.subspan(p, 2)));
        const auto n = uint16_t(be(body.subspan(p + 2, 2)));
        p += 4;
        std::vector<Field> fields;
        for (uint16_t i = 0; i < n; ++i, p += 4)
          fields.push_back({uint16_t(be(body.subspan(p, 2))), uint16_t(be(body.subspan(p + 2, 2)))});
        d.templates[tid] = fields;
        known[tid] = fields;
        ++d.records_in_header_count;
      }
    } else if (id == (ipfix ? 3 : 1)) {
      const auto tid = uint16_t(be(body.subspan(0, 2)));
      std::vector<Field> fields;
      if (ipfix) {
        const auto n = uint16_t(be(body.subspan(2, 2)));
        p = 6;  // template id, field count, scope field count
        for (uint16_t i = 0; i < n; ++i, p += 4)
          fields.push_back({uint16_t(be(body.subspan(p, 2))), uint16_t(be(body.subspan(p + 2, 2)))});
      } else {
        const auto scope_bytes = uint16_t(be(body.subspan(2, 2)));
        const auto option_bytes = uint16_t(be(body.subspan(4, 2)));
        p = 6;
        for (uint16_t i = 0; i < (scope_bytes + option_bytes) / 4; ++i, p += 4)
          fields.push_back({uint16_t(be(body.subspan(p, 2))), uint16_t(be(body.subspan(p + 2, 2)))});
      }
      d.option_templates[tid] = fields;
      known[tid] = fields;
      ++d.records_in_header_count;
    } else if (id >= 256) {
      const auto it = known.find(id);
      if (it == known.end()) throw std::runtime_error("data set before its template");
      std::size_t rec = 0;
      for (const Field& f : it->second) rec += f.length;
      while (p + rec <= body.size()) {
        std::map<uint16_t, std::vector<uint8_t>> r;
        for (const Field& f : it->second) {
          r[f.id].assign(body.begin() + std::ptrdiff_t(p), body.begin() + std::ptrdiff_t(p + f.length));
          p += f.length;
        }
        d.records.emplace_back(id, std::move(r));
        ++d.records_in_header_count;
      }
      // What is left is padding, shorter than a record and zero.
      for (; p < body.size(); ++p)
        if (body[p] != 0) throw std::runtime_error("non-zero padding");
    } else {
      throw std::runtime_error("unknown set id");
    }
    off += len;
  }
  return d;
}

std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t dd) {
  return {a, b, c, dd};
}
std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> out{};
  inet_pton(AF_INET6, text, out.data());
  return out;
}

FlowRecord tcp_v4() {
  FlowRecord r;
  r.src = v4(198, 18, 1, 2);
  r.dst = v4(198, 18, 2, 2);
  r.sport = 40000;
  r.dport = 5201;
  r.proto = 6;
  r.tcp_flags = 0x1b;
  r.ingress_ifindex = 7;
  r.egress_ifindex = 9;
  r.packets = 1000;
  r.bytes = 1'500'000;
  r.first_ms = 1'765'000'000'123;
  r.last_ms = 1'765'000'004'456;
  r.end_reason = EndReason::kEndOfFlow;
  return r;
}

constexpr uint64_t kBoot = 1'765'000'000'000;
constexpr uint64_t kNow = 1'765'000'010'000;

TEST(FlowExportEncoder, IpfixTemplatesThenARecordFieldByField) {
  Encoder enc(Format::kIpfix, 42, 1, kBoot);
  const FlowRecord r = tcp_v4();
  const auto msgs = enc.encode(std::span(&r, 1), kNow, /*templates=*/true);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].records, 1u);
  std::map<uint16_t, std::vector<Field>> known;
  const Decoded d = decode(msgs[0].bytes, known);
  EXPECT_EQ(d.version, 10);
  EXPECT_EQ(d.domain, 42u);
  EXPECT_EQ(d.sequence, 0u);
  EXPECT_EQ(d.export_secs, kNow / 1000);
  EXPECT_EQ(d.templates.size(), 4u);
  EXPECT_TRUE(d.option_templates.empty()) << "sampling 1 announces nothing";
  ASSERT_EQ(d.records.size(), 1u);
  const auto& [tid, f] = d.records[0];
  EXPECT_EQ(tid, kTemplateV4);
  EXPECT_EQ(f.at(8), (std::vector<uint8_t>{198, 18, 1, 2}));
  EXPECT_EQ(f.at(12), (std::vector<uint8_t>{198, 18, 2, 2}));
  EXPECT_EQ(be(f.at(7)), 40000u);
  EXPECT_EQ(be(f.at(11)), 5201u);
  EXPECT_EQ(be(f.at(4)), 6u);
  EXPECT_EQ(f.at(6).size(), 2u);  // tcpControlBits is unsigned16 in IPFIX
  EXPECT_EQ(be(f.at(6)), 0x1bu);
  EXPECT_EQ(be(f.at(10)), 7u);
  EXPECT_EQ(be(f.at(14)), 9u);
  EXPECT_EQ(be(f.at(2)), 1000u);
  EXPECT_EQ(be(f.at(1)), 1'500'000u);
  EXPECT_EQ(be(f.at(152)), r.first_ms);
  EXPECT_EQ(be(f.at(153)), r.last_ms);
  EXPECT_EQ(be(f.at(136)), 3u);
  EXPECT_EQ(be(f.at(32)), 0u);
  EXPECT_FALSE(f.contains(225));
}

TEST(FlowExportEncoder, IcmpTypeAndCodeGoInTheirOwnElementNotThePorts) {
  for (Format fmt : {Format::kIpfix, Format::kNetflow9}) {
    Encoder enc(fmt, 1, 1, kBoot);
    FlowRecord echo = tcp_v4();
    echo.proto = 1;
    echo.sport = 0;
    echo.dport = 8 << 8;  // echo request
    FlowRecord unreach6 = echo;
    unreach6.ipv6 = true;
    unreach6.proto = 58;
    unreach6.dport = 1 << 8 | 4;  // destination unreachable, port unreachable
    const std::vector<FlowRecord> records{echo, unreach6};
    std::map<uint16_t, std::vector<Field>> known;
    const Decoded d = decode(enc.encode(records, kNow, true).at(0).bytes, known);
    ASSERT_EQ(d.records.size(), 2u);
    EXPECT_EQ(be(d.records[0].second.at(32)), 0x0800u);
    EXPECT_EQ(be(d.records[0].second.at(11)), 0u);
    const uint16_t v6_ie = fmt == Format::kIpfix ? 139 : 32;
    EXPECT_EQ(be(d.records[1].second.at(v6_ie)), 0x0104u);
  }
}

TEST(FlowExportEncoder, IpfixSequenceCountsDataRecordsAndMessagesStayBounded) {
  Encoder enc(Format::kIpfix, 1, 1, kBoot, 600);
  std::vector<FlowRecord> records(40, tcp_v4());
  const auto msgs = enc.encode(records, kNow, true);
  ASSERT_GT(msgs.size(), 2u);
  std::map<uint16_t, std::vector<Field>> known;
  uint32_t expected_seq = 0, total = 0;
  for (const Message& m : msgs) {
    EXPECT_LE(m.bytes.size(), 600u);
    const Decoded d = decode(m.bytes, known);
    EXPECT_EQ(d.sequence, expected_seq);
    EXPECT_EQ(d.records.size(), m.records);
    expected_seq += m.records;
    total += m.records;
  }
  EXPECT_EQ(total, 40u);
  EXPECT_EQ(enc.sequence(), 40u);
  // The next call continues the stream.
  const auto more = enc.encode(std::span(records).first(1), kNow, false);
  EXPECT_EQ(decode(more[0].bytes, known).sequence, 40u);
}

TEST(FlowExportEncoder, Netflow9CountsPacketsPadsFlowSetsAndUsesSysUptime) {
  Encoder enc(Format::kNetflow9, 7, 1, kBoot, 600);
  std::vector<FlowRecord> records(30, tcp_v4());
  const auto msgs = enc.encode(records, kNow, true);
  ASSERT_GT(msgs.size(), 1u);
  std::map<uint16_t, std::vector<Field>> known;
  uint32_t seq = 0, data = 0;
  for (const Message& m : msgs) {
    const Decoded d = decode(m.bytes, known);
    EXPECT_EQ(d.version, 9);
    EXPECT_EQ(d.sequence, seq++) << "NetFlow v9 counts export packets";
    EXPECT_EQ(d.domain, 7u);
    EXPECT_EQ(d.sys_uptime, kNow - kBoot);
    EXPECT_EQ(d.length_or_count, d.records_in_header_count) << "count: templates and records";
    for (std::size_t len : d.set_lengths) EXPECT_EQ(len % 4, 0u);
    data += uint32_t(d.records.size());
  }
  EXPECT_EQ(data, 30u);
  const Decoded first = decode(msgs[0].bytes, known);
  const auto& f = first.records.at(0).second;
  EXPECT_EQ(f.at(6).size(), 1u);
  EXPECT_EQ(be(f.at(22)), 123u);   // FIRST_SWITCHED: ms since sysUptime zero
  EXPECT_EQ(be(f.at(21)), 4456u);  // LAST_SWITCHED
  EXPECT_FALSE(f.contains(152));
}

TEST(FlowExportEncoder, NatRecordsCarryPostTranslationFieldsInBothFamilies) {
  for (Format fmt : {Format::kIpfix, Format::kNetflow9}) {
    Encoder enc(fmt, 1, 1, kBoot);
    FlowRecord a = tcp_v4();
    a.nat = true;
    a.dst = v4(198, 18, 100, 1);  // the VIP the client addressed
    a.dport = 80;
    a.post_src = a.src;
    a.post_dst = v4(198, 18, 10, 2);  // the backend
    a.post_sport = a.sport;
    a.post_dport = 8080;
    FlowRecord b;
    b.ipv6 = true;
    b.src = v6("2001:2:0:1::2");
    b.dst = v6("2001:2:0:2::2");
    b.proto = 17;
    b.nat = true;
    b.post_src = v6("2001:2:0:100::1");
    b.post_dst = b.dst;
    b.post_sport = 53;
    b.packets = 1;
    const std::vector<FlowRecord> records{a, b};
    std::map<uint16_t, std::vector<Field>> known;
    const Decoded d = decode(enc.encode(records, kNow, true).at(0).bytes, known);
    ASSERT_EQ(d.records.size(), 2u);
    EXPECT_EQ(d.records[0].first, kTemplateV4Nat);
    const auto& fa = d.records[0].second;
    EXPECT_EQ(fa.at(12), (std::vector<uint8_t>{198, 18, 100, 1}));
    EXPECT_EQ(fa.at(226), (std::vector<uint8_t>{198, 18, 10, 2}));
    EXPECT_EQ(fa.at(225), (std::vector<uint8_t>{198, 18, 1, 2}));
    EXPECT_EQ(be(fa.at(228)), 8080u);
    EXPECT_EQ(be(fa.at(227)), 40000u);
    EXPECT_EQ(d.records[1].first, kTemplateV6Nat);
    const auto& fb = d.records[1].second;
    EXPECT_EQ(fb.at(27).size(), 16u);
    EXPECT_EQ(std::vector<uint8_t>(b.post_src.begin(), b.post_src.end()), fb.at(281));
    EXPECT_EQ(fb.at(282).size(), 16u);
    EXPECT_EQ(be(fb.at(227)), 53u);
  }
}

TEST(FlowExportEncoder, SamplingIsAnnouncedInAnOptionsRecord) {
  for (Format fmt : {Format::kIpfix, Format::kNetflow9}) {
    Encoder enc(fmt, 5, 100, kBoot);
    std::map<uint16_t, std::vector<Field>> known;
    const auto msgs = enc.encode({}, kNow, true);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].records, 0u);
    const Decoded d = decode(msgs[0].bytes, known);
    ASSERT_TRUE(d.option_templates.contains(kTemplateSampling));
    const auto& fields = d.option_templates.at(kTemplateSampling);
    ASSERT_EQ(fields.size(), 2u);
    EXPECT_EQ(fields[1].id, 34);  // samplingInterval
    ASSERT_EQ(d.records.size(), 1u);
    EXPECT_EQ(be(d.records[0].second.at(34)), 100u);
    // Options records are not data records: IPFIX's sequence stays.
    EXPECT_EQ(enc.sequence(), fmt == Format::kIpfix ? 0u : 1u);
  }
}

TEST(FlowExportEncoder, WithoutTemplatesOnlyDataSets) {
  Encoder enc(Format::kIpfix, 1, 1, kBoot);
  const FlowRecord r = tcp_v4();
  std::map<uint16_t, std::vector<Field>> known{{kTemplateV4, template_fields(Format::kIpfix, kTemplateV4)}};
  const Decoded d = decode(enc.encode(std::span(&r, 1), kNow, false).at(0).bytes, known);
  EXPECT_TRUE(d.templates.empty());
  EXPECT_EQ(d.records.size(), 1u);
}

}  // namespace
}  // namespace xdpgw::flow_export
