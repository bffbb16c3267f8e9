#include "harness/veth.hpp"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <utility>

#include <fmt/format.h>

#include "common/error.hpp"
#include "harness/names.hpp"

namespace xdpgw::test {
namespace {

std::string link_options(const VethEndOptions& end, const std::optional<unsigned>& mtu) {
  std::string options;
  if (end.mac) options += " address " + to_string(*end.mac);
  if (mtu) options += fmt::format(" mtu {}", *mtu);
  return options;
}

void bring_up(const VethEnd& end) {
  run_ok(fmt::format("ip -n {} link set {} up", end.netns, end.name));
}

void add_addresses(const VethEnd& end, const VethEndOptions& options) {
  for (const std::string& cidr : options.addresses) {
    // Without nodad an IPv6 address stays "tentative" for about a second and
    // the first packets of a test would be dropped.
    const bool is_ipv6 = cidr.find(':') != std::string::npos;
    run_ok(fmt::format("ip -n {} addr add {} dev {}{}", end.netns, shell_quote(cidr), end.name,
                       is_ipv6 ? " nodad" : ""));
  }
}

}  // namespace

InterfaceInfo query_interface(const Netns& ns, const std::string& ifname) {
  UniqueFd sock;
  {
    // The socket stays bound to the namespace it was created in, so the
    // ioctls below need no guard.
    NetnsGuard inside = ns.enter();
    sock = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  }
  if (!sock) throw_errno(errno, "socket for interface query in netns " + ns.name());

  ifreq request{};
  if (ifname.size() >= sizeof(request.ifr_name)) {
    throw std::invalid_argument("interface name too long: " + ifname);
  }
  std::memcpy(request.ifr_name, ifname.c_str(), ifname.size() + 1);

  InterfaceInfo info;
  if (::ioctl(sock.get(), SIOCGIFINDEX, &request) != 0) {
    throw_errno(errno, fmt::format("SIOCGIFINDEX {} in netns {}", ifname, ns.name()));
  }
  info.ifindex = request.ifr_ifindex;
  if (::ioctl(sock.get(), SIOCGIFHWADDR, &request) != 0) {
    throw_errno(errno, fmt::format("SIOCGIFHWADDR {} in netns {}", ifname, ns.name()));
  }
  std::memcpy(info.mac.data(), request.ifr_hwaddr.sa_data, info.mac.size());
  return info;
}

VethPair::VethPair(const Netns& ns_a, const Netns& ns_b, const VethOptions& options) {
  const std::string base = options.base_name.value_or(unique_ifname("v", 1));
  a_.netns = ns_a.name();
  a_.name = base + "a";
  b_.netns = ns_b.name();
  b_.name = base + "b";

  // Created inside ns_a with the peer placed straight into ns_b, so neither end
  // ever appears in the namespace the tests run in.
  run_ok(fmt::format("ip -n {} link add {}{} type veth peer name {}{} netns {}", a_.netns, a_.name,
                     link_options(options.a, options.mtu), b_.name,
                     link_options(options.b, options.mtu), b_.netns));
  try {
    // Up before addresses: an IPv6 address added to a down link joins its
    // solicited-node multicast group only some time after the link comes up,
    // and neighbour solicitations sent before that go unanswered (measured:
    // the first `ping -W1` failed). Added to an up link, it joins at once.
    bring_up(a_);
    bring_up(b_);
    add_addresses(a_, options.a);
    add_addresses(b_, options.b);
    InterfaceInfo info_a = query_interface(ns_a, a_.name);
    a_.ifindex = info_a.ifindex;
    a_.mac = info_a.mac;
    InterfaceInfo info_b = query_interface(ns_b, b_.name);
    b_.ifindex = info_b.ifindex;
    b_.mac = info_b.mac;
  } catch (...) {
    destroy();
    throw;
  }
}

VethPair::VethPair(VethPair&& other) noexcept
    : a_(std::exchange(other.a_, {})), b_(std::exchange(other.b_, {})) {}

VethPair& VethPair::operator=(VethPair&& other) noexcept {
  if (this != &other) {
    destroy();
    a_ = std::exchange(other.a_, {});
    b_ = std::exchange(other.b_, {});
  }
  return *this;
}

VethPair::~VethPair() { destroy(); }

void VethPair::destroy() noexcept {
  if (a_.name.empty()) return;
  try {
    // A deleted namespace took its end with it, and a veth end never outlives
    // its peer: nothing left to delete.
    if (std::filesystem::exists(netns_path(a_.netns))) {
      CmdResult deleted = run_cmd(fmt::format("ip -n {} link del {}", a_.netns, a_.name));
      if (!deleted.ok() &&
          run_cmd(fmt::format("ip -n {} link show dev {}", a_.netns, a_.name)).ok()) {
        std::cerr << "xdpgw test harness: cannot delete veth " << a_.name << " in netns "
                  << a_.netns << ": " << deleted.output;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "xdpgw test harness: cannot delete veth " << a_.name << ": " << e.what() << '\n';
  }
  a_ = {};
  b_ = {};
}

}  // namespace xdpgw::test
