// The xdpgw subcommands. Each registers its options on the CLI11 app and a
// callback; the callback's exit status is returned by exit_code().
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace xdpgw::cli {

// Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage, or (check
// --kernel) a kernel lacking a required feature: the setup, not xdpgw, has
// to change.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadConfig = 2;
inline constexpr int kExitMissingFeature = 2;
inline constexpr int kExitUsage = 2;

void register_commands(CLI::App& app);
int exit_code();

// After a failed parse: "Usage: xdpgw check [OPTIONS]" (of the deepest
// subcommand the command line reached) and where to read more.
std::string usage(const CLI::App& app);

}  // namespace xdpgw::cli
