#include "datapath/probe.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "common/fd.hpp"

namespace xdpgw::probe {
namespace {

// ---- what each optional xdpgw feature is called and how to do without it ----

struct UseText {
  std::string_view needed_by;
  std::string_view instead;
};

constexpr UseText text_of(Use use) {
  switch (use) {
    case Use::kFib:
      return {"kernel FIB routing (routing.source = \"fib\")", "set routing.source = \"static\""};
    case Use::kSteering: return {"CPU steering ([steering] cpus)", "leave [steering] cpus empty"};
    case Use::kAfXdp: return {"the AF_XDP pipeline ([punt])", "remove [punt]"};
    case Use::kAcl: return {"ACL rules ([[acl]])", "remove the [[acl]] rules"};
    case Use::kEvents: return {"datapath events (xdpgw events)", ""};
    case Use::kDropCapture: return {"drop capture (xdpgw capture --what drops)", ""};
    case Use::kProxy:
      return {"proxy VIPs ([[vip]] mode = \"proxy\")", "use mode = \"nat\" or \"dsr\" for them"};
    case Use::kSynproxy:
      return {"SYN cookies for VIPs ([vip.synproxy])",
              "set synproxy mode = \"off\" and use syn_rate_limit"};
    case Use::kTests: return {"the test suite (scripts/test.sh)", ""};
    case Use::kBenchGenerator: return {"the live-frames generator of bench/run.sh", ""};
    case Use::kNothing: return {"xdpgw does not use XDP metadata", ""};
    case Use::kRouter: break;
  }
  return {};
}

// A feature used by `use` (not the router core): its texts come from text_of, once.
constexpr Feature for_use(std::string_view key, std::string_view name, Use use,
                          std::string_view since) {
  return {key, name, use, text_of(use).needed_by, since, text_of(use).instead};
}

constexpr Feature router(std::string_view key, std::string_view name, std::string_view needed_by,
                         std::string_view since) {
  return {key, name, Use::kRouter, needed_by, since, ""};
}

// ---- raw instructions (the kernel's filter.h macros are not uapi) ----

constexpr bpf_insn call(int32_t helper) {
  return {.code = BPF_JMP | BPF_CALL, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = helper};
}
constexpr bpf_insn mov_r0(int32_t imm) {
  return {.code = BPF_ALU64 | BPF_MOV | BPF_K,
          .dst_reg = BPF_REG_0,
          .src_reg = 0,
          .off = 0,
          .imm = imm};
}
constexpr bpf_insn exit_insn() {
  return {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0};
}

std::string errno_text(int err) { return std::generic_category().message(err < 0 ? -err : err); }

struct Load {
  UniqueFd fd;
  int err = 0;      // errno when fd is empty
  std::string log;  // verifier log (log level 1)
};

Load load_xdp(std::span<const bpf_insn> insns, bpf_attach_type expected_attach = BPF_XDP) {
  // A helper probe's log is a handful of lines; 64 KiB leaves room for a
  // kernel that prints more without risking ENOSPC.
  std::string log(64 * 1024, '\0');
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = expected_attach, .log_level = 1,
              .log_size = static_cast<__u32>(log.size()), .log_buf = log.data());
  // GPL: several helpers (perf_event_output, ringbuf) are GPL-only, and a
  // license refusal would read as a missing helper.
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xgw_probe", "GPL", insns.data(), insns.size(), &opts);
  log.resize(std::strlen(log.c_str()));
  return Load{UniqueFd(fd >= 0 ? fd : -1), fd >= 0 ? 0 : -fd, std::move(log)};
}

Load load_xdp_pass(bpf_attach_type expected_attach = BPF_XDP) {
  const std::array insns{mov_r0(XDP_PASS), exit_insn()};
  return load_xdp(insns, expected_attach);
}

// The line of a verifier log that contains `needle`, or "".
std::string log_line_with(std::string_view log, std::string_view needle) {
  auto at = log.find(needle);
  if (at == std::string_view::npos) return {};
  auto begin = log.rfind('\n', at);
  begin = begin == std::string_view::npos ? 0 : begin + 1;
  auto end = log.find('\n', at);
  return std::string(log.substr(begin, end == std::string_view::npos ? end : end - begin));
}

std::string last_log_line(std::string_view log) {
  while (!log.empty() && log.back() == '\n') log.remove_suffix(1);
  auto nl = log.rfind('\n');
  return std::string(nl == std::string_view::npos ? log : log.substr(nl + 1));
}

// ---- the probes ----

struct Outcome {
  Status status;
  std::string reason;
  std::string detail;
};

Outcome available(std::string detail = {}) { return {Status::kAvailable, {}, std::move(detail)}; }
Outcome missing(std::string reason, std::string detail) {
  return {Status::kMissing, std::move(reason), std::move(detail)};
}

// `call <id>; r0 = 0; exit` as an XDP program. The verifier checks whether
// the program type may call the helper before it checks the arguments, so
// "unknown func" / "cannot use helper" mean missing and an argument error
// (R1 type=ctx expected=map_ptr) means the helper is there.
Outcome probe_helper(int32_t helper) {
  const std::array insns{call(helper), mov_r0(0), exit_insn()};
  Load l = load_xdp(insns);
  if (l.fd) return available("loaded");
  for (std::string_view refusal : {"unknown func", "cannot use helper", "invalid func"})
    if (auto line = log_line_with(l.log, refusal); !line.empty())
      return missing("XDP programs cannot call it", "verifier: " + line);
  if (l.log.empty())
    return {Status::kNotChecked, "no verifier log: " + errno_text(l.err),
            "bpf_prog_load: " + errno_text(l.err)};
  return available(fmt::format("refused only for its arguments: {}",
                               last_log_line(l.log.substr(0, l.log.find("processed ")))));
}

// libbpf's low-level calls return -errno: the error travels as a value,
// never re-read from errno after other calls.
Outcome map_outcome(int fd_or_err, std::string_view step) {
  if (fd_or_err >= 0) return available();
  return missing("cannot be created: " + errno_text(fd_or_err),
                 fmt::format("{}: {}", step, errno_text(fd_or_err)));
}

struct MapShape {
  bpf_map_type type;
  uint32_t key_size;
  uint32_t value_size;
  uint32_t max_entries;
  uint32_t flags = 0;
};

// Creates a tiny map shaped like the datapath's (bpf/lib/*.h), so a value
// layout the kernel does not know (bpf_devmap_val, bpf_cpumap_val) counts.
Outcome probe_map(const MapShape& s) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = s.flags);
  const int rc =
      bpf_map_create(s.type, "xgw_probe", s.key_size, s.value_size, s.max_entries, &opts);
  UniqueFd created(rc >= 0 ? rc : -1);  // closed on return: only creation is probed
  return map_outcome(rc, fmt::format("bpf_map_create(type {})", int(s.type)));
}

// What the datapath's cfg_* tables and lb_rings need: an ARRAY_OF_MAPS whose
// template has BPF_F_INNER_MAP, holding an inner ARRAY of another size.
Outcome probe_map_in_map() {
  LIBBPF_OPTS(bpf_map_create_opts, inner_opts, .map_flags = BPF_F_INNER_MAP);
  int rc = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xgw_probe_in", 4, 4, 4, &inner_opts);
  UniqueFd tmpl(rc >= 0 ? rc : -1);
  if (!tmpl) return map_outcome(rc, "inner ARRAY with BPF_F_INNER_MAP");
  LIBBPF_OPTS(bpf_map_create_opts, outer_opts, .inner_map_fd = static_cast<__u32>(tmpl.get()));
  rc = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xgw_probe", 4, 4, 2, &outer_opts);
  UniqueFd outer(rc >= 0 ? rc : -1);
  if (!outer) return map_outcome(rc, "outer ARRAY_OF_MAPS");
  rc = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xgw_probe_in", 4, 4, 8, &inner_opts);
  UniqueFd bigger(rc >= 0 ? rc : -1);
  if (!bigger) return map_outcome(rc, "second inner ARRAY");
  uint32_t key = 0;
  int value = bigger.get();
  if (rc = bpf_map_update_elem(outer.get(), &key, &value, BPF_ANY); rc != 0)
    return missing("cannot hold an inner map of another size: " + errno_text(rc),
                   "insert an inner ARRAY of 8 entries into one made from a 4-entry template: " +
                       errno_text(rc));
  return available();
}

Outcome probe_xdp_program() {
  const std::array insns{mov_r0(XDP_PASS), exit_insn()};
  Load l = load_xdp(insns);
  if (l.fd) return available();
  // Not a kernel feature but the caller's privileges: no report could be
  // right, and "Fix: another kernel" would send the operator the wrong way.
  if (l.err == EPERM)
    throw std::system_error(EPERM, std::generic_category(),
                            "load a trivial XDP program (the kernel probe needs root: CAP_BPF, "
                            "CAP_NET_ADMIN, CAP_SYS_ADMIN)");
  return missing("refused: " + errno_text(l.err),
                 fmt::format("bpf_prog_load XDP: {}; {}", errno_text(l.err), last_log_line(l.log)));
}

// The second stage of CPU steering: an XDP program loaded for BPF_XDP_CPUMAP
// and installed in a CPUMAP entry (that is where the kernel checks the
// attach type and starts the CPU's kthread).
Outcome probe_cpumap_program() {
  Load prog = load_xdp_pass(BPF_XDP_CPUMAP);
  if (!prog.fd)
    return missing("refused: " + errno_text(prog.err),
                   fmt::format("bpf_prog_load XDP for BPF_XDP_CPUMAP: {}; {}", errno_text(prog.err),
                               last_log_line(prog.log)));
  int rc = bpf_map_create(BPF_MAP_TYPE_CPUMAP, "xgw_probe", 4, sizeof(bpf_cpumap_val), 1, nullptr);
  UniqueFd map(rc >= 0 ? rc : -1);
  if (!map)
    return missing("no CPUMAP to install it in: " + errno_text(rc),
                   "bpf_map_create CPUMAP: " + errno_text(rc));
  uint32_t cpu = 0;
  bpf_cpumap_val entry{};
  entry.qsize = 16;
  entry.bpf_prog.fd = prog.fd.get();
  if (rc = bpf_map_update_elem(map.get(), &cpu, &entry, BPF_ANY); rc != 0)
    return missing("cannot be installed in a CPUMAP entry: " + errno_text(rc),
                   "cpu_map[0] = {qsize 16, program}: " + errno_text(rc));
  return available();
}

// bpf_link_create for XDP needs an interface. The loopback of a network
// namespace made for the purpose (on a thread of its own, so the process's
// namespace never changes) is one nobody else uses: generic mode, attached
// and released at once, gone with the namespace.
Outcome probe_xdp_link() {
  Load prog = load_xdp_pass();
  if (!prog.fd)
    return missing("no XDP program to link: " + errno_text(prog.err),
                   "bpf_prog_load: " + errno_text(prog.err));
  Outcome result{Status::kNotChecked, {}, {}};
  std::thread worker([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      const int err = errno;
      result = {Status::kNotChecked,
                "no private network namespace to try it in: " + errno_text(err),
                "unshare(CLONE_NEWNET): " + errno_text(err)};
      return;
    }
    constexpr int kLoopbackIfindex = 1;  // in every new namespace
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_SKB_MODE);
    const int rc = bpf_link_create(prog.fd.get(), kLoopbackIfindex, BPF_XDP, &opts);
    UniqueFd link(rc >= 0 ? rc : -1);  // closing the unpinned link detaches it
    result = link ? available("generic mode on lo of a private network namespace")
                  : missing("refused: " + errno_text(rc),
                            "bpf_link_create(BPF_XDP, lo, generic): " + errno_text(rc));
  });
  worker.join();
  return result;
}

// Proxy mode's splice: an sk_skb stream verdict program attached to a
// SOCKHASH (bpf/proxy.bpf.c). The attachment goes with the map.
Outcome probe_sk_skb_verdict() {
  constexpr int kSkPass = 1;
  const std::array insns{mov_r0(kSkPass), exit_insn()};
  LIBBPF_OPTS(bpf_prog_load_opts, load_opts, .expected_attach_type = BPF_SK_SKB_STREAM_VERDICT);
  int rc = bpf_prog_load(BPF_PROG_TYPE_SK_SKB, "xgw_probe", "GPL", insns.data(), insns.size(),
                         &load_opts);
  UniqueFd prog(rc >= 0 ? rc : -1);
  if (!prog)
    return missing("no sk_skb program: " + errno_text(rc), "bpf_prog_load SK_SKB: " + errno_text(rc));
  rc = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "xgw_probe", 4, 4, 1, nullptr);
  UniqueFd map(rc >= 0 ? rc : -1);
  if (!map)
    return missing("no SOCKHASH to attach it to: " + errno_text(rc),
                   "bpf_map_create SOCKHASH: " + errno_text(rc));
  if (rc = bpf_prog_attach(prog.get(), map.get(), BPF_SK_SKB_STREAM_VERDICT, 0); rc != 0)
    return missing("cannot be attached as a stream verdict: " + errno_text(rc),
                   "bpf_prog_attach(SOCKHASH, BPF_SK_SKB_STREAM_VERDICT): " + errno_text(rc));
  return available();
}

constexpr size_t kTestFrameBytes = 64;  // the kernel refuses test frames under 14 bytes

Outcome probe_test_run() {
  Load prog = load_xdp_pass();
  if (!prog.fd)
    return missing("no XDP program to run: " + errno_text(prog.err),
                   "bpf_prog_load: " + errno_text(prog.err));
  std::array<uint8_t, kTestFrameBytes> frame{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = frame.size(),
              .repeat = 1);
  if (int rc = bpf_prog_test_run_opts(prog.fd.get(), &opts); rc != 0)
    return missing("refused: " + errno_text(rc), "BPF_PROG_TEST_RUN: " + errno_text(rc));
  if (opts.retval != XDP_PASS)
    return missing(fmt::format("returned {} for an XDP_PASS program", opts.retval),
                   fmt::format("retval {}", opts.retval));
  return available();
}

// The generator's mechanism, with an XDP_DROP program so that, where the
// kernel allows it, not one frame leaves.
Outcome probe_live_frames() {
  const std::array insns{mov_r0(XDP_DROP), exit_insn()};
  Load l = load_xdp(insns);
  if (!l.fd)
    return missing("no XDP program to run: " + errno_text(l.err),
                   "bpf_prog_load: " + errno_text(l.err));
  std::array<uint8_t, kTestFrameBytes> frame{};
  xdp_md ctx{};
  ctx.data_end = kTestFrameBytes;  // live frames want the frame's extent in the context, or EINVAL
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = frame.size(),
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1,
              .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
  if (int rc = bpf_prog_test_run_opts(l.fd.get(), &opts); rc != 0)
    return missing("refused: " + errno_text(rc),
                   "BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: " + errno_text(rc));
  return available();
}

// ---- the table: what the datapath uses, derived from bpf/ ----
// Helpers: every bpf_* call in bpf/*.bpf.c and bpf/lib/*.h. Maps: every
// BPF_MAP_TYPE_* there. Shapes as in bpf/lib/maps.h.

struct Probe {
  Feature feature;
  std::function<Outcome()> run;
  bool loads_xdp = true;  // false for map probes: they mean something without XDP
};

const std::vector<Probe>& probes() {
  static const std::vector<Probe> table = [] {
    std::vector<Probe> t;
    auto helper = [&](Feature f, bpf_func_id id) {
      t.push_back({f, [id] { return probe_helper(id); }});
    };
    auto map = [&](Feature f, MapShape s) {
      t.push_back({f, [s] { return probe_map(s); }, false});
    };
    auto other = [&](Feature f, Outcome (*fn)()) { t.push_back({f, fn}); };

    // First: when no XDP program loads at all, nothing below can be decided.
    other(router("xdp", "program XDP", "every datapath program", "4.8"), probe_xdp_program);

    helper(router("bpf_map_lookup_elem", "helper bpf_map_lookup_elem", "every table and counter",
                  "4.8"),
           BPF_FUNC_map_lookup_elem);
    helper(router("bpf_map_update_elem", "helper bpf_map_update_elem",
                  "the connection table and the rate limiter", "4.8"),
           BPF_FUNC_map_update_elem);
    helper(router("bpf_ktime_get_ns", "helper bpf_ktime_get_ns", "rate limits, events", "4.8"),
           BPF_FUNC_ktime_get_ns);
    helper(router("bpf_ktime_get_coarse_ns", "helper bpf_ktime_get_coarse_ns",
                  "flow ages (connection table, source NAT, flow export)", "5.11"),
           BPF_FUNC_ktime_get_coarse_ns);
    helper(router("bpf_tail_call", "helper bpf_tail_call",
                  "the dispatcher's hand-off to each handler", "4.8"),
           BPF_FUNC_tail_call);
    helper(router("bpf_redirect_map", "helper bpf_redirect_map",
                  "forwarding (redirect to the egress port)", "4.14"),
           BPF_FUNC_redirect_map);
    helper(router("bpf_xdp_adjust_head", "helper bpf_xdp_adjust_head",
                  "load-balancer encapsulation and DSR decap", "4.10"),
           BPF_FUNC_xdp_adjust_head);
    helper(for_use("bpf_fib_lookup", "helper bpf_fib_lookup", Use::kFib, "4.18"),
           BPF_FUNC_fib_lookup);
    helper(for_use("bpf_loop", "helper bpf_loop", Use::kAcl, "5.17"), BPF_FUNC_loop);
    helper(for_use("bpf_ringbuf_reserve", "helper bpf_ringbuf_reserve", Use::kEvents, "5.8"),
           BPF_FUNC_ringbuf_reserve);
    helper(for_use("bpf_ringbuf_submit", "helper bpf_ringbuf_submit", Use::kEvents, "5.8"),
           BPF_FUNC_ringbuf_submit);
    helper(
        for_use("bpf_perf_event_output", "helper bpf_perf_event_output", Use::kDropCapture, "4.8"),
        BPF_FUNC_perf_event_output);
    helper(for_use("bpf_tcp_raw_gen_syncookie_ipv4", "helper bpf_tcp_raw_gen_syncookie_ipv4",
                   Use::kSynproxy, "6.0"),
           BPF_FUNC_tcp_raw_gen_syncookie_ipv4);
    helper(for_use("bpf_tcp_raw_check_syncookie_ipv4",
                   "helper bpf_tcp_raw_check_syncookie_ipv4", Use::kSynproxy, "6.0"),
           BPF_FUNC_tcp_raw_check_syncookie_ipv4);
    helper(for_use("bpf_tcp_raw_gen_syncookie_ipv6", "helper bpf_tcp_raw_gen_syncookie_ipv6",
                   Use::kSynproxy, "6.0"),
           BPF_FUNC_tcp_raw_gen_syncookie_ipv6);
    helper(for_use("bpf_tcp_raw_check_syncookie_ipv6",
                   "helper bpf_tcp_raw_check_syncookie_ipv6", Use::kSynproxy, "6.0"),
           BPF_FUNC_tcp_raw_check_syncookie_ipv6);
    helper(for_use("bpf_xdp_load_bytes", "helper bpf_xdp_load_bytes", Use::kSynproxy, "5.18"),
           BPF_FUNC_xdp_load_bytes);
    helper(for_use("bpf_xdp_adjust_tail", "helper bpf_xdp_adjust_tail", Use::kSynproxy, "4.18"),
           BPF_FUNC_xdp_adjust_tail);
    helper(for_use("bpf_xdp_adjust_meta", "helper bpf_xdp_adjust_meta", Use::kNothing, "4.15"),
           BPF_FUNC_xdp_adjust_meta);

    map(router("HASH", "map HASH", "ports, local addresses, VIPs, punt flows", "4.8"),
        {BPF_MAP_TYPE_HASH, 4, 4, 16});
    map(router("ARRAY", "map ARRAY", "settings, nexthops, backends, Maglev rings", "4.8"),
        {BPF_MAP_TYPE_ARRAY, 4, 4, 16});
    map(router("PERCPU_ARRAY", "map PERCPU_ARRAY", "the counters", "4.8"),
        {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 16});
    map(router("LRU_HASH", "map LRU_HASH", "the connection table and rate-limit buckets", "4.10"),
        {BPF_MAP_TYPE_LRU_HASH, 4, 4, 16});
    map(router("LPM_TRIE", "map LPM_TRIE", "static routes, ACL and rate-limit prefixes", "4.11"),
        {BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, BPF_F_NO_PREALLOC});
    other(router("ARRAY_OF_MAPS", "map ARRAY_OF_MAPS",
                 "config generations (atomic reload) and Maglev rings", "5.10"),
          probe_map_in_map);
    t.back().loads_xdp = false;
    map(router("PROG_ARRAY", "map PROG_ARRAY", "the dispatcher's handler table", "4.8"),
        {BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8});
    map(router("DEVMAP_HASH", "map DEVMAP_HASH", "forwarding (the egress ports)", "5.8"),
        {BPF_MAP_TYPE_DEVMAP_HASH, 4, sizeof(bpf_devmap_val), 8});
    map(for_use("CPUMAP", "map CPUMAP", Use::kSteering, "5.9"),
        {BPF_MAP_TYPE_CPUMAP, 4, sizeof(bpf_cpumap_val), 1});
    map(for_use("XSKMAP", "map XSKMAP", Use::kAfXdp, "4.18"), {BPF_MAP_TYPE_XSKMAP, 4, 4, 1});
    map(for_use("RINGBUF", "map RINGBUF", Use::kEvents, "5.8"),
        {BPF_MAP_TYPE_RINGBUF, 0, 0, static_cast<uint32_t>(::sysconf(_SC_PAGESIZE))});
    map(for_use("PERF_EVENT_ARRAY", "map PERF_EVENT_ARRAY", Use::kDropCapture, "4.8"),
        {BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4,
         static_cast<uint32_t>(std::max(1, libbpf_num_possible_cpus()))});

    other(for_use("xdp_cpumap", "program XDP for a CPUMAP entry", Use::kSteering, "5.9"),
          probe_cpumap_program);
    other(router("xdp_link", "bpf_link for XDP", "attaching to the ports (links survive restarts)",
                 "5.9"),
          probe_xdp_link);
    other(for_use("sk_skb_verdict", "program SK_SKB stream verdict on a SOCKHASH", Use::kProxy,
                  "4.20"),
          probe_sk_skb_verdict);
    t.back().loads_xdp = false;
    other(for_use("test_run", "BPF_PROG_TEST_RUN on XDP", Use::kTests, "4.12"), probe_test_run);
    other(for_use("test_run_live_frames", "BPF_PROG_TEST_RUN live frames", Use::kBenchGenerator,
                  "5.18"),
          probe_live_frames);
    return t;
  }();
  return table;
}

constexpr Feature kNativeXdp{
    "native_xdp", "native XDP",
    Use::kRouter, "XDP in the driver (gateway.attach_mode = \"native\")",
    "",           "a driver with native XDP, or set gateway.attach_mode = \"generic\" (slow)"};

// "6.18.44-fc-v1300" -> {6, 18}; {0, 0} when unreadable.
std::pair<int, int> major_minor(std::string_view release) {
  int major = 0, minor = 0;
  const char* end = release.data() + release.size();
  auto [p, ec] = std::from_chars(release.data(), end, major);
  if (ec == std::errc() && p != end && *p == '.') std::from_chars(p + 1, end, minor);
  return {major, minor};
}

std::string remedy(const Feature& f, std::string_view kernel_release) {
  std::string kernel_part;
  if (!f.since.empty()) {
    // Older than the version that added it: upgrade. Newer: this kernel has
    // it disabled or patched out (6.18.44 refuses bpf_xdp_adjust_meta).
    kernel_part = major_minor(kernel_release) < major_minor(f.since)
                      ? fmt::format("Linux >= {}", f.since)
                      : fmt::format("a kernel that allows it (upstream Linux since {})", f.since);
  }
  if (kernel_part.empty()) return std::string(f.instead);
  if (f.instead.empty()) return kernel_part;
  return fmt::format("{}, or {}", kernel_part, f.instead);
}

std::string consequence(const Feature& f) {
  switch (f.use) {
    case Use::kRouter: return ", so xdpgw cannot run";
    case Use::kTests:
    case Use::kBenchGenerator: return ", not by xdpgw itself";
    case Use::kNothing: return "";
    case Use::kProxy:
    case Use::kSynproxy: return ", so the daemon refuses a config with them";
    default: return ", which is turned off";
  }
}

Finding make_finding(const Feature& f, Outcome o, std::string subject = {}) {
  return Finding{&f, o.status, std::move(subject), std::move(o.reason), std::move(o.detail)};
}

Outcome denied() {
  return {Status::kMissing, std::string(kDeniedReason), std::string(kDeniedReason)};
}

}  // namespace

const std::vector<Feature>& features() {
  static const std::vector<Feature> all = [] {
    std::vector<Feature> v;
    for (const auto& p : probes()) v.push_back(p.feature);
    v.push_back(kNativeXdp);
    return v;
  }();
  return all;
}

const Feature& native_xdp_feature() { return kNativeXdp; }

std::string Finding::display_name() const {
  if (subject.empty()) return std::string(feature->name);
  return fmt::format("{} on {}", feature->name, subject);
}

std::string Finding::line(std::string_view kernel_release) const {
  switch (status) {
    case Status::kAvailable: return "ok: " + display_name();
    case Status::kNotChecked: return fmt::format("not checked: {} ({})", display_name(), reason);
    case Status::kMissing: break;
  }
  if (feature->use == Use::kNothing)
    return fmt::format("missing (unused): {} ({}) — {}.", display_name(), reason,
                       feature->needed_by);
  std::string fix = remedy(*feature, kernel_release);
  return fmt::format("missing: {} ({}) — needed by {}{}.{}", display_name(), reason,
                     feature->needed_by, consequence(*feature),
                     fix.empty() ? "" : fmt::format(" Fix: {}.", fix));
}

bool Report::ok() const {
  return std::none_of(findings.begin(), findings.end(),
                      [](const Finding& f) { return f.missing() && f.feature->required(); });
}

bool Report::available(std::string_view key) const {
  bool seen = false;
  for (const auto& f : findings) {
    if (f.feature->key != key) continue;
    seen = true;
    if (!f.available()) return false;
  }
  if (!seen) throw std::invalid_argument(fmt::format("no probe result for feature '{}'", key));
  return true;
}

std::vector<std::string> Report::missing_lines() const {
  std::vector<std::string> lines;
  for (bool required : {true, false})
    for (const auto& f : findings)
      if (f.missing() && f.feature->required() == required && f.feature->use != Use::kNothing)
        lines.push_back(f.line(kernel_release));
  return lines;
}

std::string Report::summary() const {
  size_t required_missing = 0, optional_missing = 0, not_checked = 0;
  for (const auto& f : findings) {
    if (f.status == Status::kNotChecked) ++not_checked;
    if (!f.missing() || f.feature->use == Use::kNothing) continue;
    ++(f.feature->required() ? required_missing : optional_missing);
  }
  std::string s = fmt::format("kernel {}: {} features checked, ", kernel_release, findings.size());
  s += required_missing == 0 ? "all required present"
                             : fmt::format("{} required MISSING", required_missing);
  s += optional_missing == 0 ? "; no optional missing"
                             : fmt::format("; {} optional missing", optional_missing);
  if (not_checked) s += fmt::format("; {} not checked", not_checked);
  return s;
}

DenyList::DenyList(std::vector<std::string> entries) : entries_(std::move(entries)) {
  for (const auto& e : entries_) {
    bool known = std::any_of(features().begin(), features().end(),
                             [&](const Feature& f) { return f.key == e || f.name == e; });
    if (!known)
      throw std::invalid_argument(fmt::format(
          "{}: '{}' is not a probed feature (use keys such as bpf_tail_call, CPUMAP, native_xdp)",
          kDenyEnv, e));
  }
}

DenyList DenyList::from_env() {
  // Unsafe only against a concurrent setenv, which nothing in xdpgw calls.
  const char* value = std::getenv(std::string(kDenyEnv).c_str());  // NOLINT(concurrency-mt-unsafe)
  if (!value) return {};
  std::vector<std::string> entries;
  std::string_view rest(value);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) entries.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return DenyList(std::move(entries));
}

bool DenyList::denies(const Feature& f) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const std::string& e) { return f.key == e || f.name == e; });
}

Report probe_kernel(const DenyList& deny) {
  Report report;
  utsname u{};
  report.kernel_release = ::uname(&u) == 0 ? u.release : "unknown";
  bool xdp_loads = true;
  for (const auto& p : probes()) {
    Outcome o;
    if (deny.denies(p.feature))
      o = denied();
    else if (!xdp_loads && p.loads_xdp)
      o = {Status::kNotChecked, "no XDP program loads here", "see program XDP"};
    else
      o = p.run();
    // Without even a trivial XDP program, every other probe would report
    // its own errno; one cause, stated once, is clearer.
    if (p.feature.key == "xdp" && o.status != Status::kAvailable && !deny.denies(p.feature))
      xdp_loads = false;
    report.findings.push_back(make_finding(p.feature, std::move(o)));
  }
  return report;
}

Finding probe_native_xdp(uint32_t ifindex, std::string_view ifname, const DenyList& deny) {
  std::string subject(ifname);
  if (deny.denies(kNativeXdp)) return make_finding(kNativeXdp, denied(), subject);

  LIBBPF_OPTS(bpf_xdp_query_opts, query);
  if (int rc = bpf_xdp_query(static_cast<int>(ifindex), 0, &query); rc < 0)
    return make_finding(kNativeXdp,
                        {Status::kNotChecked, "cannot query it: " + errno_text(rc),
                         "bpf_xdp_query: " + errno_text(rc)},
                        subject);
  if (query.attach_mode != XDP_ATTACHED_NONE) {
    // Someone's program runs there: leave it alone. A native one proves the
    // driver does native XDP; next to a generic one native cannot be tried.
    const char* mode = query.attach_mode == XDP_ATTACHED_DRV   ? "native"
                       : query.attach_mode == XDP_ATTACHED_SKB ? "generic"
                       : query.attach_mode == XDP_ATTACHED_HW  ? "offloaded"
                                                               : "several modes";
    uint32_t id = query.prog_id       ? query.prog_id
                  : query.drv_prog_id ? query.drv_prog_id
                  : query.skb_prog_id ? query.skb_prog_id
                                      : query.hw_prog_id;
    std::string note = fmt::format("runs XDP program id {} ({}); left untouched", id, mode);
    if (query.drv_prog_id != 0 || query.attach_mode == XDP_ATTACHED_DRV)
      return make_finding(kNativeXdp, available(note), subject);
    return make_finding(kNativeXdp, {Status::kNotChecked, note, note}, subject);
  }

  Load prog = load_xdp_pass();
  if (!prog.fd)
    return make_finding(kNativeXdp,
                        missing("no XDP program to attach: " + errno_text(prog.err),
                                "bpf_prog_load: " + errno_text(prog.err)),
                        subject);
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
  const int rc = bpf_link_create(prog.fd.get(), static_cast<int>(ifindex), BPF_XDP, &opts);
  UniqueFd link(rc >= 0 ? rc : -1);  // closing the unpinned link detaches the program
  if (!link) {
    const int err = -rc;
    if (err == EBUSY || err == EEXIST)  // someone attached between our query and now
      return make_finding(kNativeXdp,
                          {Status::kNotChecked, "another XDP program was attached meanwhile",
                           "bpf_link_create: " + errno_text(err)},
                          subject);
    return make_finding(kNativeXdp,
                        missing("cannot attach: " + errno_text(err),
                                "bpf_link_create(BPF_XDP, native): " + errno_text(err)),
                        subject);
  }
  return make_finding(kNativeXdp, available("attached and detached an XDP_PASS program"), subject);
}

Usable usable(const Report& report) {
  auto all_available = [&](Use use) {
    return std::all_of(report.findings.begin(), report.findings.end(),
                       [&](const Finding& f) { return f.feature->use != use || f.available(); });
  };
  return Usable{
      .fib = all_available(Use::kFib),
      .steering = all_available(Use::kSteering),
      .af_xdp = all_available(Use::kAfXdp),
      .acl = all_available(Use::kAcl),
      .events = all_available(Use::kEvents),
      .drop_capture = all_available(Use::kDropCapture),
      .proxy = all_available(Use::kProxy),
      // The option walk uses bpf_loop too (probed for [[acl]]).
      .synproxy = all_available(Use::kSynproxy) && all_available(Use::kAcl),
  };
}

}  // namespace xdpgw::probe
