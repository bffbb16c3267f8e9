// xdpgw: XDP packet gateway daemon and CLI. main only wires objects together.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "cli/logging.hpp"

int main(int argc, char** argv) try {
  spdlog::set_default_logger(xdpgw::cli::make_logger());

  CLI::App app{
      "xdpgw - XDP packet gateway: an IPv4/IPv6 router, an L4 load balancer\n"
      "(Maglev, NAT or DSR) and a policy point (ACLs, per-source rate limits)\n"
      "in XDP, with an AF_XDP pipeline for flows that need userspace. Routes come\n"
      "from the kernel FIB, from the kernel's routes mirrored into XDP, or from\n"
      "the config; everything XDP should not handle goes to the kernel stack,\n"
      "counted by reason. Instances scale out behind ECMP,\n"
      "announcing their VIPs over BGP through BIRD. Configured by TOML (xdpgw check).",
      "xdpgw"};
  app.set_version_flag("--version", std::string("xdpgw ") + XDPGW_VERSION);
  app.require_subcommand(1);

  xdpgw::cli::register_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end parsing with an "error" that is a success.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    // Everything else is a usage error: exit 2 with the usage line of the
    // command that was being parsed (CLI11's own codes, 106 for a missing
    // option or 109 for an unknown one, mean nothing to a shell script).
    std::fprintf(stderr, "xdpgw: %s\n%s", e.what(), xdpgw::cli::usage(app).c_str());
    return xdpgw::cli::kExitUsage;
  }
  return xdpgw::cli::exit_code();
} catch (const std::exception& e) {
  // Commands report their own errors; this is for failures around them
  // (logger setup, argument parsing internals).
  std::fprintf(stderr, "xdpgw: %s\n", e.what());
  return xdpgw::cli::kExitFailure;
}
