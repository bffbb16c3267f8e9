// The dispatcher and the protocol handlers, through BPF_PROG_TEST_RUN on the
// real programs: every protocol reaches its handler, every malformed or
// truncated frame ends in its own drop reason and is never redirected.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iostream>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>
#include <system_error>

#include "datapath_fixture.hpp"
#include "harness/xdp.hpp"

namespace xdpgw::test {
namespace {

const MacAddr kGwMac = mac("02:00:00:00:01:01");
const MacAddr kHostMac = mac("02:00:00:00:01:02");
const Ipv4Fields kV4{.src = ipv4("198.18.1.2"), .dst = ipv4("198.18.2.2")};
const Ipv6Fields kV6{.src = ipv6("2001:2:0:1::2"), .dst = ipv6("2001:2:0:2::2")};

FrameBuilder eth() { return FrameBuilder().eth(kGwMac, kHostMac); }

struct ProtocolCase {
  std::string name;
  std::function<std::vector<uint8_t>()> frame;
  std::string handler;
};
// Test names and failure messages show the case name, not its bytes.
void PrintTo(const ProtocolCase& c, std::ostream* os) { *os << c.name; }

class DispatchProtocol : public DatapathTest,
                         public ::testing::WithParamInterface<ProtocolCase> {};

TEST_P(DispatchProtocol, ReachesItsHandler) {
  const auto& c = GetParam();
  // No route source: the handler hands every packet to the kernel, counted.
  auto out = run(c.frame());
  EXPECT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_EQ(out.delta.handlers, Reasons({{c.handler, 1}}));
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_routing_off", 1}}));
}

INSTANTIATE_TEST_SUITE_P(
    Protocols, DispatchProtocol,
    ::testing::Values(
        ProtocolCase{"tcp4", [] { return eth().ipv4(kV4).tcp({.sport = 1000, .dport = 80}).payload(20).build(); }, "tcp"},
        ProtocolCase{"udp4", [] { return eth().ipv4(kV4).udp({.sport = 1000, .dport = 53}).payload(20).build(); }, "udp"},
        ProtocolCase{"icmp4", [] { return eth().ipv4(kV4).icmp_echo(1, 1).payload(8).build(); }, "icmp"},
        ProtocolCase{"gre4", [] { auto f = kV4; f.protocol = 47; return eth().ipv4(f).payload(24).build(); }, "other"},
        ProtocolCase{"tcp6", [] { return eth().ipv6(kV6).tcp({.sport = 1000, .dport = 80}).build(); }, "tcp"},
        ProtocolCase{"udp6", [] { return eth().ipv6(kV6).udp({.sport = 1000, .dport = 53}).payload(3).build(); }, "udp"},
        ProtocolCase{"icmp6", [] { return eth().ipv6(kV6).icmpv6_echo(1, 1).build(); }, "icmpv6"},
        ProtocolCase{"icmp4_in_ipv6", [] { return eth().ipv6(kV6).icmp_echo(1, 1).build(); }, "other"},
        ProtocolCase{"tcp6_after_ext_headers", [] { return eth().ipv6(kV6).hop_by_hop().dest_opts(1).routing().tcp({.sport = 1, .dport = 2}).build(); }, "tcp"},
        ProtocolCase{"ipv4_first_fragment", [] { auto f = kV4; f.more_fragments = true; return eth().ipv4(f).udp({.sport = 1, .dport = 2}).payload(16).build(); }, "other"},
        ProtocolCase{"ipv4_later_fragment", [] { auto f = kV4; f.frag_offset = 185; f.protocol = 17; return eth().ipv4(f).payload(16).build(); }, "other"},
        ProtocolCase{"ipv6_fragment", [] { return eth().ipv6(kV6).fragment(0, true).udp({.sport = 1, .dport = 2}).build(); }, "other"},
        ProtocolCase{"ipv6_no_next_header", [] { auto f = kV6; f.next_header = 59; return eth().ipv6(f).build(); }, "other"},
        ProtocolCase{"vlan_tcp4", [] { return eth().vlan(100).ipv4(kV4).tcp({.sport = 1, .dport = 2}).build(); }, "tcp"},
        ProtocolCase{"qinq_udp6", [] { return eth().qinq(10).vlan(20).ipv6(kV6).udp({.sport = 1, .dport = 2}).build(); }, "udp"},
        ProtocolCase{"tcp4_ip_options", [] { auto f = kV4; f.options = {1, 1, 1, 0}; return eth().ipv4(f).tcp({.sport = 1, .dport = 2}).build(); }, "tcp"},
        ProtocolCase{"tcp4_eth_padding", [] { return eth().ipv4(kV4).tcp({.sport = 1, .dport = 2}).eth_trailer(6).build(); }, "tcp"}),
    [](const auto& info) { return info.param.name; });

TEST_F(DatapathTest, NonIpGoesToTheKernelWithoutAHandler) {
  auto arp = eth().ethertype(ethertype::kArp).payload(28).build();
  auto out = run(arp);
  EXPECT_EQ(action_name(out.action), "XDP_PASS");
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_not_ip", 1}}));
  EXPECT_TRUE(out.delta.handlers.empty());
  EXPECT_EQ(out.data, arp);
}

TEST_F(DatapathTest, KernelRefusesFramesShorterThanEthernet) {
  // DROP_ETH_TRUNCATED cannot be reached: the kernel never hands XDP fewer
  // than 14 bytes (BPF_PROG_TEST_RUN refuses them, drivers drop runts). The
  // check stays in the dispatcher because the verifier requires it.
  std::vector<uint8_t> runt(13, 0);
  try {
    prog_test_run(dp_->dispatcher_fd(), runt);
    FAIL() << "a 13-byte frame was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EINVAL);
  }
}

// ---- truncation at every cut point ---------------------------------------

struct CutCase {
  std::string name;
  std::function<std::vector<uint8_t>()> frame;
  size_t l2_len;        // Ethernet + VLAN tags
  std::string l3_reason;  // what a cut inside L3/L4/payload gives
};
// Test names and failure messages show the case name, not its bytes.
void PrintTo(const CutCase& c, std::ostream* os) { *os << c.name; }

class TruncatedFrame : public DatapathTest,
                       public ::testing::WithParamInterface<CutCase> {};

TEST_P(TruncatedFrame, EveryCutPointIsDroppedWithItsReason) {
  const auto& c = GetParam();
  const auto full = c.frame();
  set_route_source(XDPGW_ROUTE_FIB);
  for (size_t cut = 14; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut) + " of " + std::to_string(full.size()));
    auto out = run(truncate(full, cut));
    std::string want = cut < c.l2_len ? "drop_vlan_truncated" : c.l3_reason;
    EXPECT_EQ(action_name(out.action), "XDP_DROP");
    EXPECT_EQ(out.delta.reasons, Reasons({{want, 1}}));
    EXPECT_TRUE(out.delta.handlers.empty()) << "a cut frame reached a handler";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Frames, TruncatedFrame,
    ::testing::Values(
        CutCase{"tcp4", [] { return eth().ipv4(kV4).tcp({.sport = 1, .dport = 2}).payload(10).build(); }, 14, "drop_ipv4_truncated"},
        CutCase{"tcp4_options", [] { auto f = kV4; f.options = {7, 7, 4, 0, 0, 0, 0, 0}; return eth().ipv4(f).tcp({.sport = 1, .dport = 2, .options = {2, 4, 5, 180}}).build(); }, 14, "drop_ipv4_truncated"},
        CutCase{"udp4_qinq", [] { return eth().qinq(1).vlan(2).ipv4(kV4).udp({.sport = 1, .dport = 2}).payload(5).build(); }, 22, "drop_ipv4_truncated"},
        CutCase{"icmp6_ext", [] { return eth().vlan(7).ipv6(kV6).hop_by_hop().fragment(0, false).icmpv6_echo(1, 2).build(); }, 18, "drop_ipv6_truncated"},
        CutCase{"tcp6", [] { return eth().ipv6(kV6).tcp({.sport = 1, .dport = 2}).payload(9).build(); }, 14, "drop_ipv6_truncated"}),
    [](const auto& info) { return info.param.name; });

// ---- malformed headers ------------------------------------------------------

struct MalformedCase {
  std::string name;
  std::function<std::vector<uint8_t>()> frame;
  std::string reason;
};
// Test names and failure messages show the case name, not its bytes.
void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class MalformedFrame : public DatapathTest,
                       public ::testing::WithParamInterface<MalformedCase> {};

TEST_P(MalformedFrame, IsDroppedWithItsReason) {
  const auto& c = GetParam();
  set_route_source(XDPGW_ROUTE_FIB);
  auto out = run(c.frame());
  EXPECT_EQ(action_name(out.action), "XDP_DROP");
  auto reasons = out.delta.reasons;
  EXPECT_EQ(reasons, Reasons({{c.reason, 1}}));
}

std::vector<uint8_t> with_byte(std::vector<uint8_t> f, size_t at, uint8_t v) {
  f.at(at) = v;
  return f;
}

INSTANTIATE_TEST_SUITE_P(
    Headers, MalformedFrame,
    ::testing::Values(
        MalformedCase{"vlan_three_tags", [] { return eth().qinq(1).vlan(2).vlan(3).ipv4(kV4).udp({}).build(); }, "drop_vlan_too_deep"},
        MalformedCase{"ipv4_version_6", [] { return with_byte(eth().ipv4(kV4).udp({}).build(), 14, 0x65); }, "drop_ipv4_bad_version"},
        MalformedCase{"ipv4_ihl_4", [] { return eth().ipv4(kV4).ipv4_ihl(4).udp({}).build(); }, "drop_ipv4_bad_ihl"},
        MalformedCase{"ipv4_ihl_past_end", [] { return eth().ipv4(kV4).ipv4_ihl(15).build(); }, "drop_ipv4_truncated"},
        MalformedCase{"ipv4_totlen_below_header", [] { return eth().ipv4(kV4).ipv4_total_length(19).udp({}).build(); }, "drop_ipv4_bad_totlen"},
        MalformedCase{"ipv4_bad_checksum", [] { return eth().ipv4(kV4).udp({}).bad_ipv4_checksum().build(); }, "drop_ipv4_bad_checksum"},
        MalformedCase{"ipv4_totlen_past_end", [] { return eth().ipv4(kV4).ipv4_total_length(1500).udp({}).build(); }, "drop_ipv4_truncated"},
        MalformedCase{"ipv6_version_4", [] { return with_byte(eth().ipv6(kV6).udp({}).build(), 14, 0x40); }, "drop_ipv6_bad_version"},
        MalformedCase{"ipv6_payload_past_end", [] { return eth().ipv6(kV6).ipv6_payload_length(100).udp({}).build(); }, "drop_ipv6_truncated"},
        MalformedCase{"ipv6_ext_past_payload", [] { return eth().ipv6(kV6).hop_by_hop(1).ipv6_payload_length(8).eth_trailer(16).build(); }, "drop_ipv6_bad_payload_len"},
        MalformedCase{"ipv6_ext_header_missing", [] { auto f = kV6; f.next_header = 0; return eth().ipv6(f).build(); }, "drop_ipv6_ext_truncated"},
        MalformedCase{"ipv6_ext_chain_too_long", [] { return eth().ipv6(kV6).dest_opts().dest_opts().dest_opts().dest_opts().dest_opts().dest_opts().dest_opts().udp({}).build(); }, "drop_ipv6_ext_too_deep"},
        MalformedCase{"tcp4_short", [] { auto f = kV4; f.protocol = 6; return eth().ipv4(f).payload(19).build(); }, "drop_tcp_truncated"},
        MalformedCase{"tcp4_doff_4", [] { return eth().ipv4(kV4).tcp({}).tcp_doff(4).build(); }, "drop_tcp_bad_doff"},
        MalformedCase{"tcp6_doff_past_payload", [] { return eth().ipv6(kV6).tcp({}).tcp_doff(15).payload(8).build(); }, "drop_tcp_bad_doff"},
        MalformedCase{"tcp4_short_with_padding", [] { auto f = kV4; f.protocol = 6; return eth().ipv4(f).payload(10).eth_trailer(20).build(); }, "drop_tcp_truncated"},
        MalformedCase{"udp4_short", [] { auto f = kV4; f.protocol = 17; return eth().ipv4(f).payload(7).build(); }, "drop_udp_truncated"},
        MalformedCase{"udp4_len_below_header", [] { return eth().ipv4(kV4).udp({}).udp_length(7).payload(4).build(); }, "drop_udp_bad_len"},
        MalformedCase{"udp6_len_past_payload", [] { return eth().ipv6(kV6).udp({}).udp_length(40).payload(4).build(); }, "drop_udp_bad_len"},
        MalformedCase{"icmp4_short", [] { auto f = kV4; f.protocol = 1; return eth().ipv4(f).payload(7).build(); }, "drop_icmp_truncated"},
        MalformedCase{"icmp6_short", [] { auto f = kV6; f.next_header = 58; return eth().ipv6(f).payload(3).build(); }, "drop_icmpv6_truncated"}),
    [](const auto& info) { return info.param.name; });

// ---- tail-call fallbacks ----------------------------------------------------

TEST_F(DatapathTest, MissedTailCallIsCountedAndFollowsTheSetting) {
  auto frame = eth().ipv4(kV4).tcp({.sport = 1, .dport = 2}).build();
  dp_->clear_handler(XDPGW_SLOT_TCP);

  auto dropped = run(frame);
  EXPECT_EQ(action_name(dropped.action), "XDP_DROP");
  EXPECT_EQ(dropped.delta.reasons, Reasons({{"missed_tail_call", 1}}));
  EXPECT_TRUE(dropped.delta.handlers.empty());

  auto s = dp_->read_settings();
  s.missed_tail_call_action = XDP_PASS;
  dp_->write_settings(s);
  auto passed = run(frame);
  EXPECT_EQ(action_name(passed.action), "XDP_PASS");
  EXPECT_EQ(passed.delta.reasons, Reasons({{"missed_tail_call", 1}}));

  // Other slots are unaffected, and putting the handler back restores it.
  EXPECT_EQ(run(eth().ipv4(kV4).udp({}).build()).delta.handlers, Reasons({{"udp", 1}}));
  dp_->install_handler(XDPGW_SLOT_TCP);
  EXPECT_EQ(run(frame).delta.handlers, Reasons({{"tcp", 1}}));
}

// A handler entered without the dispatcher's hand-over (here: run on its
// own) parses the packet itself, and sends a packet of another protocol on to
// that protocol's handler. During an upgrade this is what keeps a handler from
// reading another packet's parse result.
TEST_F(DatapathTest, HandlerEnteredWithoutHandOverParsesThePacketItself) {
  auto frame = eth().ipv4(kV4).tcp({.sport = 1, .dport = 2}).build();
  for (int slot = 0; slot < XDPGW_SLOT_COUNT; ++slot) {
    SCOPED_TRACE(std::string(abi::kSlotNames[slot]));
    auto out = run_prog(dp_->handler_fd(xdpgw_slot(slot)), frame);
    EXPECT_EQ(action_name(out.action), "XDP_PASS");
    EXPECT_EQ(out.delta.handlers, Reasons({{"tcp", 1}}));
    EXPECT_EQ(out.delta.reasons, Reasons({{"pass_routing_off", 1}}));
  }
  auto truncated = run_prog(dp_->handler_fd(XDPGW_SLOT_UDP),
                            eth().ipv4(kV4).ipv4_total_length(1500).udp({}).build());
  EXPECT_EQ(truncated.delta.reasons, Reasons({{"drop_ipv4_truncated", 1}}));
  EXPECT_TRUE(truncated.delta.handlers.empty());
}

// A hand-over nobody took (the tail call missed) must not be read as the
// parse result of the next packet a handler sees, even one of the same
// length from the same port: here the TCP handler, given a UDP frame after
// the dispatcher's hand-over of a TCP one, must send it to the UDP handler.
TEST_F(DatapathTest, UntakenHandOverIsNeverReadForAnotherPacket) {
  auto tcp = eth().ipv4(kV4).tcp({.sport = 1, .dport = 2}).payload(8).build();
  auto udp = eth().ipv4(kV4).udp({.sport = 1, .dport = 2}).payload(20).build();
  ASSERT_EQ(tcp.size(), udp.size());
  dp_->clear_handler(XDPGW_SLOT_TCP);
  EXPECT_EQ(run(tcp).delta.reasons, Reasons({{"missed_tail_call", 1}}));
  dp_->install_handler(XDPGW_SLOT_TCP);
  auto out = run_prog(dp_->handler_fd(XDPGW_SLOT_TCP), udp);
  EXPECT_EQ(out.delta.handlers, Reasons({{"udp", 1}}));
  EXPECT_EQ(out.delta.reasons, Reasons({{"pass_routing_off", 1}}));
}

TEST_F(DatapathTest, CountsBytesAsWellAsPackets) {
  auto frame = eth().ipv4(kV4).udp({}).payload(100).build();
  auto before = read_verdicts(dp_->verdict_stats_fd())[XDPGW_R_PASS_ROUTING_OFF];
  run(frame);
  run(frame);
  auto after = read_verdicts(dp_->verdict_stats_fd())[XDPGW_R_PASS_ROUTING_OFF];
  EXPECT_EQ(after.packets - before.packets, 2u);
  EXPECT_EQ(after.bytes - before.bytes, 2 * frame.size());
}

// How much of its 1M-instruction budget the verifier spends on each program
// (bpf_prog_info.verified_insns). Not a speed bound: a count that only code
// changes move. Past a quarter of the budget a kernel whose verifier prunes
// less (older or newer) may refuse the object, and every load (daemon start,
// each test) pays for it: stages.h explains how the handlers stay small.
TEST_F(DatapathTest, EveryProgramStaysWithinAQuarterOfTheVerifierBudget) {
  constexpr uint32_t kBudget = 1'000'000 / 4;
  auto verified = [](int fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len)) throw std::system_error(errno, std::generic_category(), "prog info");
    return std::pair{std::string(info.name), info.verified_insns};
  };
  std::vector<std::pair<std::string, uint32_t>> progs{verified(dp_->dispatcher_fd()), verified(dp_->cpu_stage_fd(0)),
                                                     verified(dp_->cpu_stage_fd(1))};
  std::vector<uint32_t> slots;
  for (uint32_t slot = 0; slot < XDPGW_SLOT_COUNT; ++slot) slots.push_back(slot);
  slots.push_back(XDPGW_STAGE_SLOT_SYNPROXY);
  for (uint32_t slot : slots) {
    uint32_t id = 0;
    ASSERT_EQ(bpf_map_lookup_elem(dp_->handlers_fd(), &slot, &id), 0) << "handler slot " << slot;
    UniqueFd fd(bpf_prog_get_fd_by_id(id));
    ASSERT_TRUE(fd) << "handler id " << id;
    progs.push_back(verified(fd.get()));
  }
  ASSERT_EQ(progs.size(), 4u + XDPGW_SLOT_COUNT);
  for (const auto& [name, insns] : progs) {
    EXPECT_GT(insns, 0u) << name << ": kernel without verified_insns?";
    EXPECT_LT(insns, kBudget) << name;
    // For the table in docs/architecture.md.
    std::cout << fmt::format("{}: {} instructions verified\n", name, insns);
  }
}


// ---- optional kernel features (XDPGW_FEAT_*) ---------------------------------

// The kernel functions each program still calls after verification (its
// xlated code, subprograms included), by name. A helper call's imm is then
// the function's address relative to __bpf_call_base; /proc/kallsyms names
// it (as root, kptr_restrict permitting).
std::set<std::string> kernel_functions_called(int prog_fd) {
  static const std::map<int64_t, std::string> by_offset = [] {
    std::map<std::string, uint64_t> addr;
    std::ifstream syms("/proc/kallsyms");
    std::string line;
    while (std::getline(syms, line)) {
      std::istringstream in(line);
      std::string hex, type, name;
      if (in >> hex >> type >> name && (type == "T" || type == "t"))
        addr.emplace(name, std::stoull(hex, nullptr, 16));
    }
    std::map<int64_t, std::string> out;
    const uint64_t base = addr["__bpf_call_base"];
    for (const auto& [name, a] : addr)
      if (a != 0 && base != 0) out.emplace(static_cast<int64_t>(a - base), name);
    return out;
  }();
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
    throw std::system_error(errno, std::generic_category(), "prog info");
  std::vector<bpf_insn> insns(info.xlated_prog_len / sizeof(bpf_insn));
  info = {};
  info.xlated_prog_len = static_cast<uint32_t>(insns.size() * sizeof(bpf_insn));
  info.xlated_prog_insns = reinterpret_cast<uintptr_t>(insns.data());
  len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
    throw std::system_error(errno, std::generic_category(), "xlated insns");
  std::set<std::string> called;
  for (const auto& insn : insns)
    if (insn.code == (BPF_JMP | BPF_CALL) && insn.src_reg == 0)
      if (auto it = by_offset.find(insn.imm); it != by_offset.end()) called.insert(it->second);
  return called;
}

// A kernel without an optional helper must still load the datapath: with
// the feature's bit cleared, the verifier never reaches the call, so the
// loaded programs do not contain it. (With the bit set they do: the check
// can fail.) bpf_loop is left out: the kernel may inline it.
TEST(DatapathFeatures, ClearedKnobsKeepTheirHelpersOutOfTheLoadedPrograms) {
  auto calls_of = [](const Datapath& dp) {
    std::set<std::string> all = kernel_functions_called(dp.dispatcher_fd());
    for (int slot = 0; slot < XDPGW_SLOT_COUNT; ++slot)
      for (const auto& f : kernel_functions_called(dp.handler_fd(xdpgw_slot(slot)))) all.insert(f);
    return all;
  };
  // The XDP implementations of bpf_perf_event_output, bpf_ringbuf_* and
  // bpf_fib_lookup.
  const std::set<std::string> optional{"bpf_xdp_event_output", "bpf_ringbuf_reserve",
                                       "bpf_ringbuf_submit", "bpf_xdp_fib_lookup"};
  Datapath full(LoadOptions{});
  const auto with = calls_of(full);
  for (const auto& f : optional) EXPECT_TRUE(with.contains(f)) << f << " with every feature";

  Datapath bare(LoadOptions{.features = 0});
  const auto without = calls_of(bare);
  for (const auto& f : optional) EXPECT_FALSE(without.contains(f)) << f << " without its feature";
  // Turning features off only takes calls away (steering's CPUMAP redirect
  // among them), and leaves the router's.
  EXPECT_TRUE(std::includes(with.begin(), with.end(), without.begin(), without.end()));
  EXPECT_TRUE(without.contains("dev_hash_map_redirect")) << "the egress DEVMAP redirect";
  EXPECT_LT(bare.cpu_stage_fd(0), 0) << "CPUMAP stages loaded without steering";
}

// An upgrade meets the maps an earlier version pinned. An ARRAY_OF_MAPS whose
// inner tables had another value size (nexthops grew by the egress MTU)
// cannot hold this build's tables, and programs verified against it would
// read past its values: it is replaced, not adopted, and the first
// generation installs into the new one. A map this version no longer has
// (cfg_ports) leaves no pin behind.
TEST(DatapathUpgrade, EarlierLayoutsAreReplacedAndRetiredPinsRemoved) {
  PinDir pins("upg");
  std::filesystem::create_directories(pins.path());
  auto earlier = [](uint32_t value_size) {
    UniqueFd inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "old_nh", 4, value_size, XDPGW_MAX_NEXTHOPS, nullptr));
    EXPECT_TRUE(inner) << std::system_category().message(errno);
    LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner.get()));
    UniqueFd outer(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "old_outer", 4, 4,
                                  XDPGW_CONFIG_GENERATIONS, &opts));
    EXPECT_TRUE(outer) << std::system_category().message(errno);
    const uint32_t gen = 0;
    const int fd = inner.get();
    EXPECT_EQ(bpf_map_update_elem(outer.get(), &gen, &fd, BPF_ANY), 0);
    return outer;
  };
  const UniqueFd old_nexthops = earlier(sizeof(xdpgw_nexthop) - 4);
  ASSERT_EQ(bpf_obj_pin(old_nexthops.get(), pins.pin_path("cfg_nexthops").c_str()), 0);
  const UniqueFd old_ports(bpf_map_create(BPF_MAP_TYPE_HASH, "old_ports", 4, 16, 8, nullptr));
  ASSERT_EQ(bpf_obj_pin(old_ports.get(), pins.pin_path("cfg_ports").c_str()), 0);

  Datapath dp(LoadOptions{.pin_dir = pins.path()});
  auto staged = dp.stage_generation();
  const uint32_t id = 0;
  xdpgw_nexthop nh{};
  nh.mtu = 1500;
  EXPECT_EQ(bpf_map_update_elem(staged.tables.nexthops.get(), &id, &nh, BPF_ANY), 0)
      << "the new generation's nexthops table holds this build's values";

  bpf_map_info old_info{}, pinned_info{};
  uint32_t len = sizeof(old_info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(old_nexthops.get(), &old_info, &len), 0);
  const UniqueFd pinned(bpf_obj_get(pins.pin_path("cfg_nexthops").c_str()));
  ASSERT_TRUE(pinned);
  len = sizeof(pinned_info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(pinned.get(), &pinned_info, &len), 0);
  EXPECT_NE(pinned_info.id, old_info.id) << "the earlier outer map was adopted";
  EXPECT_FALSE(std::filesystem::exists(pins.pin_path("cfg_ports")));
}

}  // namespace
}  // namespace xdpgw::test
