#include "runner/gateway_daemon.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "datapath/abi.hpp"
#include "harness/prog_run.hpp"
#include "harness/run.hpp"

namespace xdpgw::bench {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(10);
// Where `xdpgw run` pins an instance and keeps its lock (README "Using it").
const std::filesystem::path kPinRoot = "/sys/fs/bpf/xdpgw";
const std::filesystem::path kRunDir = "/run/xdpgw";

std::uintmax_t log_size(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// The file's text from byte `from` on.
std::string read_text(const std::filesystem::path& path, std::uintmax_t from = 0) {
  std::ifstream in(path);
  in.seekg(static_cast<std::streamoff>(from));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::filesystem::path write_config(const std::filesystem::path& dir, const std::string& instance,
                                   const std::string& toml) {
  const std::filesystem::path path = dir / (instance + ".toml");
  std::ofstream(path) << toml;
  return path;
}

}  // namespace

XdpgwDaemon::XdpgwDaemon(const std::filesystem::path& xdpgw_binary, const std::string& netns,
                         const std::string& instance, const std::string& config_toml,
                         const std::filesystem::path& work_dir)
    : binary_(xdpgw_binary),
      instance_(instance),
      log_(work_dir / (instance + ".log")),
      log_start_(log_size(log_)),
      process_({binary_.string(), "run", "-c", write_config(work_dir, instance, config_toml).string(),
                "--netns", netns, "--fresh"},
               log_) {
  try {
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    const std::string running = fmt::format("instance {}: running", instance_);
    while (read_text(log_, log_start_).find(running) == std::string::npos) {
      if (auto status = process_.poll()) {
        throw std::runtime_error(fmt::format("xdpgw run ({}) ended ({}):\n{}", instance_,
                                             status->describe(), read_text(log_, log_start_)));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error(
            fmt::format("xdpgw run ({}) not running after 30 s:\n{}", instance_, read_text(log_, log_start_)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::filesystem::path pin = kPinRoot / instance_ / "verdict_stats";
    const int fd = bpf_obj_get(pin.c_str());
    if (fd < 0) throw_errno(errno, "bpf_obj_get " + pin.string());
    verdict_stats_ = UniqueFd(fd);
    // Optional: only builds with the connection table pin it.
    const std::filesystem::path conn_pin = kPinRoot / instance_ / "conn_stats";
    if (const int conn_fd = bpf_obj_get(conn_pin.c_str()); conn_fd >= 0) conn_stats_ = UniqueFd(conn_fd);
  } catch (...) {
    stop_and_detach();  // no destructor runs for a half-built object
    throw;
  }
}

XdpgwDaemon::~XdpgwDaemon() { stop_and_detach(); }

void XdpgwDaemon::stop_and_detach() noexcept {
  try {
    const test::ExitStatus status = process_.terminate(SIGTERM, kStopGrace);
    // SIGINT from a Ctrl-C reaches the daemon too (same process group); a
    // daemon that ended by itself before is fine either way.
    if (!status.clean() && status.signal == 0 && status.exit_code != 0) {
      std::cerr << fmt::format("xdpgw-bench: daemon {} ended with {}; log {}\n", instance_,
                               status.describe(), log_.string());
    }
    const test::CmdResult detach = test::run_cmd(fmt::format(
        "{} stop --instance {} --detach 2>&1", test::shell_quote(binary_.string()), test::shell_quote(instance_)));
    if (!detach.ok()) {
      std::cerr << fmt::format("xdpgw-bench: xdpgw stop --instance {} --detach failed: {}", instance_,
                               detach.output);
    }
    std::error_code ec;
    std::filesystem::remove(kRunDir / (instance_ + ".lock"), ec);
  } catch (const std::exception& e) {
    std::cerr << "xdpgw-bench: stopping daemon " << instance_ << ": " << e.what() << '\n';
  }
}

std::map<std::string, uint64_t> XdpgwDaemon::verdicts() const {
  std::map<std::string, uint64_t> out;
  for (unsigned reason = 0; reason < XDPGW_R_COUNT; ++reason) {
    const xdpgw_counter total = test::sum_percpu<xdpgw_counter>(
        verdict_stats_.get(), reason, [](xdpgw_counter sum, const xdpgw_counter& cpu) {
          sum.packets += cpu.packets;
          sum.bytes += cpu.bytes;
          return sum;
        });
    if (total.packets != 0) out[std::string(abi::reason_name(reason))] = total.packets;
  }
  return out;
}

std::optional<ConnStats> XdpgwDaemon::conn_stats() const {
  if (!conn_stats_) return std::nullopt;
  return ConnStats{
      .inserted = test::sum_percpu<uint64_t>(conn_stats_.get(), XDPGW_CONN_INSERTED),
      .insert_raced = test::sum_percpu<uint64_t>(conn_stats_.get(), XDPGW_CONN_INSERT_RACED)};
}

std::optional<MapMemory> XdpgwDaemon::map_memory(std::string_view pin_name) const {
  const std::filesystem::path pin = kPinRoot / instance_ / pin_name;
  const int raw_fd = bpf_obj_get(pin.c_str());
  if (raw_fd < 0) return std::nullopt;
  const UniqueFd fd(raw_fd);
  // fdinfo lines: "map_type:\t9", "key_size:\t40", "memlock:\t123456", ...
  MapMemory out;
  std::ifstream info(fmt::format("/proc/self/fdinfo/{}", fd.get()));
  std::string field;
  uint64_t value = 0;
  std::string line;
  while (std::getline(info, line)) {
    std::istringstream fields(line);
    if (!(fields >> field >> value)) continue;
    if (field == "map_type:") out.map_type = static_cast<uint32_t>(value);
    if (field == "max_entries:") out.max_entries = static_cast<uint32_t>(value);
    if (field == "key_size:") out.key_size = static_cast<uint32_t>(value);
    if (field == "value_size:") out.value_size = static_cast<uint32_t>(value);
    if (field == "memlock:") out.memlock = value;
  }
  if (out.key_size == 0) {
    throw std::runtime_error(fmt::format("no key_size in the fdinfo of {}", pin.string()));
  }
  std::vector<uint8_t> key(out.key_size), next(out.key_size);
  const void* previous = nullptr;  // null: the first key
  while (bpf_map_get_next_key(fd.get(), previous, next.data()) == 0) {
    ++out.entries;
    key.swap(next);
    previous = key.data();
  }
  return out;
}

std::optional<ProcessMemory> XdpgwDaemon::memory() const {
  std::ifstream status(fmt::format("/proc/{}/status", process_.pid()));
  if (!status) return std::nullopt;
  ProcessMemory out;
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream fields(line);
    std::string field;
    uint64_t kib = 0;
    if (!(fields >> field >> kib)) continue;
    if (field == "VmRSS:") out.rss = kib * 1024;
    if (field == "VmHWM:") out.peak_rss = kib * 1024;
  }
  return out;
}

std::string XdpgwDaemon::stats_text() const {
  return test::run_cmd(fmt::format("{} stats --instance {} 2>&1", test::shell_quote(binary_.string()),
                                   test::shell_quote(instance_)))
      .output;
}

std::map<std::string, uint64_t> XdpgwDaemon::pipeline_packets() const {
  const std::string json = test::run_ok(fmt::format("{} status --instance {} --json",
                                                    test::shell_quote(binary_.string()),
                                                    test::shell_quote(instance_)));
  const nlohmann::json status = nlohmann::json::parse(json);
  std::map<std::string, uint64_t> out;
  if (!status.contains("pipeline") || status.at("pipeline").is_null()) return out;
  for (const auto& [name, value] : status.at("pipeline").at("packets").items()) {
    out[name] = value.get<uint64_t>();
  }
  return out;
}

}  // namespace xdpgw::bench
