// Which kernel facilities the XDP datapath needs, and whether this kernel
// has them, found by loading tiny programs and creating tiny maps.
//
// Not libbpf_probe_* or `bpftool feature probe`: on 6.18.44 they report skb
// helpers and bpf_xdp_adjust_meta as usable from XDP while the verifier
// refuses them (PLATFORM.md). What the verifier and BPF_MAP_CREATE accept is
// the only evidence that counts.
//
// Each missing feature prints as one line (Finding::line): what is missing,
// which xdpgw feature needs it, and what to do. Tests can make any probe fail
// on purpose with XDPGW_PROBE_DENY=key,key (see DenyList).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xdpgw::probe {

// What uses a kernel feature. kRouter: the datapath object uses it
// unconditionally, so without it xdpgw cannot run. The next six are xdpgw
// features that can be off (the loader turns the code path off when the
// kernel lacks what it needs). kTests/kBenchGenerator: only the test suite
// and benchmarks use it, not xdpgw. kNothing: probed for the record.
enum class Use {
  kRouter,
  kFib,
  kSteering,
  kAfXdp,
  kAcl,
  kEvents,
  kDropCapture,
  kProxy,
  kSynproxy,
  kTests,
  kBenchGenerator,
  kNothing,
};

struct Feature {
  std::string_view key;   // no spaces; for XDPGW_PROBE_DENY and Report::available
  std::string_view name;  // as printed: "helper bpf_tail_call", "map DEVMAP_HASH"
  Use use;
  std::string_view needed_by;  // the xdpgw feature: "drop capture (xdpgw capture --what drops)"
  std::string_view since;  // upstream Linux that added it (for XDP), "" when not a kernel matter
  // Short of another kernel (or driver): what makes xdpgw stop needing it,
  // e.g. `leave [steering] cpus empty`; "" when nothing does.
  std::string_view instead;

  bool required() const noexcept { return use == Use::kRouter; }
};

// Every feature probe_kernel() checks, in the order it checks them, followed
// by the per-interface native-XDP feature.
const std::vector<Feature>& features();

// The feature probe_native_xdp() reports on.
const Feature& native_xdp_feature();

enum class Status {
  kAvailable,
  kMissing,
  // Could not be decided without disturbing something, e.g. an interface
  // that already runs an XDP program in generic mode (native cannot be
  // tried next to it).
  kNotChecked,
};

struct Finding {
  const Feature* feature = nullptr;
  Status status = Status::kNotChecked;
  std::string subject;  // the interface a native-XDP probe ran on; "" for kernel features
  // Why it is missing or not checked, short enough for the one line:
  // "XDP programs cannot call it", "cannot be created: Invalid argument".
  std::string reason;
  // What the kernel said (the verifier's line, the errno of each step), for
  // --verbose and bug reports. Also set for available features when useful.
  std::string detail;

  bool available() const noexcept { return status == Status::kAvailable; }
  bool missing() const noexcept { return status == Status::kMissing; }
  // "helper bpf_tail_call", "native XDP on xgw0".
  std::string display_name() const;
  // The one-line message for a missing feature (see line_for in probe.cpp):
  // missing: NAME (REASON) — needed by NEEDED_BY, which is turned off. Fix: REMEDY.
  // `kernel_release` decides between "Linux >= X" and "a kernel that allows
  // it". For a feature that is not missing: "ok: NAME" or "not checked: NAME (REASON)".
  std::string line(std::string_view kernel_release) const;
};

struct Report {
  std::string kernel_release;  // uname -r
  std::vector<Finding> findings;

  // No required feature is missing.
  bool ok() const;
  // Every finding for the feature with this key is available. Throws
  // std::invalid_argument for a key no finding has (a typo, or a port probe
  // that never ran).
  bool available(std::string_view key) const;
  // One line per missing feature xdpgw or its tools use (kNothing left
  // out), required ones first, otherwise in probe order.
  std::vector<std::string> missing_lines() const;
  // "kernel 6.18.44: 33 features checked, all required present; 1 optional missing"
  std::string summary() const;
};

// Feature keys (or names) the probes must report missing, with
// "denied by XDPGW_PROBE_DENY" as the reason: a testing aid to exercise what
// xdpgw does without a feature on a kernel that has it.
class DenyList {
 public:
  DenyList() = default;
  // Throws std::invalid_argument naming an entry that is no feature's key or
  // name, so a misspelt deny list cannot silently test nothing.
  explicit DenyList(std::vector<std::string> entries);
  // From XDPGW_PROBE_DENY (comma-separated keys); empty when unset.
  static DenyList from_env();

  bool denies(const Feature& f) const;
  bool empty() const noexcept { return entries_.empty(); }

 private:
  std::vector<std::string> entries_;
};

inline constexpr std::string_view kDenyEnv = "XDPGW_PROBE_DENY";
inline constexpr std::string_view kDeniedReason = "denied by XDPGW_PROBE_DENY";

// Loads, creates and test-runs every kernel feature in features() (except
// native XDP, which needs an interface). Touches nothing outside the process:
// the bpf_link probe attaches to the loopback of a private network namespace
// that disappears with it. Needs CAP_BPF/CAP_NET_ADMIN/CAP_SYS_ADMIN (root):
// throws std::system_error (EPERM) when not even a trivial XDP program may
// be loaded, rather than report every feature missing.
Report probe_kernel(const DenyList& deny = {});

// Whether native (driver-mode) XDP attaches on an interface of the calling
// thread's network namespace. An interface that already runs an XDP program
// is reported with that program's id and mode and left untouched (native is
// then available if that program runs in native mode, otherwise not
// checked). Otherwise a trivial XDP_PASS program is attached with a bpf_link
// in native mode and detached at once.
Finding probe_native_xdp(uint32_t ifindex, std::string_view ifname, const DenyList& deny = {});

// Which optional xdpgw features the kernel allows: each is true only when
// every kernel feature it needs is available.
struct Usable {
  bool fib = false;           // routing.source = "fib" (bpf_fib_lookup)
  bool steering = false;      // [steering] cpus (CPUMAP and its second stage)
  bool af_xdp = false;        // [punt] (XSKMAP)
  bool acl = false;           // [[acl]] rules (bpf_loop)
  bool events = false;        // xdpgw events (RINGBUF)
  bool drop_capture = false;  // xdpgw capture --what drops (perf event output)
  bool proxy = false;         // [[vip]] mode = "proxy" (SOCKHASH + sk_skb verdict)
  bool synproxy = false;      // [vip.synproxy] (bpf_tcp_raw_*_syncookie_*)
};
Usable usable(const Report& report);

}  // namespace xdpgw::probe
