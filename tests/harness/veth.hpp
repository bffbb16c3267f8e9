// A veth pair between two namespaces: the cable between two simulated hosts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "harness/addr.hpp"
#include "harness/netns.hpp"

namespace xdpgw::test {

struct VethEndOptions {
  std::optional<MacAddr> mac{};            // kernel-chosen random MAC when unset
  std::vector<std::string> addresses{};  // CIDR, IPv4 or IPv6: "198.18.0.1/24", "2001:2::1/64"
};

struct VethOptions {
  VethEndOptions a{};
  VethEndOptions b{};
  std::optional<unsigned> mtu{};  // both ends; the kernel default (1500) when unset
  // Interface names are base_name + "a" / "b"; a fresh unique_ifname when
  // unset. Given, to create a pair again under the names of one deleted.
  std::optional<std::string> base_name{};
};

struct VethEnd {
  std::string netns;  // name of the namespace this end lives in
  std::string name;   // interface name, at most 15 characters
  int ifindex = 0;    // valid inside `netns` only
  MacAddr mac{};
};

// Creates end A in ns_a and end B in ns_b (the same Netns may be passed twice),
// assigns the addresses (IPv6 with nodad, so they are usable at once) and
// brings both ends up. Deleting end A on destruction removes both ends; a
// namespace already deleted (which took its end and so the pair with it) is
// not an error. The pair does not keep the Netns objects alive: declare it
// after them so it is destroyed first.
class VethPair {
 public:
  VethPair(const Netns& ns_a, const Netns& ns_b, const VethOptions& options = {});
  VethPair(VethPair&& other) noexcept;
  VethPair& operator=(VethPair&& other) noexcept;
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair();

  const VethEnd& a() const noexcept { return a_; }
  const VethEnd& b() const noexcept { return b_; }

  const std::string& name_a() const noexcept { return a_.name; }
  const std::string& name_b() const noexcept { return b_.name; }
  int ifindex_a() const noexcept { return a_.ifindex; }
  int ifindex_b() const noexcept { return b_.ifindex; }
  const MacAddr& mac_a() const noexcept { return a_.mac; }
  const MacAddr& mac_b() const noexcept { return b_.mac; }

 private:
  void destroy() noexcept;

  VethEnd a_;  // a_.name empty once moved from
  VethEnd b_;
};

// ifindex and MAC of an interface as seen inside a namespace.
struct InterfaceInfo {
  int ifindex = 0;
  MacAddr mac{};
};
InterfaceInfo query_interface(const Netns& ns, const std::string& ifname);

}  // namespace xdpgw::test
