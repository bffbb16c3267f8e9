#include "cli/commands.hpp"
#include "cli/logging.hpp"

#include <bpf/bpf.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <thread>
#include <tuple>
#include <optional>
#include <string>

#include "announce/announcer.hpp"
#include "flow_export/exporter.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "config/config.hpp"
#include "control/control_client.hpp"
#include "daemon/lb_observe.hpp"
#include "daemon/pipeline_observe.hpp"
#include "daemon/observe.hpp"
#include "daemon/daemon.hpp"
#include "datapath/abi.hpp"
#include "datapath/datapath.hpp"
#include "datapath/decap.hpp"
#include "datapath/netdev.hpp"
#include "datapath/snat_apply.hpp"
#include "datapath/probe.hpp"

namespace xdpgw::cli {
namespace {

int g_exit_code = kExitOk;

// `check --offline`: every interface the config names is taken to exist,
// each under an index of its own (1, 2, ... in the order validation asks),
// so a machine without them (a CI runner checking configs) validates
// everything else. The indexes are distinct, as real ones are, so whatever
// validation keys by ifindex keeps one entry per port.
class AssumeInterfacesExist final : public config::Environment {
 public:
  std::optional<uint32_t> ifindex(std::string_view name) const override {
    auto [it, inserted] = seen_.try_emplace(std::string(name), 0);
    if (inserted) it->second = static_cast<uint32_t>(seen_.size());
    return it->second;
  }

 private:
  mutable std::map<std::string, uint32_t, std::less<>> seen_;
};

// Where load_config reports each error of a bad config.
using ConfigErrorSink = std::function<void(const config::ConfigError&)>;

// A config error on stderr: under journald (ExecStartPre=xdpgw check, or
// run refusing its config) with the error priority, as the logger's lines.
void print_config_error(const config::ConfigError& error) {
  static const bool journal = stderr_is_journal();
  std::cerr << (journal ? "<3>" : "") << error.to_string() << '\n';
}

nlohmann::json to_json(const config::ConfigError& e) {
  return {{"file", e.file}, {"line", e.pos.line}, {"column", e.pos.column}, {"message", e.message}};
}

// parse -> (enter the configured netns) -> validate. Prints every error as
// FILE:LINE:COL: message and returns nullopt when the config is bad.
// offline: interfaces are not looked up (nor the netns entered).
std::optional<config::Config> load_config(const std::string& path,
                                          const std::string& netns_override,
                                          bool offline = false,
                                          const ConfigErrorSink& on_error = print_config_error) {
  auto raw = config::parse(path);
  if (!raw) {
    for (const auto& e : raw.errors()) on_error(e);
    return std::nullopt;
  }
  std::string netns = netns_override;
  if (netns.empty() && raw.value().gateway && raw.value().gateway->netns)
    netns = raw.value().gateway->netns->value;
  auto cfg = [&] {
    if (offline) return config::validate(raw.value(), AssumeInterfacesExist{});
    // Interface names are checked where the gateway will run.
    if (!netns.empty()) netdev::enter_netns(netns);
    return config::validate(raw.value(), daemon::SystemEnvironment{});
  }();
  if (!cfg) {
    for (const auto& e : cfg.errors()) on_error(e);
    return std::nullopt;
  }
  return std::move(cfg).value();
}

// `check --kernel`: the kernel probe, then native XDP on each port of the
// config (-c) that exists where the gateway would run. The config only names
// the ports here; `check -c` without --kernel validates it. Returns the exit
// code.
int check_kernel(const std::string& config_path, const std::string& netns_override, bool verbose) {
  const auto deny = probe::DenyList::from_env();
  std::vector<std::string> ports;
  std::string netns = netns_override;
  bool generic_mode = false;
  if (!config_path.empty()) {
    auto raw = config::parse(config_path);
    if (!raw) {
      for (const auto& e : raw.errors()) std::cerr << e.to_string() << '\n';
      return kExitBadConfig;
    }
    for (const auto& port : raw.value().ports)
      if (port.name) ports.push_back(port.name->value);
    if (const auto& gw = raw.value().gateway) {
      if (netns.empty() && gw->netns) netns = gw->netns->value;
      generic_mode = gw->attach_mode && gw->attach_mode->value == "generic";
    }
  }

  // Before entering the gateway's namespace: the kernel probe is the same
  // everywhere and makes its own private namespace for the bpf_link probe.
  probe::Report report = probe::probe_kernel(deny);
  std::vector<std::string> notes;
  if (!ports.empty() && !netns.empty()) {
    if (std::filesystem::exists("/run/netns/" + netns)) {
      netdev::enter_netns(netns);
    } else {
      notes.push_back(
          fmt::format("netns {} does not exist: native XDP not checked on its ports", netns));
      ports.clear();
    }
  }
  for (const auto& name : ports) {
    if (generic_mode) {
      notes.push_back(
          fmt::format("port {}: gateway.attach_mode = \"generic\", native XDP not needed", name));
      continue;
    }
    auto ifindex = netdev::ifindex(name);
    if (!ifindex) {
      notes.push_back(fmt::format("port {}: no such interface{}, native XDP not checked", name,
                                  netns.empty() ? "" : " in netns " + netns));
      continue;
    }
    report.findings.push_back(probe::probe_native_xdp(*ifindex, name, deny));
  }

  std::cout << report.summary() << '\n';
  if (verbose) {
    for (const auto& f : report.findings)
      std::cout << f.line(report.kernel_release)
                << (f.detail.empty() ? "" : fmt::format(" [{}]", f.detail)) << '\n';
  } else {
    for (const auto& line : report.missing_lines()) std::cout << line << '\n';
    for (const auto& f : report.findings)
      if (f.status == probe::Status::kNotChecked)
        std::cout << f.line(report.kernel_release) << '\n';
  }
  for (const auto& note : notes) std::cout << note << '\n';
  return report.ok() ? kExitOk : kExitMissingFeature;
}

void add_check(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "check",
      "Parse and validate a config file; print every error as FILE:LINE:COL: message. Exit 0 "
      "if valid, 2 if not. With --offline: everything but the existence of the interfaces "
      "(for a machine that does not have them, such as a CI runner). With --kernel: load tiny programs and maps to find every kernel "
      "feature the datapath needs (and native XDP on each port of -c, when given); print a "
      "summary and one line per missing feature. Exit 0 when every required feature is "
      "present, 2 otherwise. Testing aid: XDPGW_PROBE_DENY=key,key (bpf_tail_call, CPUMAP, "
      "native_xdp, ...) makes those probes report missing.");
  auto path = std::make_shared<std::string>();
  auto netns = std::make_shared<std::string>();
  auto kernel = std::make_shared<bool>(false);
  auto verbose = std::make_shared<bool>(false);
  auto offline = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-c,--config", *path, "Config file (TOML); required unless --kernel");
  cmd->add_option("--netns", *netns,
                  "Check interface names in this network namespace "
                  "(overrides gateway.netns)");
  auto* kernel_flag = cmd->add_flag(
      "--kernel", *kernel, "Probe the kernel's BPF/XDP features instead of validating the config");
  cmd->add_flag("--offline", *offline,
                "Validate everything but whether the interfaces exist (no netns entered)")
      ->excludes(kernel_flag);
  cmd->add_flag("-j,--json", *json,
                "One JSON object: valid, the errors (file, line, column, message) or a summary")
      ->excludes(kernel_flag);
  cmd->add_flag("--verbose", *verbose,
                "With --kernel: one line per feature, with what the kernel said");
  cmd->callback([path, netns, kernel, verbose, offline, json] {
    if (*kernel) {
      try {
        g_exit_code = check_kernel(*path, *netns, *verbose);
      } catch (const std::invalid_argument& e) {  // a bad XDPGW_PROBE_DENY
        std::cerr << e.what() << '\n';
        g_exit_code = kExitBadConfig;
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        g_exit_code = kExitFailure;
      }
      return;
    }
    if (path->empty()) throw CLI::RequiredError("-c,--config (or --kernel)");
    nlohmann::json errors = nlohmann::json::array();
    auto cfg = *json ? load_config(*path, *netns, *offline,
                                   [&](const config::ConfigError& e) { errors.push_back(to_json(e)); })
                     : load_config(*path, *netns, *offline);
    if (!cfg) {
      if (*json)
        std::cout << nlohmann::json{{"file", *path}, {"valid", false}, {"offline", *offline},
                                    {"errors", errors}}
                         .dump(2)
                  << '\n';
      g_exit_code = kExitBadConfig;
      return;
    }
    // Translating to an address the gateway does not own: no reply would
    // ever reach it. Checked where the gateway runs (load_config entered
    // its netns), so not with --offline.
    if (!*offline && cfg->nat.enabled()) {
      try {
        check_snat_addresses_owned(cfg->nat, local_ipv4_addresses());
      } catch (const std::runtime_error& e) {
        std::cerr << *path << ": " << e.what() << '\n';
        g_exit_code = kExitBadConfig;
        return;
      }
    }
    std::size_t set_prefixes = 0;
    for (const auto& set : cfg->policy.prefix_sets) set_prefixes += set.prefixes.size();
    if (*json) {
      nlohmann::json ports = nlohmann::json::array();
      for (const auto& p : cfg->ports) ports.push_back(p.name);
      std::cout << nlohmann::json{{"file", *path},
                                  {"valid", true},
                                  {"offline", *offline},
                                  {"errors", errors},
                                  {"instance", cfg->gateway.instance},
                                  {"ports", ports},
                                  {"routing", config::to_string(cfg->routing.source)},
                                  {"vips", cfg->lb.vips.size()},
                                  {"acl_rules", cfg->policy.acl.size()},
                                  {"prefix_sets", cfg->policy.prefix_sets.size()},
                                  {"prefixes", set_prefixes}}
                       .dump(2)
                << '\n';
      return;
    }
    std::cout << fmt::format(
        "{}: ok (instance {}, {} ports, routing {}, {} VIPs, {} ACL rules, {} prefix sets "
        "of {} prefixes){}\n",
        *path, cfg->gateway.instance, cfg->ports.size(), config::to_string(cfg->routing.source),
        cfg->lb.vips.size(), cfg->policy.acl.size(), cfg->policy.prefix_sets.size(), set_prefixes,
        *offline ? "; interfaces not checked (--offline)" : "");
  });
}

void add_run(CLI::App& app, const std::shared_ptr<const std::string>& log_level) {
  auto* cmd = app.add_subcommand(
      "run", "Load the XDP datapath (or adopt the one an earlier run left "
             "pinned), apply the config as a new generation, attach to every "
             "port and serve until SIGINT/SIGTERM. On exit XDP keeps "
             "forwarding with the last config; `xdpgw stop --detach` removes it.");
  auto path = std::make_shared<std::string>();
  auto netns = std::make_shared<std::string>();
  auto opts = std::make_shared<daemon::RunOptions>();
  cmd->add_option("-c,--config", *path, "Config file (TOML)")->required();
  cmd->add_option("--netns", *netns,
                  "Run in this network namespace (/run/netns/NAME; overrides "
                  "gateway.netns). Pins stay in the host's bpffs.");
  cmd->add_flag("--fresh", opts->fresh,
                "Start clean: remove the links, maps and counters an earlier "
                "run of this instance left pinned instead of adopting them");
  cmd->callback([path, netns, opts, log_level] {
    opts->log_level_from_command_line = !log_level->empty();
    auto cfg = load_config(*path, *netns);
    if (!cfg) {
      g_exit_code = kExitBadConfig;
      return;
    }
    try {
      g_exit_code = daemon::run(*path, *cfg, *opts);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      g_exit_code = kExitFailure;
    }
  });
}

void add_stop(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stop", "Stop the instance's daemon (SIGTERM). XDP keeps forwarding with "
              "the last config unless --detach is given.");
  auto instance = std::make_shared<std::string>("default");
  auto opts = std::make_shared<daemon::StopOptions>();
  cmd->add_option("--instance", *instance, "Instance name")->capture_default_str();
  cmd->add_flag("--detach", opts->detach,
                "Also detach XDP from every port and remove the instance's pins");
  cmd->callback([instance, opts] {
    try {
      g_exit_code = daemon::stop(*instance, *opts);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      g_exit_code = kExitFailure;
    }
  });
}

// How the CLI finds a daemon: by instance name (default socket path) or by
// an explicit socket.
struct Target {
  std::string instance = "default";
  std::string socket;  // empty: /run/xdpgw/<instance>.sock

  std::string socket_path() const {
    return socket.empty() ? fmt::format("{}/{}.sock", config::kDefaultSocketDir, instance)
                          : socket;
  }
};

// Long only: tcpdump's users read -i as the interface and -s as the
// snaplen (which `capture -s` is).
void add_target_options(CLI::App* cmd, Target& t) {
  cmd->add_option("--instance", t.instance, "Instance name")->capture_default_str();
  cmd->add_option("--socket", t.socket,
                  "Control socket (default /run/xdpgw/<instance>.sock)");
}

// The instance's counters: from the daemon, or from the pinned maps when
// none runs (XDP keeps counting without a daemon).
nlohmann::json read_stats(const Target& target, bool all) {
  try {
    return control::call(target.socket_path(), "stats", {{"all", all}});
  } catch (const control::DaemonNotRunning&) {
    auto dir = daemon::pin_dir(target.instance);
    auto open_pin = [&](const char* name) {
      std::string path = (dir / name).string();
      int fd = bpf_obj_get(path.c_str());
      if (fd < 0)
        throw_errno(errno, fmt::format("no daemon on {} and no pinned map {}",
                                       target.socket_path(), path));
      return UniqueFd(fd);
    };
    UniqueFd verdicts = open_pin("verdict_stats");
    UniqueFd handlers = open_pin("handler_stats");
    return daemon::stats_json(verdicts.get(), handlers.get(), all);
  }
}

// Per-port kernel counters from the daemon's status; empty without a daemon.
nlohmann::json read_ports(const Target& target) {
  try {
    return control::call(target.socket_path(), "status").value("ports", nlohmann::json::array());
  } catch (const control::DaemonNotRunning&) {
    return nlohmann::json::array();
  }
}

// `stats --interval N`: every N seconds, the rate of each reason that
// counted something since the previous sample, and each port's kernel
// rates, until interrupted. Rates divide by the time measured between the
// samples, not by N (a slow daemon answer would otherwise inflate them).
void print_rates(const Target& target, std::chrono::milliseconds interval, bool json) {
  static std::atomic<bool> interrupted{false};
  for (int sig : {SIGINT, SIGTERM}) std::signal(sig, [](int) { interrupted = true; });
  auto sample = [&] {
    return std::tuple{std::chrono::steady_clock::now(), read_stats(target, true),
                      read_ports(target)};
  };
  auto [then, before, ports_before] = sample();
  while (!interrupted) {
    for (auto slept = std::chrono::milliseconds(0); slept < interval && !interrupted;
         slept += std::chrono::milliseconds(50))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (interrupted) break;
    auto [now, after, ports_after] = sample();
    const double seconds = std::chrono::duration<double>(now - then).count();
    const auto rate = [&](const nlohmann::json& a, const nlohmann::json& b, const char* key) {
      const uint64_t x = a.value(key, uint64_t{0}), y = b.value(key, uint64_t{0});
      return y >= x ? double(y - x) / seconds : 0.0;  // a counter reset (--fresh) reads 0
    };
    nlohmann::json out{{"seconds", seconds}, {"reasons", nlohmann::json::object()},
                       {"ports", nlohmann::json::object()}};
    for (const auto& [reason, c] : after["reasons"].items()) {
      const nlohmann::json& prev =
          before["reasons"].contains(reason) ? before["reasons"][reason] : nlohmann::json::object();
      const double pps = rate(prev, c, "packets");
      if (pps == 0) continue;
      out["reasons"][reason] = {{"pps", pps},
                                {"bps", 8 * rate(prev, c, "bytes")},
                                {"outcome", c.value("outcome", "")}};
    }
    for (const auto& p : ports_after) {
      if (!p.value("present", false)) continue;
      const std::string name = p.value("name", "");
      nlohmann::json prev = nlohmann::json::object();
      for (const auto& q : ports_before)
        if (q.value("name", "") == name && q.value("present", false)) prev = q;
      if (prev.empty()) continue;
      out["ports"][name] = {{"rx_pps", rate(prev, p, "rx_packets")},
                            {"tx_pps", rate(prev, p, "tx_packets")},
                            {"rx_dropped_pps", rate(prev, p, "rx_dropped")}};
    }
    if (json) {
      std::cout << out.dump() << std::endl;
    } else {
      std::string text = fmt::format("-- {:.1f} s\n{:<28} {:>14} {:>16}  {}\n", seconds,
                                     "reason", "pps", "bps", "outcome");
      for (const auto& [reason, r] : out["reasons"].items())
        text += fmt::format("{:<28} {:>14.0f} {:>16.0f}  {}\n", reason, r["pps"].get<double>(),
                            r["bps"].get<double>(), r["outcome"].get<std::string>());
      if (!out["ports"].empty()) {
        text += fmt::format("{:<28} {:>14} {:>16} {:>14}\n", "port", "rx pps", "tx pps",
                            "rx dropped/s");
        for (const auto& [name, r] : out["ports"].items())
          text += fmt::format("{:<28} {:>14.0f} {:>16.0f} {:>14.0f}\n", name,
                              r["rx_pps"].get<double>(), r["tx_pps"].get<double>(),
                              r["rx_dropped_pps"].get<double>());
      }
      std::cout << text << std::flush;
    }
    then = now;
    before = std::move(after);
    ports_before = std::move(ports_after);
  }
}

void add_stats(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stats", "Print packet counters by verdict reason and by handler. Asks the "
               "daemon; when none runs, reads the instance's pinned maps directly "
               "(XDP keeps counting without a daemon). With --interval N: packets and "
               "bits per second per reason and per port, every N seconds, until Ctrl-C.");
  auto target = std::make_shared<Target>();
  auto json = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  auto interval = std::make_shared<double>(0);
  add_target_options(cmd, *target);
  cmd->add_flag("-j,--json", *json, "JSON output for scripts (with --interval: one object per line)");
  cmd->add_flag("-a,--all", *all, "Include reasons that counted nothing");
  cmd->add_option("--interval", *interval, "Print rates every N seconds (0.1..3600) until Ctrl-C")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->callback([target, json, all, interval] {
    try {
      if (*interval > 0) {
        print_rates(*target,
                    std::chrono::milliseconds(static_cast<int64_t>(*interval * 1000)), *json);
        return;
      }
      nlohmann::json stats = read_stats(*target, *all);
      if (!stats.contains("instance")) stats["instance"] = target->instance;
      std::string text = daemon::format_stats(stats, stats["instance"].get<std::string>());
      if (stats.contains("lb") && !stats["lb"]["vips"].empty())
        text += "\n" + daemon::format_lb(stats["lb"]);
      std::cout << (*json ? stats.dump(2) + "\n" : text);
    } catch (const std::exception& e) {
      std::cerr << "xdpgw stats: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

void add_status(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "status", "Explain the running instance: config generation, route source (with "
                "routing.source = \"kernel\": routes mirrored per family, last event, resyncs "
                "and the differences they found), each port's state, "
                "attach mode and program, and warnings about what makes XDP forwarding "
                "fail silently (veth peer without XDP, port down, program replaced, "
                "bpffs not mounted), and the flow-export collectors with the records, "
                "packets and errors sent to each.");
  auto target = std::make_shared<Target>();
  auto json = std::make_shared<bool>(false);
  add_target_options(cmd, *target);
  cmd->add_flag("-j,--json", *json, "JSON output for scripts");
  cmd->callback([target, json] {
    try {
      auto status = control::call(target->socket_path(), "status");
      std::string text = daemon::format_status(status);
      if (status.contains("lb") && !status["lb"]["vips"].empty())
        text += daemon::format_lb(status["lb"]);
      if (status.contains("pipeline") && !status["pipeline"].is_null())
        text += daemon::format_pipeline(status["pipeline"]);
      if (status.contains("announce")) text += announce::format_status(status["announce"]);
      if (status.contains("flow_export")) text += flow_export::format_status(status["flow_export"]);
      std::cout << (*json ? status.dump(2) + "\n" : text);
    } catch (const std::exception& e) {
      std::cerr << "xdpgw status: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

void add_reload(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "reload", "Make the daemon re-read its config file and apply it atomically "
                "(same as SIGHUP). A config that fails to parse, validate or load is "
                "refused with every reason, and the running config stays.");
  auto target = std::make_shared<Target>();
  auto json = std::make_shared<bool>(false);
  add_target_options(cmd, *target);
  cmd->add_flag("-j,--json", *json, "One JSON object: applied (true/false) and the message");
  cmd->callback([target, json] {
    try {
      auto result = control::call(target->socket_path(), "reload", {}, std::chrono::seconds(60));
      const std::string message = result.value("message", std::string("reloaded"));
      std::cout << (*json ? nlohmann::json{{"applied", true}, {"message", message}}.dump(2)
                          : message)
                << '\n';
    } catch (const control::CommandFailed& e) {
      if (*json)
        std::cout << nlohmann::json{{"applied", false}, {"message", e.what()}}.dump(2) << '\n';
      else
        std::cerr << "xdpgw reload: refused, running config kept:\n" << e.what() << '\n';
      g_exit_code = kExitBadConfig;
    } catch (const std::exception& e) {
      std::cerr << "xdpgw reload: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

// A live stream of XDP events: the daemon is the ring buffer's only reader
// and keeps the latest ones; this asks for the ones after the last it
// printed, a few times a second, until COUNT were printed or it is stopped.
void add_events(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "events", "Stream the datapath's events (new flow punted, flow offloaded, rate-limit "
                "drop, parse error; capped per CPU and second) from the running daemon, "
                "starting with the ones it still holds.");
  auto target = std::make_shared<Target>();
  auto json = std::make_shared<bool>(false);
  auto count = std::make_shared<uint64_t>(0);
  add_target_options(cmd, *target);
  cmd->add_flag("-j,--json", *json, "One JSON object per line");
  cmd->add_option("-c,--count", *count, "Exit after this many events (default: run until interrupted)");
  cmd->callback([target, json, count] {
    try {
      uint64_t after = 0, printed = 0;
      for (;;) {
        auto r = control::call(target->socket_path(), "events", {{"after", after}});
        for (const auto& ev : r.at("events")) {
          if (*json) {
            std::cout << ev.dump() << '\n';
          } else {
            std::cout << ev.value("type", "") << ' ' << ev.value("reason", "");
            if (ev.contains("src"))
              std::cout << ' ' << ev.value("proto", "") << ' ' << ev.value("src", "") << ':' << ev.value("sport", 0)
                        << " -> " << ev.value("dst", "") << ':' << ev.value("dport", 0);
            std::cout << " if " << ev.value("ifindex", 0) << " len " << ev.value("len", 0) << '\n';
          }
          after = ev.value("seq", after);
          if (*count && ++printed >= *count) return;
        }
        std::cout.flush();
        after = std::max(after, r.value("next", after));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    } catch (const std::exception& e) {
      std::cerr << "xdpgw events: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

// Captures punted packets (what the AF_XDP pipeline receives, before any
// rewrite) or dropped ones (as XDP dropped them, from its perf buffers) into
// a pcapng file the daemon writes, or into our stdout (`-w -`, handed to the
// daemon with the request); waits until COUNT were written, or until Ctrl-C,
// which stops the capture. Flags as tcpdump's: -w, -c, -s.
void add_capture(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "capture",
      "Capture packets into a pcapng file, each with its ingress port (an interface per port) "
      "and why it was captured (drop_reason=NAME or punted) as a packet comment: tcpdump -r "
      "and Wireshark read it. -w - writes to stdout: xdpgw capture --what drops -w - | tcpdump -r -");
  auto target = std::make_shared<Target>();
  auto what = std::make_shared<std::string>("punted");
  auto file = std::make_shared<std::string>();
  auto count = std::make_shared<uint64_t>(0);
  auto snaplen = std::make_shared<uint32_t>(XDPGW_CAPTURE_MAX_SNAPLEN);
  add_target_options(cmd, *target);
  cmd->add_option("--what", *what, "punted (what the AF_XDP pipeline receives) or drops (every frame XDP drops)")
      ->check(CLI::IsMember({"punted", "drops"}))
      ->capture_default_str();
  cmd->add_option("-w", *file, "Output pcapng file; - for stdout")->required();
  cmd->add_option("-c,--count", *count, "Stop after this many packets");
  cmd->add_option("-s,--snaplen", *snaplen, "Bytes kept of each packet")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{1}, uint32_t{XDPGW_CAPTURE_MAX_SNAPLEN}));
  cmd->callback([=] {
    try {
      const bool to_stdout = *file == "-";
      if (to_stdout && ::isatty(STDOUT_FILENO)) {
        std::cerr << "xdpgw capture: refusing to write pcapng to a terminal; pipe it (| tcpdump -r -) "
                     "or redirect it\n";
        g_exit_code = kExitUsage;
        return;
      }
      const std::string path = to_stdout ? "-" : std::filesystem::absolute(*file).string();
      // Before the capture starts: an interrupt must always stop it, or it
      // would go on in the daemon with no one waiting for it.
      static std::atomic<bool> interrupted{false};
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, [](int) { interrupted = true; });
      control::call(target->socket_path(), "capture",
                    {{"what", *what}, {"file", path}, {"count", *count}, {"snaplen", *snaplen}},
                    std::chrono::seconds(10), to_stdout ? STDOUT_FILENO : -1);
      for (;;) {
        const bool stop = interrupted.load();
        auto st = control::call(target->socket_path(), "capture",
                                {{"what", *what}, {stop ? "stop" : "status", true}});
        if (stop || !st.value("running", false)) {
          std::cerr << "xdpgw capture: " << st.value("records", 0) << " packets written to "
                    << (to_stdout ? "stdout" : path);
          if (st.value("lost", uint64_t{0})) std::cerr << ", " << st.value("lost", uint64_t{0}) << " lost";
          std::cerr << '\n';
          if (st.contains("reasons"))
            for (const auto& [reason, n] : st["reasons"].items()) std::cerr << "  " << reason << ' ' << n << '\n';
          if (!st.value("error", std::string()).empty()) {
            std::cerr << "xdpgw capture: stopped early: " << st["error"].get<std::string>() << '\n';
            g_exit_code = kExitFailure;
          }
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    } catch (const std::exception& e) {
      std::cerr << "xdpgw capture: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

void add_flows(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "flows", "List flows of the connection table (load-balanced flows in both "
               "directions, verdicts offloaded by the AF_XDP pipeline) with their "
               "target, packets and bytes, marked [offloaded] or [SYN cookie] (opened "
               "by a cookie, sequence numbers translated), and source-NAT translations "
               "(inside, translated and outside tuples, state, idle time).");
  auto target = std::make_shared<Target>();
  auto json = std::make_shared<bool>(false);
  auto limit = std::make_shared<size_t>(100);
  add_target_options(cmd, *target);
  cmd->add_flag("-j,--json", *json, "JSON output for scripts");
  cmd->add_option("-n,--limit", *limit, "Show at most this many flows (the total is always counted)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{16} * 1024 * 1024));
  cmd->callback([target, json, limit] {
    try {
      auto flows = control::call(target->socket_path(), "flows", {{"limit", *limit}},
                                 std::chrono::seconds(60));
      std::cout << (*json ? flows.dump(2) + "\n" : daemon::format_flows(flows));
    } catch (const std::exception& e) {
      std::cerr << "xdpgw flows: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

void add_backend(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "backend", "Operator control of load-balancer backends.");
  cmd->require_subcommand(1);
  for (const char* action : {"drain", "undrain"}) {
    auto* sub = cmd->add_subcommand(
        action, std::string(action) == "drain"
                    ? "Stop sending new flows of VIP to BACKEND (its established flows keep "
                      "going); survives health changes until undrained or the daemon restarts"
                    : "Let BACKEND take new flows of VIP again (if its health check passes)");
    auto target = std::make_shared<Target>();
    auto vip = std::make_shared<std::string>();
    auto backend = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    add_target_options(sub, *target);
    sub->add_flag("-j,--json", *json, "One JSON object with the daemon's answer");
    sub->add_option("VIP", *vip, "VIP name from the config")->required();
    sub->add_option("BACKEND", *backend, "ADDRESS:PORT ([v6]:PORT), or ADDRESS if unambiguous")
        ->required();
    sub->callback([target, vip, backend, json, action = std::string(action)] {
      try {
        auto r = control::call(target->socket_path(), "backend",
                               {{"action", action}, {"vip", *vip}, {"backend", *backend}});
        std::cout << (*json ? r.dump(2) : r.value("message", std::string("ok"))) << '\n';
      } catch (const std::exception& e) {
        std::cerr << "xdpgw backend " << action << ": " << e.what() << '\n';
        g_exit_code = kExitFailure;
      }
    });
  }
}

void add_announce(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "announce", "BGP announcements of the VIPs through BIRD ([announce]): what is announced "
                  "and why, and withdrawing the instance for maintenance.");
  cmd->require_subcommand(1);
  const std::array<std::pair<const char*, const char*>, 3> actions{{
      {"status", "Each VIP: announced or not, and why; the last exchange with BIRD"},
      {"withdraw", "Withdraw every VIP of this instance (XDP keeps serving what still arrives) "
                   "until `announce restore` or a restart"},
      {"restore", "Announce again whatever is servable"},
  }};
  for (const auto& [action, help] : actions) {
    auto* sub = cmd->add_subcommand(action, help);
    auto target = std::make_shared<Target>();
    auto json = std::make_shared<bool>(false);
    add_target_options(sub, *target);
    sub->add_flag("-j,--json", *json, "JSON output for scripts");
    sub->callback([target, json, action = std::string(action)] {
      try {
        auto r = control::call(target->socket_path(), "announce", {{"action", action}});
        std::cout << (*json ? r.dump(2) + "\n" : announce::format_status(r));
      } catch (const std::exception& e) {
        std::cerr << "xdpgw announce " << action << ": " << e.what() << '\n';
        g_exit_code = kExitFailure;
      }
    });
  }
}

void add_decap(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "decap", "Backend side of DSR: strip the IPIP / IPv6-in-IPv6 header the load "
               "balancer adds, in XDP, so the kernel delivers the inner packet to the VIP "
               "(configure the VIP on the backend, e.g. `ip addr add VIP/32 dev lo`). "
               "Stays attached after this command exits (pinned bpf_link).");
  cmd->require_subcommand(1);
  struct Args {
    std::string ifname;
    std::string netns;
    bool generic = false;
    std::string scope() const { return netns.empty() ? "host" : netns; }
  };
  auto add_common = [](CLI::App* sub, Args& a) {
    sub->add_option("IFACE", a.ifname, "Interface the tunnel packets arrive on")->required();
    sub->add_option("--netns", a.netns, "The interface's network namespace (/run/netns/NAME)");
  };
  auto run_in_netns = [](const Args& a, auto body) {
    try {
      if (!a.netns.empty()) netdev::enter_netns(a.netns);
      body();
    } catch (const std::exception& e) {
      std::cerr << "xdpgw decap: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  };
  auto attach_args = std::make_shared<Args>();
  auto* attach = cmd->add_subcommand("attach", "Attach the decap program to IFACE");
  add_common(attach, *attach_args);
  attach->add_flag("--generic", attach_args->generic, "Generic (skb) XDP instead of native");
  attach->callback([attach_args, run_in_netns] {
    run_in_netns(*attach_args, [&] {
      decap::attach(attach_args->scope(), attach_args->ifname, attach_args->generic);
      std::cout << fmt::format("decap attached to {} (pins in {})\n", attach_args->ifname,
                               decap::pin_dir(attach_args->scope(), attach_args->ifname).string());
    });
  });
  auto detach_args = std::make_shared<Args>();
  auto* detach = cmd->add_subcommand("detach", "Detach it and remove its pins");
  add_common(detach, *detach_args);
  detach->callback([detach_args, run_in_netns] {
    run_in_netns(*detach_args, [&] {
      if (!decap::detach(detach_args->scope(), detach_args->ifname)) {
        std::cerr << "xdpgw decap: nothing attached to " << detach_args->ifname << '\n';
        g_exit_code = kExitFailure;
      }
    });
  });
  auto stats_args = std::make_shared<Args>();
  auto stats_json = std::make_shared<bool>(false);
  auto* stats = cmd->add_subcommand("stats", "Packets decapsulated, passed untouched, dropped");
  add_common(stats, *stats_args);
  stats->add_flag("-j,--json", *stats_json, "JSON output for scripts");
  stats->callback([stats_args, stats_json, run_in_netns] {
    run_in_netns(*stats_args, [&] {
      auto c = decap::read_counters(stats_args->scope(), stats_args->ifname);
      if (*stats_json) {
        auto counter = [](const xdpgw_counter& k) {
          return nlohmann::json{{"packets", k.packets}, {"bytes", k.bytes}};
        };
        std::cout << nlohmann::json{{"interface", stats_args->ifname},
                                    {"decapsulated", counter(c.decapsulated)},
                                    {"not_tunnel", counter(c.not_tunnel)},
                                    {"malformed", counter(c.malformed)}}
                         .dump(2)
                  << '\n';
        return;
      }
      std::cout << fmt::format("decapsulated {} pkts\nnot a tunnel {} pkts (passed)\n"
                               "malformed {} pkts (dropped)\n",
                               c.decapsulated.packets, c.not_tunnel.packets, c.malformed.packets);
    });
  });
}

}  // namespace

void register_commands(CLI::App& app) {
  // Before any subcommand's callback runs: CLI11 runs the top level's
  // option callbacks first. Accepted after the subcommand too (fallthrough).
  auto log_level = std::make_shared<std::string>();
  std::vector<std::string> levels(std::begin(config::kLogLevels), std::end(config::kLogLevels));
  app.add_option_function<std::string>(
         "--log-level",
         [log_level](const std::string& level) {
           *log_level = level;
           spdlog::set_level(spdlog::level::from_str(level));
         },
         "Log only this level and above; overrides [control] log_level (default info)")
      ->check(CLI::IsMember(levels));
  app.fallthrough();
  add_check(app);
  add_run(app, log_level);
  add_stop(app);
  add_reload(app);
  add_status(app);
  add_stats(app);
  add_flows(app);
  add_backend(app);
  add_announce(app);
  add_decap(app);
  add_events(app);
  add_capture(app);
}

int exit_code() { return g_exit_code; }

std::string usage(const CLI::App& app) {
  const CLI::App* cmd = &app;
  std::string path = app.get_name();
  while (!cmd->get_subcommands().empty()) {
    cmd = cmd->get_subcommands().front();
    path += " " + cmd->get_name();
  }
  return CLI::Formatter{}.make_usage(cmd, path) + fmt::format("Run '{} --help' for more.\n", path);
}

}  // namespace xdpgw::cli
