#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <numeric>
#include <string>
#include <system_error>
#include <vector>

#include <bpf/bpf.h>

#include "common/fd.hpp"
#include "harness/frame.hpp"
#include "harness/netns.hpp"
#include "harness/prog_run.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"
#include "insns.hpp"

namespace xdpgw::test {
namespace {

using namespace insn;

std::vector<uint8_t> sample_frame() {
  return FrameBuilder()
      .eth(mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"))
      .ipv4({.src = ipv4("198.18.0.1"), .dst = ipv4("198.18.1.1")})
      .udp({.sport = 1000, .dport = 2000})
      .payload(22)
      .build();
}

// Writes 0xab into the first frame byte and returns XDP_TX.
UniqueFd load_first_byte_writer() {
  const std::array<bpf_insn, 10> prog = {
      load(BPF_W, BPF_REG_2, BPF_REG_1, kData),
      load(BPF_W, BPF_REG_3, BPF_REG_1, kDataEnd),
      mov64_reg(BPF_REG_4, BPF_REG_2),
      add64_imm(BPF_REG_4, 1),
      jgt_reg(BPF_REG_4, BPF_REG_3, 3),  // frame shorter than 1 byte: aborted
      store_imm(BPF_B, BPF_REG_2, 0, 0xab),
      mov64_imm(BPF_REG_0, XDP_TX),
      exit(),
      mov64_imm(BPF_REG_0, XDP_ABORTED),
      exit(),
  };
  return load_xdp_insns(prog, "xgt_write1");
}

// Returns the first metadata byte, or 99 when there is no metadata.
UniqueFd load_meta_reader() {
  const std::array<bpf_insn, 9> prog = {
      load(BPF_W, BPF_REG_2, BPF_REG_1, kDataMeta),
      load(BPF_W, BPF_REG_3, BPF_REG_1, kData),
      mov64_reg(BPF_REG_4, BPF_REG_2),
      add64_imm(BPF_REG_4, 1),
      jgt_reg(BPF_REG_4, BPF_REG_3, 2),
      load(BPF_B, BPF_REG_0, BPF_REG_2, 0),
      exit(),
      mov64_imm(BPF_REG_0, 99),
      exit(),
  };
  return load_xdp_insns(prog, "xgt_meta1");
}

// Returns ctx->ingress_ifindex.
UniqueFd load_ifindex_reporter() {
  const std::array<bpf_insn, 2> prog = {
      load(BPF_W, BPF_REG_0, BPF_REG_1, kIngressIfindex),
      exit(),
  };
  return load_xdp_insns(prog, "xgt_ifindex");
}

// Grows the frame by 20 bytes at the front (like an IPv4 encap) and TXes it.
UniqueFd load_head_pusher() {
  const std::array<bpf_insn, 7> prog = {
      mov64_imm(BPF_REG_2, -20),
      call(BPF_FUNC_xdp_adjust_head),
      jne_imm(BPF_REG_0, 0, 2),
      mov64_imm(BPF_REG_0, XDP_TX),
      exit(),
      mov64_imm(BPF_REG_0, XDP_ABORTED),
      exit(),
  };
  return load_xdp_insns(prog, "xgt_push20");
}

TEST(ProgTestRun, ConstantProgramReturnsActionAndFrameUnchanged) {
  UniqueFd tx = load_constant_xdp_prog(XDP_TX);
  const std::vector<uint8_t> frame = sample_frame();
  const TestRunResult result = prog_test_run(tx.get(), frame);
  EXPECT_EQ(result.action, static_cast<uint32_t>(XDP_TX));
  EXPECT_EQ(result.data, frame);
  EXPECT_TRUE(result.meta.empty());

  UniqueFd drop = load_constant_xdp_prog(XDP_DROP);
  EXPECT_EQ(prog_test_run(drop.get(), frame).action, static_cast<uint32_t>(XDP_DROP));
}

TEST(ProgTestRun, ReturnsTheProgramsRewrite) {
  UniqueFd writer = load_first_byte_writer();
  const std::vector<uint8_t> frame = sample_frame();
  const TestRunResult result = prog_test_run(writer.get(), frame);
  EXPECT_EQ(result.action, static_cast<uint32_t>(XDP_TX));
  ASSERT_EQ(result.data.size(), frame.size());
  EXPECT_EQ(result.data[0], 0xab);
  EXPECT_TRUE(std::equal(frame.begin() + 1, frame.end(), result.data.begin() + 1));
}

TEST(ProgTestRun, OutputHasRoomForEncapsulation) {
  UniqueFd pusher = load_head_pusher();
  const std::vector<uint8_t> frame = sample_frame();
  const TestRunResult result = prog_test_run(pusher.get(), frame);
  EXPECT_EQ(result.action, static_cast<uint32_t>(XDP_TX));
  ASSERT_EQ(result.data.size(), frame.size() + 20);
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), result.data.begin() + 20));
}

TEST(ProgTestRun, MetadataIsPrependedAndReturned) {
  UniqueFd reader = load_meta_reader();
  const std::vector<uint8_t> frame = sample_frame();
  const std::vector<uint8_t> meta = {0x2a, 1, 2, 3, 4, 5, 6, 7};
  const TestRunResult result = prog_test_run(reader.get(), frame, {.meta = meta});
  EXPECT_EQ(result.action, 0x2au);  // the program saw the metadata at data_meta
  EXPECT_EQ(result.meta, meta);
  EXPECT_EQ(result.data, frame);

  EXPECT_EQ(prog_test_run(reader.get(), frame).action, 99u);  // and none without it
}

TEST(ProgTestRun, IngressIfindexReachesTheProgram) {
  Netns ns;
  Netns peer;
  VethPair veth(ns, peer);
  UniqueFd reporter = load_ifindex_reporter();
  // The kernel resolves the ifindex in the caller's namespace.
  NetnsGuard inside = ns.enter();
  const TestRunResult result =
      prog_test_run(reporter.get(), sample_frame(),
                    {.ingress_ifindex = static_cast<uint32_t>(veth.ifindex_a()), .rx_queue_index = 0});
  EXPECT_EQ(result.action, static_cast<uint32_t>(veth.ifindex_a()));
}

TEST(ProgTestRun, RepeatRunsTheProgram) {
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  const std::vector<uint8_t> frame = sample_frame();
  const TestRunResult result = prog_test_run(pass.get(), frame, {.repeat = 1000});
  EXPECT_EQ(result.action, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(result.data, frame);
  EXPECT_GT(result.duration_ns, 0u);  // the kernel reported its per-run average (no speed bound)
}

TEST(ProgTestRun, KernelRefusalThrowsSystemErrorWithErrno) {
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  const std::vector<uint8_t> frame = sample_frame();
  try {
    prog_test_run(pass.get(), truncate(frame, 13));
    FAIL() << "a 13-byte frame was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EINVAL);
    const std::string what = e.what();
    EXPECT_NE(what.find("13-byte frame"), std::string::npos) << what;
    EXPECT_NE(what.find("Invalid argument"), std::string::npos) << what;
  }
  // Metadata must be a multiple of 4 bytes.
  EXPECT_THROW(prog_test_run(pass.get(), frame, {.meta = {1, 2, 3}}), std::system_error);
  EXPECT_THROW(prog_test_run(-1, frame), std::system_error);
}

// ---- per-CPU maps ----

TEST(ReadPercpu, ReadsEveryCpuOfSubWordValues) {
  // 4-byte values: the kernel still lays them out 8 bytes apart per CPU.
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xgt_pcpu32", 4, 4, 2, nullptr));
  ASSERT_TRUE(map);
  const unsigned cpus = possible_cpus();
  std::vector<uint64_t> slots(cpus);  // one 8-byte slot per CPU, value in the low half
  for (unsigned cpu = 0; cpu < cpus; ++cpu) slots[cpu] = 10 * (cpu + 1);
  const uint32_t key = 1;
  ASSERT_EQ(bpf_map_update_elem(map.get(), &key, slots.data(), BPF_ANY), 0);

  const std::vector<uint32_t> values = read_percpu<uint32_t>(map.get(), key);
  ASSERT_EQ(values.size(), cpus);
  for (unsigned cpu = 0; cpu < cpus; ++cpu) EXPECT_EQ(values[cpu], 10 * (cpu + 1)) << cpu;
  EXPECT_EQ(sum_percpu<uint32_t>(map.get(), key), 10 * cpus * (cpus + 1) / 2);
  EXPECT_EQ(sum_percpu<uint32_t>(map.get(), 0), 0u);
}

TEST(ReadPercpu, SumsStructsFieldByField) {
  struct Counters {
    uint64_t packets;
    uint64_t bytes;
  };
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xgt_pcpu_ctr", 4, sizeof(Counters), 1,
                              nullptr));
  ASSERT_TRUE(map);
  const unsigned cpus = possible_cpus();
  std::vector<Counters> per_cpu(cpus);
  for (unsigned cpu = 0; cpu < cpus; ++cpu) per_cpu[cpu] = {cpu + 1, 100 * (cpu + 1)};
  const uint32_t key = 0;
  ASSERT_EQ(bpf_map_update_elem(map.get(), &key, per_cpu.data(), BPF_ANY), 0);

  const Counters total = sum_percpu<Counters>(map.get(), key, [](Counters sum, const Counters& c) {
    sum.packets += c.packets;
    sum.bytes += c.bytes;
    return sum;
  });
  EXPECT_EQ(total.packets, cpus * (cpus + 1) / 2);
  EXPECT_EQ(total.bytes, 100 * cpus * (cpus + 1) / 2);
}

TEST(ReadPercpu, MissingKeyThrows) {
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xgt_pcpu_small", 4, 8, 1, nullptr));
  ASSERT_TRUE(map);
  EXPECT_THROW(read_percpu<uint64_t>(map.get(), 5), std::system_error);
}

}  // namespace
}  // namespace xdpgw::test
