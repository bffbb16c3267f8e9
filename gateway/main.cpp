// xdpgw: XDP packet gateway daemon and CLI. main only wires objects together.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <string>

#include "cli/commands.hpp"

int main(int argc, char** argv) try {
  // One line per event on stderr, no colour codes: journald-friendly.
  auto logger = spdlog::stderr_logger_mt("xdpgw");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);

  CLI::App app{
      "xdpgw - XDP packet gateway: IPv4/IPv6 router fast path in XDP.\n"
      "Packets between configured ports are forwarded by XDP (routes from the\n"
      "kernel FIB or static routes from the config); everything XDP should not\n"
      "handle goes to the kernel stack, counted by reason.",
      "xdpgw"};
  app.set_version_flag("--version", std::string("xdpgw ") + XDPGW_VERSION);
  app.require_subcommand(1);

  xdpgw::cli::register_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return xdpgw::cli::exit_code();
} catch (const std::exception& e) {
  // Commands report their own errors; this is for failures around them
  // (logger setup, argument parsing internals).
  std::fprintf(stderr, "xdpgw: %s\n", e.what());
  return xdpgw::cli::kExitFailure;
}
