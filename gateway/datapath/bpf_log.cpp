#include "datapath/bpf_log.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <system_error>

namespace xdpgw::bpf_log {
namespace {

constexpr std::string_view kBeginMarker = "-- BEGIN PROG LOAD LOG --";
constexpr std::string_view kEndMarker = "-- END PROG LOAD LOG --";
constexpr std::string_view kLibbpfPrefix = "libbpf: ";

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "876: (85) call ..." (an instruction) rather than "0: R1=ctx() R10=fp0" (a
// register state at an instruction).
bool is_instruction(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && is_digit(line[i])) ++i;
  return i > 0 && line.substr(i).starts_with(": (");
}

// Register and stack state: "0: R1=ctx() R10=fp0", "R0=map_value(...)",
// "from 862 to 865: R0=...", precision-tracking lines.
bool is_state(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && is_digit(line[i])) ++i;
  if (i > 0 && line.substr(i).starts_with(": R")) return true;
  if (line.starts_with("R")) {
    size_t j = 1;
    while (j < line.size() && is_digit(line[j])) ++j;
    if (j > 1 && j < line.size() && line[j] == '=') return true;
  }
  return line.starts_with("from ") || line.starts_with("last_idx") || line.starts_with("regs=") ||
         line.starts_with("mark_precise");
}

// Counters the verifier prints at the end whether or not it succeeded.
bool is_statistics(std::string_view line) {
  return line.starts_with("processed ") || line.starts_with("verification time") ||
         line.starts_with("stack depth");
}

bool is_source(std::string_view line) { return line.starts_with("; "); }

// An instruction without the register state the verifier appends after
// "  ; ": "875: (bf) r1 = r6                     ; R1=ctx() R6=ctx()".
std::string_view without_state(std::string_view line) {
  if (auto semi = line.find(" ; "); semi != std::string_view::npos) line = line.substr(0, semi);
  return trim_right(line);
}

// The program named in "libbpf: prog 'NAME': ..."; "" when the line has none.
std::string_view program_of(std::string_view line) {
  constexpr std::string_view kProg = "prog '";
  auto at = line.find(kProg);
  if (at == std::string_view::npos) return {};
  auto name = line.substr(at + kProg.size());
  auto end = name.find("':");
  return end == std::string_view::npos ? std::string_view{} : name.substr(0, end);
}

std::vector<std::string> verifier_tail(const std::vector<std::string_view>& log,
                                       size_t tail_lines) {
  std::vector<std::string> tail;  // newest first while collecting
  bool have_source = false;
  size_t i = log.size();
  while (i > 0 && tail.size() < tail_lines) {
    auto line = trim_right(log[--i]);
    if (line.empty() || is_statistics(line)) continue;
    if (is_instruction(line)) {
      tail.emplace_back(without_state(line));
    } else if (is_source(line)) {
      tail.emplace_back(line);
      have_source = true;
    } else if (!is_state(line) || tail.empty()) {
      // The error itself may start like a register ("R2 !read_ok"), so the
      // newest line is always kept.
      tail.emplace_back(line);
    }
  }
  // The source line says where in the C code it failed; reach back for it
  // when the last few instructions came from one long C statement.
  if (!have_source)
    while (i > 0)
      if (auto line = trim_right(log[--i]); is_source(line)) {
        tail.emplace_back(line);
        break;
      }
  std::reverse(tail.begin(), tail.end());
  return tail;
}

}  // namespace

LoadFailure parse_load_failure(std::string_view libbpf_text, size_t tail_lines) {
  LoadFailure failure;
  auto lines = split_lines(libbpf_text);
  std::vector<std::string_view> outside;  // libbpf's own lines
  std::vector<std::string_view> program_log;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto line = trim_right(lines[i]);
    if (line.find(kBeginMarker) != std::string_view::npos) {
      failure.program = std::string(program_of(line));
      program_log.clear();
      for (++i; i < lines.size() && lines[i].find(kEndMarker) == std::string_view::npos; ++i)
        program_log.push_back(lines[i]);
      // The kernel's log may lack a final newline: "...insns\n-- END" vs
      // "...insns-- END" on the same line.
      if (i < lines.size()) {
        auto last = lines[i].substr(0, lines[i].find(kEndMarker));
        if (!trim_right(last).empty()) program_log.push_back(last);
      }
      continue;
    }
    constexpr std::string_view kLoadFailed = "BPF program load failed: ";
    if (auto at = line.find(kLoadFailed); at != std::string_view::npos) {
      failure.error = std::string(line.substr(at + kLoadFailed.size()));
      if (failure.program.empty()) failure.program = std::string(program_of(line));
    }
    if (line.starts_with(kLibbpfPrefix)) outside.push_back(line.substr(kLibbpfPrefix.size()));
  }
  if (!program_log.empty()) {
    failure.verifier_lines = verifier_tail(program_log, tail_lines);
  } else {
    auto first = outside.size() > tail_lines ? outside.end() - tail_lines : outside.begin();
    for (auto it = first; it != outside.end(); ++it) failure.warnings.emplace_back(*it);
  }
  return failure;
}

std::string format_summary(const LoadFailure& failure) {
  std::string out;
  if (!failure.verifier_lines.empty()) {
    out = fmt::format("program '{}' refused by the verifier{}:", failure.program,
                      failure.error.empty() ? "" : fmt::format(" ({})", failure.error));
    for (const auto& l : failure.verifier_lines) out += "\n  " + l;
    return out;
  }
  if (!failure.program.empty())
    out = fmt::format("program '{}' failed to load{}", failure.program,
                      failure.error.empty() ? "" : fmt::format(" ({})", failure.error));
  for (const auto& w : failure.warnings) out += (out.empty() ? "libbpf: " : "\n  libbpf: ") + w;
  return out;
}

namespace {
// The capture libbpf's print function feeds. libbpf has one print function
// per process and passes it no context, so the active capture has to be
// reachable from a static function; captures nest (each remembers the one
// it replaced).
std::mutex g_active_mutex;
LibbpfLogCapture* g_active = nullptr;
}  // namespace

LibbpfLogCapture::LibbpfLogCapture() {
  std::lock_guard lock(g_active_mutex);
  previous_capture_ = g_active;
  g_active = this;
  previous_fn_ = libbpf_set_print(&LibbpfLogCapture::print);
}

LibbpfLogCapture::~LibbpfLogCapture() {
  std::lock_guard lock(g_active_mutex);
  libbpf_set_print(previous_fn_);
  g_active = previous_capture_;
}

int LibbpfLogCapture::print(enum libbpf_print_level level, const char* format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int size = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (size < 0) return size;
  std::string message(static_cast<size_t>(size), '\0');
  std::vsnprintf(message.data(), message.size() + 1, format, args);
  std::lock_guard lock(g_active_mutex);
  if (g_active) g_active->append(level, message);
  return size;
}

void LibbpfLogCapture::append(enum libbpf_print_level level, const std::string& message) {
  {
    std::lock_guard lock(mutex_);
    text_ += message;
    if (level == LIBBPF_WARN) warnings_ += message;
  }
  // A program log is the evidence write_full() keeps, not a terminal message.
  if (message.find(kBeginMarker) != std::string::npos) return;
  std::string_view line = trim_right(message);
  while (!line.empty() && line.back() == '\n') line = trim_right(line.substr(0, line.size() - 1));
  if (level == LIBBPF_WARN)
    spdlog::warn("{}", line);
  else
    spdlog::debug("{}", line);
}

std::string LibbpfLogCapture::text() const {
  std::lock_guard lock(mutex_);
  return text_;
}

LoadFailure LibbpfLogCapture::failure(size_t tail_lines) const {
  // Warnings only: libbpf prints program logs and failures at that level,
  // and its debug chatter would crowd the last lines of a failure without a
  // program log.
  std::lock_guard lock(mutex_);
  return parse_load_failure(warnings_, tail_lines);
}

std::string LibbpfLogCapture::summary() const { return format_summary(failure()); }

void LibbpfLogCapture::write_full(const std::filesystem::path& path) const {
  std::ofstream out(path, std::ios::trunc);
  if (out) out << text();
  if (!out || !out.flush())
    throw std::system_error(errno ? errno : EIO, std::generic_category(),
                            fmt::format("write libbpf log to {}", path.string()));
}

}  // namespace xdpgw::bpf_log
