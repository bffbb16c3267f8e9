// Running an XDP program on one frame with BPF_PROG_TEST_RUN, and reading
// per-CPU counters.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace xdpgw::test {

struct TestRunOptions {
  // XDP metadata placed in front of the frame (ctx->data_meta .. ctx->data).
  // The kernel wants a multiple of 4 bytes, at most 32.
  std::vector<uint8_t> meta{};
  // ctx->ingress_ifindex / rx_queue_index. The kernel looks the interface up
  // in the calling thread's namespace: take a NetnsGuard for the interface's
  // netns around the call. rx_queue_index must be below its queue count.
  uint32_t ingress_ifindex = 0;
  uint32_t rx_queue_index = 0;
  // Runs of the program. Only valid for programs that do not rewrite the frame:
  // the kernel does not restore the frame between runs, so a rewriting program
  // sees its own output again (PLATFORM.md).
  uint32_t repeat = 1;
  // Room in the output buffer beyond the input, for encapsulation headers.
  std::size_t output_headroom = 512;
};

struct TestRunResult {
  uint32_t action = 0;         // the program's return value (XDP_PASS, XDP_TX, ...)
  std::vector<uint8_t> data;   // the frame after the program, from ctx->data
  std::vector<uint8_t> meta;   // the metadata after the program
  uint32_t duration_ns = 0;    // average time of one run, as measured by the kernel
};

// Runs an XDP program on `frame` (at least 14 bytes, or the kernel says EINVAL).
// Throws std::system_error naming the program and the frame size on failure.
TestRunResult prog_test_run(int prog_fd, std::span<const uint8_t> frame,
                            const TestRunOptions& options = {});

// libbpf_num_possible_cpus(), throwing on failure.
unsigned possible_cpus();

// "XDP_DROP", "XDP_REDIRECT", ...; "action N" for a value XDP does not define.
std::string action_name(uint32_t action);

namespace detail {
// bpf_map_lookup_elem into `values`, throwing std::system_error on failure.
void lookup_elem(int map_fd, uint32_t key, void* values);
}  // namespace detail

// One value per possible CPU of a PERCPU_ARRAY / PERCPU_HASH entry.
template <class V>
std::vector<V> read_percpu(int map_fd, uint32_t key) {
  static_assert(std::is_trivially_copyable_v<V>, "per-CPU values are copied as bytes");
  const unsigned cpus = possible_cpus();
  // The kernel copies each CPU's value rounded up to 8 bytes.
  constexpr std::size_t stride = (sizeof(V) + 7) / 8 * 8;
  std::vector<uint8_t> raw(cpus * stride);
  detail::lookup_elem(map_fd, key, raw.data());
  std::vector<V> values(cpus);
  for (unsigned cpu = 0; cpu < cpus; ++cpu) {
    std::memcpy(&values[cpu], raw.data() + cpu * stride, sizeof(V));
  }
  return values;
}

// Sum over CPUs of an arithmetic per-CPU value.
template <class V>
  requires std::is_arithmetic_v<V>
V sum_percpu(int map_fd, uint32_t key) {
  V total{};
  for (const V& value : read_percpu<V>(map_fd, key)) total += value;
  return total;
}

// Sum over CPUs of a struct value, field by field through `add`:
//   sum_percpu<Counters>(fd, key, [](Counters a, const Counters& b) {
//     a.packets += b.packets; a.bytes += b.bytes; return a; });
template <class V, class Add>
V sum_percpu(int map_fd, uint32_t key, Add add) {
  V total{};
  for (const V& value : read_percpu<V>(map_fd, key)) total = add(total, value);
  return total;
}

}  // namespace xdpgw::test
