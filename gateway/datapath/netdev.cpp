#include "datapath/netdev.hpp"

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace xdpgw::netdev {
namespace {

ifreq make_ifreq(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    throw std::invalid_argument(fmt::format("bad interface name \"{}\"", name));
  ifreq req{};
  std::memcpy(req.ifr_name, name.data(), name.size());
  return req;
}

}  // namespace

std::optional<uint32_t> ifindex(std::string_view name) {
  std::string n(name);
  unsigned idx = if_nametoindex(n.c_str());
  if (idx == 0) return std::nullopt;
  return idx;
}

Interface describe(std::string_view name) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno(errno, "socket(AF_INET) for interface ioctls");
  Interface out;
  out.name = std::string(name);

  ifreq req = make_ifreq(name);
  if (ioctl(sock.get(), SIOCGIFINDEX, &req) < 0)
    throw_errno(errno, fmt::format("interface {}: SIOCGIFINDEX", name));
  out.ifindex = static_cast<uint32_t>(req.ifr_ifindex);

  req = make_ifreq(name);
  if (ioctl(sock.get(), SIOCGIFMTU, &req) < 0)
    throw_errno(errno, fmt::format("interface {}: SIOCGIFMTU", name));
  out.mtu = static_cast<uint32_t>(req.ifr_mtu);

  req = make_ifreq(name);
  if (ioctl(sock.get(), SIOCGIFHWADDR, &req) < 0)
    throw_errno(errno, fmt::format("interface {}: SIOCGIFHWADDR", name));
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER)
    throw std::runtime_error(
        fmt::format("interface {} is not an Ethernet device", name));
  std::memcpy(out.mac.data(), req.ifr_hwaddr.sa_data, 6);

  req = make_ifreq(name);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &req) < 0)
    throw_errno(errno, fmt::format("interface {}: SIOCGIFFLAGS", name));
  out.up = (req.ifr_flags & IFF_UP) != 0;
  return out;
}

std::vector<LocalAddress> local_addresses() {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) < 0) throw_errno(errno, "getifaddrs");
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> list(raw, &freeifaddrs);
  std::vector<LocalAddress> out;
  for (ifaddrs* it = list.get(); it; it = it->ifa_next) {
    if (!it->ifa_addr) continue;
    LocalAddress a;
    a.family = it->ifa_addr->sa_family;
    if (a.family == AF_INET) {
      auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      std::memcpy(a.addr.data(), &sin->sin_addr, 4);
    } else if (a.family == AF_INET6) {
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      std::memcpy(a.addr.data(), &sin6->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(a);
  }
  return out;
}

std::optional<std::array<uint8_t, 4>> primary_ipv4(std::string_view name) {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) < 0) throw_errno(errno, "getifaddrs");
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> list(raw, &freeifaddrs);
  for (ifaddrs* it = list.get(); it; it = it->ifa_next) {
    if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET || name != it->ifa_name) continue;
    std::array<uint8_t, 4> addr{};
    std::memcpy(addr.data(), &reinterpret_cast<const sockaddr_in*>(it->ifa_addr)->sin_addr, 4);
    return addr;
  }
  return std::nullopt;
}

void enter_netns(std::string_view name) {
  std::string path = fmt::format("/run/netns/{}", name);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(errno, fmt::format("open network namespace {}", path));
  if (setns(fd.get(), CLONE_NEWNET) < 0)
    throw_errno(errno, fmt::format("setns into {}", path));
}

std::string format_mac(const std::array<uint8_t, 6>& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1],
                     m[2], m[3], m[4], m[5]);
}

}  // namespace xdpgw::netdev
