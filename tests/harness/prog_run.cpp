#include "harness/prog_run.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::test {

TestRunResult prog_test_run(int prog_fd, std::span<const uint8_t> frame,
                            const TestRunOptions& options) {
  // The kernel takes metadata and frame as one buffer; ctx.data says where
  // the frame starts.
  std::vector<uint8_t> data_in;
  data_in.reserve(options.meta.size() + frame.size());
  data_in.insert(data_in.end(), options.meta.begin(), options.meta.end());
  data_in.insert(data_in.end(), frame.begin(), frame.end());

  xdp_md ctx_in{};
  ctx_in.data = static_cast<__u32>(options.meta.size());
  ctx_in.data_end = static_cast<__u32>(data_in.size());  // EINVAL unless it is the whole buffer
  ctx_in.ingress_ifindex = options.ingress_ifindex;
  ctx_in.rx_queue_index = options.rx_queue_index;
  // ctx_out says where metadata ends after the program ran, which can differ
  // from the input when the program calls bpf_xdp_adjust_meta.
  xdp_md ctx_out{};

  std::vector<uint8_t> data_out(data_in.size() + options.output_headroom);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data_in.data(), .data_out = data_out.data(),
              .data_size_in = static_cast<__u32>(data_in.size()),
              .data_size_out = static_cast<__u32>(data_out.size()), .ctx_in = &ctx_in,
              .ctx_out = &ctx_out, .ctx_size_in = sizeof(ctx_in), .ctx_size_out = sizeof(ctx_out),
              .repeat = static_cast<int>(options.repeat));
  if (int rc = bpf_prog_test_run_opts(prog_fd, &opts); rc < 0) {
    throw_errno(rc == -1 ? errno : rc,
                fmt::format("bpf_prog_test_run_opts(prog fd {}, {}-byte frame, {}-byte meta)",
                            prog_fd, frame.size(), options.meta.size()));
  }

  // Output layout is metadata then frame; ctx_out.data is the metadata size.
  const std::size_t out_size = opts.data_size_out;
  const std::size_t meta_size = std::min<std::size_t>(ctx_out.data, out_size);
  TestRunResult result;
  result.action = opts.retval;
  result.duration_ns = opts.duration;
  result.meta.assign(data_out.begin(), data_out.begin() + static_cast<std::ptrdiff_t>(meta_size));
  result.data.assign(data_out.begin() + static_cast<std::ptrdiff_t>(meta_size),
                     data_out.begin() + static_cast<std::ptrdiff_t>(out_size));
  return result;
}

unsigned possible_cpus() {
  return static_cast<unsigned>(check_errno(libbpf_num_possible_cpus(), "libbpf_num_possible_cpus"));
}

namespace detail {

void lookup_elem(int map_fd, uint32_t key, void* values) {
  if (int rc = bpf_map_lookup_elem(map_fd, &key, values); rc < 0) {
    throw_errno(rc == -1 ? errno : rc,
                fmt::format("bpf_map_lookup_elem(map fd {}, key {})", map_fd, key));
  }
}

}  // namespace detail
std::string action_name(uint32_t action) {
  switch (action) {
    case XDP_ABORTED: return "XDP_ABORTED";
    case XDP_DROP: return "XDP_DROP";
    case XDP_PASS: return "XDP_PASS";
    case XDP_TX: return "XDP_TX";
    case XDP_REDIRECT: return "XDP_REDIRECT";
    default: return "action " + std::to_string(action);
  }
}

}  // namespace xdpgw::test
