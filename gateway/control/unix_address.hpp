// Internal to the control library: a sockaddr_un for a filesystem path, shared
// by the server (bind, the stale-socket probe) and the client (connect).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace xdpgw::control::detail {

// sun_path is a fixed 108-byte array; a longer path would be silently cut by
// a careless copy and name a different file, so it is refused instead.
inline sockaddr_un unix_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.empty() || s.size() >= sizeof(addr.sun_path))
    throw std::system_error(
        ENAMETOOLONG, std::generic_category(),
        "control socket path \"" + s + "\" must be 1.." +
            std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  std::memcpy(addr.sun_path, s.data(), s.size());
  return addr;
}

}  // namespace xdpgw::control::detail
