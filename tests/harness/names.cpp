#include "harness/names.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "harness/run.hpp"

namespace xdpgw::test {
namespace {

constexpr std::string_view kPrefix = "xgt";

// Process-wide counters: uniqueness is per process, and the pid in the prefix
// separates processes. Separate counters keep interface-name numbers small.
std::atomic<unsigned> name_counter{0};
std::atomic<unsigned> ifname_counter{0};

bool process_running(pid_t pid) {
  // EPERM means it exists but belongs to someone we may not signal.
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

bool is_leftover(std::string_view name) {
  std::optional<pid_t> pid = owner_pid(name);
  return pid && !process_running(*pid);
}

std::vector<std::string> list_netns() {
  // Lines look like "name" or "name (id: 3)".
  std::istringstream lines(run_ok("ip netns list"));
  std::vector<std::string> names;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    if (std::string name; words >> name) names.push_back(std::move(name));
  }
  return names;
}

void remove_leftover_netns() {
  std::vector<std::string> names;
  try {
    names = list_netns();
  } catch (const std::exception& e) {
    std::cerr << "xdpgw test harness: cannot list netns: " << e.what() << '\n';
    return;
  }
  for (const std::string& name : names) {
    if (!is_leftover(name)) continue;
    CmdResult deleted = run_cmd("ip netns del " + shell_quote(name));
    if (deleted.ok()) {
      std::cerr << "xdpgw test harness: removed leftover netns " << name << '\n';
    } else if (std::filesystem::exists("/run/netns/" + name)) {
      // Not an error when a parallel cleanup removed it first.
      std::cerr << "xdpgw test harness: cannot remove leftover netns " << name << ": "
                << deleted.output;
    }
  }
}

void remove_leftover_pins(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> leftovers;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (is_leftover(entry.path().filename().string())) leftovers.push_back(entry.path());
  }
  // A missing dir (no bpffs, no gateway instance yet) leaves ec set: nothing to do.
  for (const auto& path : leftovers) {
    // bpffs supports unlink of pins and rmdir of empty dirs, which is all
    // remove_all needs.
    std::filesystem::remove_all(path, ec);
    if (ec) {
      std::cerr << "xdpgw test harness: cannot remove leftover pin " << path << ": "
                << ec.message() << '\n';
    } else {
      std::cerr << "xdpgw test harness: removed leftover pin " << path << '\n';
    }
  }
}

bool valid_iftag(std::string_view tag) {
  if (tag.empty() || !std::isalpha(static_cast<unsigned char>(tag.front()))) return false;
  for (char c : tag) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string run_prefix() { return fmt::format("{}{}", kPrefix, ::getpid()); }

std::string unique_name(std::string_view tag) {
  return fmt::format("{}-{}{}", run_prefix(), tag, ++name_counter);
}

std::string unique_ifname(std::string_view tag, std::size_t reserve) {
  if (!valid_iftag(tag)) {
    throw std::invalid_argument(fmt::format(
        "unique_ifname: tag '{}' must start with a letter and hold only letters and digits",
        tag));
  }
  const std::string prefix = run_prefix();
  const std::string number = std::to_string(++ifname_counter);
  const std::size_t fixed = prefix.size() + number.size() + reserve;
  if (fixed + 1 > kMaxIfnameLength) {
    throw std::length_error(fmt::format(
        "unique_ifname: '{}<tag>{}' plus {} reserved characters exceeds {} characters", prefix,
        number, reserve, kMaxIfnameLength));
  }
  tag = tag.substr(0, kMaxIfnameLength - fixed);
  return fmt::format("{}{}{}", prefix, tag, number);
}

std::optional<pid_t> owner_pid(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = name.substr(kPrefix.size());
  if (rest.starts_with('0')) return std::nullopt;  // we never print leading zeros
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc{} || end == rest.data() || pid <= 0) return std::nullopt;
  // from_chars stops at the first non-digit: whatever follows is the tag.
  return pid;
}

void cleanup_leftovers() {
  remove_leftover_netns();
  remove_leftover_pins("/sys/fs/bpf");
  remove_leftover_pins("/sys/fs/bpf/xdpgw");
  remove_leftover_pins("/sys/fs/bpf/xdpgw-decap");
}

void LeftoverCleanupEnvironment::SetUp() { cleanup_leftovers(); }

}  // namespace xdpgw::test
