// The kernel feature probe on the real kernel (no mocks): what it finds here,
// the one-line messages when a probe is made to fail on purpose
// (XDPGW_PROBE_DENY), `xdpgw check --kernel` as a user runs it, and native
// XDP on veths in namespaces the test creates.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "datapath/probe.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/run.hpp"
#include "harness/veth.hpp"
#include "harness/xdp.hpp"

#ifndef XDPGW_BINARY
#error "XDPGW_BINARY (path of the xdpgw executable) must be defined by the build"
#endif

namespace xdpgw::test {
namespace {

using probe::DenyList;
using probe::Finding;
using probe::Report;
using probe::Status;

std::string all_lines(const Report& r) {
  std::string out = r.summary() + "\n";
  for (const auto& f : r.findings) out += f.line(r.kernel_release) + "  [" + f.detail + "]\n";
  return out;
}

const Finding& finding(const Report& r, std::string_view key) {
  auto it = std::find_if(r.findings.begin(), r.findings.end(),
                         [&](const Finding& f) { return f.feature->key == key; });
  if (it == r.findings.end()) throw std::out_of_range(std::string(key));
  return *it;
}

bool contains(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// ---- what this kernel has (PLATFORM.md, 6.18.44) ----

TEST(KernelProbe, FindsEveryRequiredFeatureHere) {
  const Report r = probe::probe_kernel();
  EXPECT_TRUE(r.ok()) << all_lines(r);
  for (const auto& f : r.findings)
    if (f.feature->required()) {
      EXPECT_TRUE(f.available()) << f.line(r.kernel_release) << " " << f.detail;
    }
  // Every kernel feature is decided: nothing "not checked" without a port.
  for (const auto& f : r.findings)
    EXPECT_NE(f.status, Status::kNotChecked) << f.line(r.kernel_release);
  EXPECT_NE(r.summary().find("all required present"), std::string::npos) << r.summary();
}

TEST(KernelProbe, EveryOptionalXdpgwFeatureIsUsableHere) {
  const Report r = probe::probe_kernel();
  const auto u = probe::usable(r);
  EXPECT_TRUE(u.fib);
  EXPECT_TRUE(u.steering);
  EXPECT_TRUE(u.af_xdp);
  EXPECT_TRUE(u.acl);
  EXPECT_TRUE(u.events);
  EXPECT_TRUE(u.drop_capture);
  EXPECT_TRUE(r.available("test_run")) << all_lines(r);
}

// A helper the verifier refuses only for its arguments exists: map_lookup's
// probe fails to load (R1 is the context, not a map) and must still count.
TEST(KernelProbe, ArgumentErrorsMeanTheHelperExists) {
  const Report r = probe::probe_kernel();
  const Finding& lookup = finding(r, "bpf_map_lookup_elem");
  EXPECT_TRUE(lookup.available());
  EXPECT_NE(lookup.detail.find("expected=map_ptr"), std::string::npos) << lookup.detail;
}

// This kernel refuses live frames (EPERM even as root, PLATFORM.md). When a
// kernel allows them again this test fails: update it and PLATFORM.md.
TEST(KernelProbe, LiveFramesAreRefusedHere) {
  const Report r = probe::probe_kernel();
  const Finding& live = finding(r, "test_run_live_frames");
  EXPECT_EQ(live.status, Status::kMissing);
  EXPECT_EQ(live.reason, "refused: Operation not permitted");
  // Only the benchmarks use it: the router is fine without it.
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(contains(
      r.missing_lines(),
      "missing: BPF_PROG_TEST_RUN live frames (refused: Operation not permitted) — needed by the "
      "live-frames generator of bench/run.sh, not by xdpgw itself. Fix: a kernel that allows it "
      "(upstream Linux since 5.18)."))
      << all_lines(r);
}

// bpf_xdp_adjust_meta is refused here (the verifier's own words are kept) but
// xdpgw no longer needs it, so it is no missing line and no optional count.
TEST(KernelProbe, AdjustMetaIsReportedRefusedButNotCounted) {
  const Report r = probe::probe_kernel();
  const Finding& meta = finding(r, "bpf_xdp_adjust_meta");
  EXPECT_EQ(meta.status, Status::kMissing);
  EXPECT_EQ(meta.reason, "XDP programs cannot call it");
  EXPECT_EQ(meta.detail, "verifier: program of this type cannot use helper bpf_xdp_adjust_meta#54");
  for (const auto& line : r.missing_lines())
    EXPECT_EQ(line.find("adjust_meta"), std::string::npos) << line;
  EXPECT_EQ(meta.line(r.kernel_release),
            "missing (unused): helper bpf_xdp_adjust_meta (XDP programs cannot call it) — "
            "xdpgw does not use XDP metadata.");
}

// ---- probes made to fail on purpose ----

TEST(KernelProbe, DeniedRequiredAndOptionalFeaturesGiveTheirOneLineMessages) {
  const Report r =
      probe::probe_kernel(DenyList({"bpf_tail_call", "bpf_perf_event_output", "CPUMAP"}));
  EXPECT_FALSE(r.ok());
  const auto lines = r.missing_lines();
  ASSERT_GE(lines.size(), 3u) << all_lines(r);
  // Required first.
  EXPECT_EQ(lines[0],
            "missing: helper bpf_tail_call (denied by XDPGW_PROBE_DENY) — needed by the "
            "dispatcher's hand-off to each handler, so xdpgw cannot run. Fix: a kernel that "
            "allows it (upstream Linux since 4.8).");
  EXPECT_TRUE(contains(lines,
                       "missing: helper bpf_perf_event_output (denied by XDPGW_PROBE_DENY) — "
                       "needed by drop capture (xdpgw capture --what drops), which is turned "
                       "off. Fix: a kernel that allows it (upstream Linux since 4.8)."))
      << all_lines(r);
  EXPECT_TRUE(contains(lines,
                       "missing: map CPUMAP (denied by XDPGW_PROBE_DENY) — needed by CPU "
                       "steering ([steering] cpus), which is turned off. Fix: a kernel that "
                       "allows it (upstream Linux since 5.9), or leave [steering] cpus empty."))
      << all_lines(r);
  EXPECT_NE(r.summary().find("1 required MISSING"), std::string::npos) << r.summary();

  const auto u = probe::usable(r);
  EXPECT_FALSE(u.drop_capture);
  EXPECT_FALSE(u.steering);
  EXPECT_TRUE(u.fib);
  EXPECT_TRUE(u.events);
  EXPECT_FALSE(r.available("bpf_tail_call"));
  EXPECT_TRUE(r.available("bpf_redirect_map"));
}

TEST(KernelProbe, OnAnOlderKernelTheFixNamesTheVersion) {
  const Report r = probe::probe_kernel(DenyList({"CPUMAP"}));
  EXPECT_EQ(finding(r, "CPUMAP").line("5.4.0-150-generic"),
            "missing: map CPUMAP (denied by XDPGW_PROBE_DENY) — needed by CPU steering "
            "([steering] cpus), which is turned off. Fix: Linux >= 5.9, or leave [steering] "
            "cpus empty.");
}

TEST(KernelProbe, DenyListRefusesUnknownNamesAndAcceptsKeysOrNames) {
  EXPECT_THROW(DenyList({"bpf_tail_cal"}), std::invalid_argument);
  EXPECT_NO_THROW(DenyList({"helper bpf_tail_call", "DEVMAP_HASH", "native_xdp"}));
  const Report r = probe::probe_kernel();
  EXPECT_THROW((void)r.available("no_such_feature"), std::invalid_argument);
}

// ---- xdpgw check --kernel, the built binary ----

CmdResult run_check(std::string_view deny, std::string_view args = "") {
  return run_cmd(fmt::format("{}={} {} check --kernel {}", probe::kDenyEnv, shell_quote(deny),
                             shell_quote(XDPGW_BINARY), args));
}

TEST(CheckKernelCli, MissingRequiredFeaturePrintsItsLineAndExits2) {
  const CmdResult out = run_check("bpf_redirect_map");
  EXPECT_EQ(out.exit_status, 2) << out.output;
  EXPECT_NE(out.output.find("missing: helper bpf_redirect_map (denied by XDPGW_PROBE_DENY) — "
                            "needed by forwarding (redirect to the egress port), so xdpgw "
                            "cannot run. Fix: a kernel that allows it (upstream Linux since "
                            "4.14).\n"),
            std::string::npos)
      << out.output;
  EXPECT_NE(out.output.find("1 required MISSING"), std::string::npos) << out.output;
}

TEST(CheckKernelCli, MissingOptionalFeaturePrintsItsLineAndExits0) {
  const CmdResult out = run_check("XSKMAP");
  EXPECT_EQ(out.exit_status, 0) << out.output;
  EXPECT_NE(out.output.find("missing: map XSKMAP (denied by XDPGW_PROBE_DENY) — needed by the "
                            "AF_XDP pipeline ([punt]), which is turned off. Fix: a kernel that "
                            "allows it (upstream Linux since 4.18), or remove [punt].\n"),
            std::string::npos)
      << out.output;
  EXPECT_NE(out.output.find("all required present"), std::string::npos) << out.output;
  // Not verbose: no line for what is present.
  EXPECT_EQ(out.output.find("ok: "), std::string::npos) << out.output;
}

TEST(CheckKernelCli, MisspeltDenyListIsAUsageError) {
  const CmdResult out = run_check("bpf_tail_cal");
  EXPECT_EQ(out.exit_status, 2) << out.output;
  EXPECT_NE(out.output.find("'bpf_tail_cal' is not a probed feature"), std::string::npos)
      << out.output;
}

// With a config: native XDP on each port that exists in the gateway's
// namespace; a port that does not exist is named and skipped.
TEST(CheckKernelCli, ProbesNativeXdpOnTheConfiguredPortsThatExist) {
  Netns gw("gw");
  VethPair port(gw, gw);
  const std::string absent = unique_ifname("n");
  const auto dir = std::filesystem::temp_directory_path() / unique_name("check");
  std::filesystem::create_directories(dir);
  struct RemoveDir {
    std::filesystem::path p;
    ~RemoveDir() { std::filesystem::remove_all(p); }
  } remove_dir{dir};
  const auto config = dir / "gw.toml";
  std::ofstream(config) << fmt::format(
      "[gateway]\ninstance = \"probe\"\nnetns = \"{}\"\n\n[[port]]\nname = \"{}\"\n\n"
      "[[port]]\nname = \"{}\"\n",
      gw.name(), port.name_a(), absent);

  const CmdResult out = run_check("", fmt::format("--verbose -c {}", shell_quote(config.string())));
  EXPECT_EQ(out.exit_status, 0) << out.output;
  EXPECT_NE(
      out.output.find(fmt::format("ok: native XDP on {} [attached and detached", port.name_a())),
      std::string::npos)
      << out.output;
  EXPECT_NE(
      out.output.find(fmt::format("port {}: no such interface in netns {}, native XDP not checked",
                                  absent, gw.name())),
      std::string::npos)
      << out.output;
  // Verbose: one line per feature, so present ones show too.
  EXPECT_NE(out.output.find("ok: helper bpf_tail_call"), std::string::npos) << out.output;
}

// ---- native XDP on an interface ----

uint32_t attached_prog_id(const Netns& ns, int ifindex) {
  auto in = ns.enter();
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (int rc = bpf_xdp_query(ifindex, 0, &q); rc < 0)
    throw std::system_error(-rc, std::generic_category(), "bpf_xdp_query");
  return q.prog_id;
}

TEST(NativeXdpProbe, AttachesAndDetachesOnAFreeVeth) {
  Netns ns("nat");
  VethPair link(ns, ns);
  Finding f;
  {
    auto in = ns.enter();
    f = probe::probe_native_xdp(static_cast<uint32_t>(link.ifindex_a()), link.name_a());
  }
  EXPECT_EQ(f.status, Status::kAvailable) << f.line("") << " " << f.detail;
  EXPECT_EQ(f.display_name(), "native XDP on " + link.name_a());
  EXPECT_EQ(attached_prog_id(ns, link.ifindex_a()), 0u) << "the probe left its program attached";
}

TEST(NativeXdpProbe, LeavesAnAttachedNativeProgramAlone) {
  Netns ns("nat");
  VethPair link(ns, ns);
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  XdpAttachment theirs(ns, link.ifindex_a(), pass.get());
  const uint32_t before = attached_prog_id(ns, link.ifindex_a());
  ASSERT_NE(before, 0u);
  Finding f;
  {
    auto in = ns.enter();
    f = probe::probe_native_xdp(static_cast<uint32_t>(link.ifindex_a()), link.name_a());
  }
  EXPECT_EQ(f.status, Status::kAvailable);
  EXPECT_EQ(f.detail, fmt::format("runs XDP program id {} (native); left untouched", before));
  EXPECT_EQ(attached_prog_id(ns, link.ifindex_a()), before);
}

TEST(NativeXdpProbe, NextToAGenericProgramNativeIsNotChecked) {
  Netns ns("nat");
  VethPair link(ns, ns);
  UniqueFd pass = load_constant_xdp_prog(XDP_PASS);
  UniqueFd generic_link;
  {
    auto in = ns.enter();
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_SKB_MODE);
    generic_link.reset(bpf_link_create(pass.get(), link.ifindex_b(), BPF_XDP, &opts));
  }
  ASSERT_TRUE(generic_link) << "bpf_link_create generic: " << errno;
  const uint32_t before = attached_prog_id(ns, link.ifindex_b());
  Finding f;
  {
    auto in = ns.enter();
    f = probe::probe_native_xdp(static_cast<uint32_t>(link.ifindex_b()), link.name_b());
  }
  EXPECT_EQ(f.status, Status::kNotChecked);
  EXPECT_EQ(f.line(""), fmt::format("not checked: native XDP on {} (runs XDP program id {} "
                                    "(generic); left untouched)",
                                    link.name_b(), before));
  EXPECT_EQ(attached_prog_id(ns, link.ifindex_b()), before);
}

TEST(NativeXdpProbe, DeniedNativeXdpIsARequiredMissingLine) {
  Netns ns("nat");
  VethPair link(ns, ns);
  Finding f;
  {
    auto in = ns.enter();
    f = probe::probe_native_xdp(static_cast<uint32_t>(link.ifindex_a()), link.name_a(),
                                DenyList({"native_xdp"}));
  }
  EXPECT_EQ(f.line("6.18.44"),
            fmt::format("missing: native XDP on {} (denied by XDPGW_PROBE_DENY) — needed by XDP "
                        "in the driver (gateway.attach_mode = \"native\"), so xdpgw cannot run. "
                        "Fix: a driver with native XDP, or set gateway.attach_mode = \"generic\" "
                        "(slow).",
                        link.name_a()));
  EXPECT_EQ(attached_prog_id(ns, link.ifindex_a()), 0u);
}

}  // namespace
}  // namespace xdpgw::test
