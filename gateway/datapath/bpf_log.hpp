// What libbpf prints while an object loads, kept instead of sprayed on the
// terminal: a verifier refusal is ~1,000 lines of evidence for a bug report,
// while the operator needs the refused program's name and the verifier's last
// few lines ("program of this type cannot use helper bpf_xdp_adjust_meta#54").
#pragma once

#include <bpf/libbpf.h>

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace xdpgw::bpf_log {

// What a libbpf log says about a failed load.
struct LoadFailure {
  std::string program;  // the program the verifier refused; "" when none was
  std::string error;    // libbpf's "BPF program load failed: <error>" text, or ""
  // The verifier's last meaningful lines, oldest first: instructions without
  // their register state, the nearest source line (";... @ file.c:N") and
  // the error itself; statistics ("processed N insns") left out.
  std::vector<std::string> verifier_lines;
  // libbpf's own warnings when no program log is in the text (a map the
  // kernel refused, a missing section): the last few, oldest first.
  std::vector<std::string> warnings;
};

inline constexpr std::size_t kDefaultTailLines = 5;

// Pure: reads the text libbpf printed ("libbpf: prog 'NAME': -- BEGIN PROG
// LOAD LOG --" ... "-- END PROG LOAD LOG --", other "libbpf: ..." lines).
// When several programs' logs are in it, the last one counts (libbpf stops
// at the first refused program).
LoadFailure parse_load_failure(std::string_view libbpf_text,
                               std::size_t tail_lines = kDefaultTailLines);

// A few lines for the operator:
//   program 'xdpgw_dispatch' refused by the verifier (Invalid argument):
//     ; if (bpf_xdp_adjust_meta(...)) @ dispatcher.bpf.c:49
//     876: (85) call bpf_xdp_adjust_meta#54
//     program of this type cannot use helper bpf_xdp_adjust_meta#54
// "" when the failure holds nothing to say.
std::string format_summary(const LoadFailure& failure);

// Captures libbpf's output from construction to destruction (libbpf has one
// process-wide print function; this installs its own and restores the
// previous one, captures nest). Keeps every message at every level for
// write_full(); libbpf's warnings other than program logs also go to spdlog
// (warn), its info and debug chatter to spdlog debug. Messages from other
// threads using libbpf meanwhile are captured too. Neither copyable nor
// movable: the print function finds it by address.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

  // Everything libbpf printed so far, as it printed it.
  std::string text() const;
  LoadFailure failure(std::size_t tail_lines = kDefaultTailLines) const;
  // format_summary(failure()).
  std::string summary() const;
  // The whole text into `path` (created or truncated). Throws
  // std::system_error naming the path when it cannot be written.
  void write_full(const std::filesystem::path& path) const;

 private:
  static int print(enum libbpf_print_level level, const char* format, va_list args);
  void append(enum libbpf_print_level level, const std::string& message);

  mutable std::mutex mutex_;
  std::string text_;      // every level, for write_full()
  std::string warnings_;  // LIBBPF_WARN only, for failure()
  libbpf_print_fn_t previous_fn_ = nullptr;
  LibbpfLogCapture* previous_capture_ = nullptr;
};

}  // namespace xdpgw::bpf_log
