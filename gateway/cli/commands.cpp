#include "cli/commands.hpp"

#include <bpf/bpf.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "datapath/abi.hpp"
#include "datapath/datapath.hpp"
#include "datapath/netdev.hpp"

namespace xdpgw::cli {
namespace {

int g_exit_code = kExitOk;

// parse -> (enter the configured netns) -> validate. Prints every error as
// FILE:LINE:COL: message and returns nullopt when the config is bad.
std::optional<config::Config> load_config(const std::string& path,
                                          const std::string& netns_override) {
  auto raw = config::parse(path);
  if (!raw) {
    for (const auto& e : raw.errors()) std::cerr << e.to_string() << '\n';
    return std::nullopt;
  }
  std::string netns = netns_override;
  if (netns.empty() && raw.value().gateway && raw.value().gateway->netns)
    netns = raw.value().gateway->netns->value;
  // Interface names are checked where the gateway will run.
  if (!netns.empty()) netdev::enter_netns(netns);
  auto cfg = config::validate(raw.value(), daemon::SystemEnvironment{});
  if (!cfg) {
    for (const auto& e : cfg.errors()) std::cerr << e.to_string() << '\n';
    return std::nullopt;
  }
  return std::move(cfg).value();
}

void add_check(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "check", "Parse and validate a config file; print every error as "
               "FILE:LINE:COL: message. Exit 0 if valid, 2 if not.");
  auto path = std::make_shared<std::string>();
  auto netns = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *path, "Config file (TOML)")->required();
  cmd->add_option("--netns", *netns,
                  "Check interface names in this network namespace "
                  "(overrides gateway.netns)");
  cmd->callback([path, netns] {
    auto cfg = load_config(*path, *netns);
    if (!cfg) {
      g_exit_code = kExitBadConfig;
      return;
    }
    std::cout << fmt::format("{}: ok (instance {}, {} ports, routing {})\n",
                             *path, cfg->gateway.instance, cfg->ports.size(),
                             config::to_string(cfg->routing.source));
  });
}

void add_run(CLI::App& app) {
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
  cmd->callback([path, netns, opts] {
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
  cmd->add_option("-i,--instance", *instance, "Instance name")->capture_default_str();
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

void add_stats(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stats", "Print packet counters by verdict reason and by handler, read "
               "from the running instance's pinned maps.");
  auto instance = std::make_shared<std::string>("default");
  auto json = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  cmd->add_option("-i,--instance", *instance, "Instance name")->capture_default_str();
  cmd->add_flag("--json", *json, "JSON output for scripts");
  cmd->add_flag("-a,--all", *all, "Include reasons that counted nothing");
  cmd->callback([instance, json, all] {
    try {
      auto dir = daemon::pin_dir(*instance);
      auto open_pin = [&](const char* name) {
        std::string path = (dir / name).string();
        int fd = bpf_obj_get(path.c_str());
        if (fd < 0)
          throw_errno(errno, fmt::format("open {} (is instance {} running?)",
                                         path, *instance));
        return UniqueFd(fd);
      };
      UniqueFd verdicts = open_pin("verdict_stats");
      UniqueFd handlers = open_pin("handler_stats");
      auto totals = read_verdicts(verdicts.get());

      nlohmann::json out;
      out["instance"] = *instance;
      for (uint32_t r = 1; r < XDPGW_R_COUNT; ++r) {
        if (!*all && totals[r].packets == 0) continue;
        out["reasons"][std::string(abi::reason_name(r))] = {
            {"packets", totals[r].packets}, {"bytes", totals[r].bytes}};
      }
      for (uint32_t s = 0; s < XDPGW_SLOT_COUNT; ++s) {
        auto c = sum(read_percpu_counter(handlers.get(), s));
        out["handlers"][std::string(abi::kSlotNames[s])] = {
            {"packets", c.packets}, {"bytes", c.bytes}};
      }
      if (*json) {
        std::cout << out.dump(2) << '\n';
        return;
      }
      std::cout << fmt::format("instance {}\n{:<28} {:>14} {:>16}\n", *instance,
                               "reason", "packets", "bytes");
      if (out.contains("reasons"))
        for (const auto& [name, c] : out["reasons"].items())
          std::cout << fmt::format("{:<28} {:>14} {:>16}\n", name,
                                   c["packets"].get<uint64_t>(),
                                   c["bytes"].get<uint64_t>());
      std::cout << fmt::format("\n{:<28} {:>14} {:>16}\n", "handler", "packets", "bytes");
      for (const auto& [name, c] : out["handlers"].items())
        std::cout << fmt::format("{:<28} {:>14} {:>16}\n", name,
                                 c["packets"].get<uint64_t>(),
                                 c["bytes"].get<uint64_t>());
    } catch (const std::exception& e) {
      std::cerr << "xdpgw stats: " << e.what() << '\n';
      g_exit_code = kExitFailure;
    }
  });
}

}  // namespace

void register_commands(CLI::App& app) {
  add_check(app);
  add_run(app);
  add_stop(app);
  add_stats(app);
}

int exit_code() { return g_exit_code; }

}  // namespace xdpgw::cli
