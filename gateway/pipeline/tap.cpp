#include "pipeline/tap.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/error.hpp"

namespace xdpgw::pipeline {

Tap::Tap(const std::string& name) : name_(name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw std::invalid_argument(fmt::format("TAP name '{}'", name));
  fd_.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd_) throw_errno(errno, "open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  check_errno(ioctl(fd_.get(), TUNSETIFF, &ifr), fmt::format("TUNSETIFF {}", name));
  UniqueFd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!ctl) throw_errno(errno, "socket for interface ioctls");
  check_errno(ioctl(ctl.get(), SIOCGIFHWADDR, &ifr), fmt::format("SIOCGIFHWADDR {}", name));
  std::memcpy(mac_.data(), ifr.ifr_hwaddr.sa_data, 6);
  check_errno(ioctl(ctl.get(), SIOCGIFFLAGS, &ifr), fmt::format("SIOCGIFFLAGS {}", name));
  ifr.ifr_flags |= IFF_UP;
  check_errno(ioctl(ctl.get(), SIOCSIFFLAGS, &ifr), fmt::format("bring {} up", name));
  check_errno(ioctl(ctl.get(), SIOCGIFINDEX, &ifr), fmt::format("SIOCGIFINDEX {}", name));
  ifindex_ = ifr.ifr_ifindex;
}

void Tap::inject(std::span<const uint8_t> frame) const {
  const ssize_t n = ::write(fd_.get(), frame.data(), frame.size());
  if (n < 0) throw_errno(errno, fmt::format("write to TAP {}", name_));
  if (static_cast<std::size_t>(n) != frame.size())
    throw std::runtime_error(fmt::format("short write to TAP {}: {} of {}", name_, n, frame.size()));
}

}  // namespace xdpgw::pipeline
