// BIRD 2 as the BGP speaker of an xdpgw instance.
//
// xdpgw does not speak BGP. It owns one file that the operator's bird.conf
// includes: two static protocols (IPv4, IPv6) with one blackhole host route
// per VIP address it wants announced. When that set changes, xdpgw rewrites
// the file (temp file + rename, so BIRD never reads half of it) and sends
// "configure" over BIRD's control socket, the same request `birdc configure`
// sends. BIRD reconfigures the static protocols in place: routes come and
// go, the BGP sessions stay up, and the operator's export filter decides
// where they are announced. Talking to the socket directly, rather than
// running birdc, keeps the exchange asynchronous on the daemon's io_context,
// bounded by a timeout, and gives BIRD's numeric reply code instead of text
// meant for people.
//
// Blackhole routes: if the operator's BIRD also exports to the kernel, a
// VIP must never be routed back out of the box it was announced from.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/ip.hpp"

namespace xdpgw::announce {

struct BirdProtocols {
  std::string v4;  // "<base>_v4"
  std::string v6;
};
BirdProtocols protocol_names(std::string_view base);

// The include file: a comment saying who writes it and how to use it, then
// both static protocols (empty ones are valid BIRD and announce nothing).
std::string render_include(std::string_view instance, std::string_view include_path,
                           const BirdProtocols& protocols,
                           const std::set<config::IpAddr>& addresses);

// Writes `text` to `path` through a temp file in the same directory and
// rename(2); creates the directory. Throws std::system_error with the path.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

// One reply of BIRD's control protocol. Every line starts with a four-digit
// code, then '-' (more lines follow) or ' ' (the reply's last line); a line
// starting with ' ' continues the previous code. Codes 0xxx are successes,
// 1xxx tables, 8xxx/9xxx errors (BIRD's doc/reply_codes).
struct BirdReply {
  int code = -1;          // of the last line
  std::string text;       // every line's text, joined with "; "
};

class BirdReplyReader {
 public:
  // Takes one line without its '\n'. Returns true once the reply is complete.
  // Throws std::runtime_error on a line that is not BIRD's protocol.
  bool feed(std::string_view line);
  const BirdReply& reply() const { return reply_; }

 private:
  BirdReply reply_;
};

// Whether BIRD accepted the new configuration: reconfigured (0003), still
// reconfiguring (0004), or queued behind a reconfiguration in progress
// (0005, 0017). Anything else (a config error, 8002 "FILE:LINE:COL ...",
// shutting down, access restricted) is a failure.
bool configure_accepted(const BirdReply& reply);

struct ConfigureResult {
  bool ok = false;
  std::string message;  // BIRD's reply text, or why there was none
};

// Connects to BIRD's control socket, reads its greeting, sends "configure"
// and reads the reply, within `timeout` overall. `done` runs once, on the
// io_context, also when the socket cannot be reached or BIRD does not answer
// in time (then with ok = false); never if the io_context is stopped first.
void async_configure(boost::asio::io_context& io, const std::string& socket_path,
                     std::chrono::milliseconds timeout,
                     std::function<void(ConfigureResult)> done);

}  // namespace xdpgw::announce
