// routing.source = "kernel" end to end: the real daemon mirrors a gateway
// namespace's routes (thousands of random ones) and neighbours into XDP, and
// for thousands of destinations what the real dispatcher does (run with
// BPF_PROG_TEST_RUN in the gateway namespace, as if the frame arrived on
// port A) must be what the kernel would do (RTM_GETROUTE with that ingress,
// source and ports, plus the neighbour table): the same egress port and the
// same next-hop MAC, or "to the kernel" where the kernel would not forward
// through a port (no route, blackhole, unreachable, prohibit, local,
// broadcast, a non-port device, no resolved neighbour). Then routes and
// neighbours change and XDP must follow (waited for with a deadline; the
// time it took is printed); policy rules switch the mirror to the FIB;
// restart and reload keep it exact.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "e2e/daemon_process.hpp"
#include "harness/addr.hpp"
#include "harness/frame.hpp"
#include "harness/names.hpp"
#include "harness/netns.hpp"
#include "harness/prog_run.hpp"
#include "harness/veth.hpp"
#include "xdpgw/shared.h"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPorts = 3;          // A, B, C are xdpgw ports; D is not
constexpr int kLinks = 4;
constexpr int kGatewaysPerLink = 20;
constexpr int kRoutes4 = 3000;
constexpr int kRoutes6 = 1200;
constexpr auto kConvergeDeadline = 20s;

std::string v4(int link, int host) { return fmt::format("198.18.{}.{}", link + 1, host); }
std::string v6(int link, int host) { return fmt::format("2001:2:0:{}::{:x}", link + 1, host); }

// One answer of either side for one destination.
struct Verdict {
  bool forwarded = false;
  MacAddr smac{}, dmac{};
  bool operator==(const Verdict&) const = default;
};

std::string describe(const Verdict& v) {
  return v.forwarded ? fmt::format("forward {} -> {}", to_string(v.smac), to_string(v.dmac))
                     : std::string("to the kernel");
}

struct Destination {
  int family = AF_INET;
  std::array<uint8_t, 16> addr{};
  std::string text;
};

Destination parse_destination(const std::string& text) {
  Destination d;
  d.text = text;
  d.family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  inet_pton(d.family, text.c_str(), d.addr.data());
  return d;
}

// The gateway namespace with ports A, B, C (xdpgw) and D (not xdpgw), each a
// veth to one host namespace, addressed 198.18.N.1/24 and 2001:2:0:N::1/64.
class Topology {
 public:
  Topology() : gateway_("krgw"), hosts_("krhost") {
    gateway_.sysctl("net.ipv4.ip_forward", "1");
    gateway_.sysctl("net.ipv6.conf.all.forwarding", "1");
    for (int i = 0; i < kLinks; ++i) {
      links_.emplace_back(gateway_, hosts_,
                          VethOptions{.a = {.addresses = {v4(i, 1) + "/24", v6(i, 1) + "/64"}},
                                      .b = {.addresses = {v4(i, 2) + "/24", v6(i, 2) + "/64"}}});
    }
  }

  const Netns& gateway() const { return gateway_; }
  const VethEnd& gw_end(int i) const { return links_.at(i).a(); }
  const VethEnd& host_end(int i) const { return links_.at(i).b(); }
  bool is_port(int ifindex) const {
    for (int i = 0; i < kPorts; ++i)
      if (gw_end(i).ifindex == ifindex) return true;
    return false;
  }
  std::optional<MacAddr> port_mac(int ifindex) const {
    for (int i = 0; i < kLinks; ++i)
      if (gw_end(i).ifindex == ifindex) return gw_end(i).mac;
    return std::nullopt;
  }
  std::optional<int> ifindex_of(const std::string& name) const {
    for (int i = 0; i < kLinks; ++i)
      if (gw_end(i).name == name) return gw_end(i).ifindex;
    return std::nullopt;
  }

  // Runs `lines` through `ip -batch` in the gateway namespace.
  void ip_batch(const std::vector<std::string>& lines, bool force = false) const {
    const auto file = std::filesystem::temp_directory_path() / unique_name("krbatch");
    {
      std::ofstream out(file);
      for (const auto& l : lines) out << l << '\n';
    }
    const CmdResult r =
        gateway_.exec(fmt::format("ip {}-batch {}", force ? "-force " : "", file.string()));
    std::filesystem::remove(file);
    if (!force && !r.ok()) throw std::runtime_error("ip -batch failed: " + r.output);
  }

 private:
  Netns gateway_;
  Netns hosts_;
  std::vector<VethPair> links_;
};

// What the kernel would do with a packet from host A (port A) to `d`.
class KernelOracle {
 public:
  explicit KernelOracle(const Topology& t) : t_(t) {
    const NetnsGuard in = t.gateway().enter();
    sock_ = mnl_socket_open(NETLINK_ROUTE);
    if (sock_ == nullptr || mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0)
      throw std::runtime_error("rtnetlink socket");
  }
  ~KernelOracle() { mnl_socket_close(sock_); }
  KernelOracle(const KernelOracle&) = delete;
  KernelOracle& operator=(const KernelOracle&) = delete;

  // Reads the neighbour table once (call before a round of verdicts).
  void snapshot_neighbours() {
    neigh_.clear();
    const std::string out = t_.gateway().exec_ok("ip -j neigh show");
    for (const auto& n : nlohmann::json::parse(out)) {
      if (!n.contains("lladdr") || !n.contains("dev")) continue;
      bool usable = false;
      for (const auto& s : n.value("state", nlohmann::json::array())) {
        const std::string st = s.get<std::string>();
        usable = usable || st == "REACHABLE" || st == "STALE" || st == "DELAY" || st == "PROBE" ||
                 st == "PERMANENT" || st == "NOARP";
      }
      const auto ifindex = t_.ifindex_of(n["dev"].get<std::string>());
      if (!usable || !ifindex) continue;
      const Destination d = parse_destination(n["dst"].get<std::string>());
      neigh_[{*ifindex, d.addr}] = mac(n["lladdr"].get<std::string>());
    }
  }

  Verdict verdict(const Destination& d, uint16_t sport, uint16_t dport) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = ++seq_;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = static_cast<uint8_t>(d.family);
    const size_t len = d.family == AF_INET ? 4 : 16;
    rtm->rtm_dst_len = static_cast<uint8_t>(len * 8);
    rtm->rtm_src_len = static_cast<uint8_t>(len * 8);
    const Destination src = parse_destination(d.family == AF_INET ? v4(0, 2) : v6(0, 2));
    mnl_attr_put(nlh, RTA_DST, len, d.addr.data());
    mnl_attr_put(nlh, RTA_SRC, len, src.addr.data());
    mnl_attr_put_u32(nlh, RTA_IIF, static_cast<uint32_t>(t_.gw_end(0).ifindex));
    mnl_attr_put_u8(nlh, RTA_IP_PROTO, IPPROTO_UDP);
    mnl_attr_put_u16(nlh, RTA_SPORT, htons(sport));
    mnl_attr_put_u16(nlh, RTA_DPORT, htons(dport));
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) throw std::runtime_error("send");
    const ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
    if (n < 0) throw std::runtime_error("recv");
    struct Answer {
      uint8_t type = 0;
      uint32_t oif = 0;
      std::optional<std::array<uint8_t, 16>> gateway;
      size_t len = 4;
    } answer;
    answer.len = len;
    const int rc = mnl_cb_run(
        buf.data(), static_cast<size_t>(n), seq_, mnl_socket_get_portid(sock_),
        [](const nlmsghdr* m, void* data) {
          auto* a = static_cast<Answer*>(data);
          a->type = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(m))->rtm_type;
          mnl_attr_parse(
              m, sizeof(rtmsg),
              [](const nlattr* attr, void* out) {
                auto* ans = static_cast<Answer*>(out);
                if (mnl_attr_get_type(attr) == RTA_OIF) ans->oif = mnl_attr_get_u32(attr);
                if (mnl_attr_get_type(attr) == RTA_GATEWAY &&
                    mnl_attr_get_payload_len(attr) == ans->len) {
                  std::array<uint8_t, 16> gw{};
                  std::memcpy(gw.data(), mnl_attr_get_payload(attr), ans->len);
                  ans->gateway = gw;
                }
                return MNL_CB_OK;
              },
              a);
          return MNL_CB_OK;
        },
        &answer);
    // Unreachable, prohibit, no route: errors; the kernel forwards nothing.
    if (rc < 0 || answer.type != RTN_UNICAST || !t_.is_port(int(answer.oif))) return {};
    const auto next_hop = answer.gateway.value_or(d.addr);
    const auto it = neigh_.find({int(answer.oif), next_hop});
    if (it == neigh_.end()) return {};
    return Verdict{.forwarded = true, .smac = *t_.port_mac(int(answer.oif)), .dmac = it->second};
  }

 private:
  const Topology& t_;
  mnl_socket* sock_ = nullptr;
  uint32_t seq_ = 1;
  std::map<std::pair<int, std::array<uint8_t, 16>>, MacAddr> neigh_;
};

// The real dispatcher of the daemon, run on a frame from host A.
class XdpProbe {
 public:
  XdpProbe(const Topology& t, const std::filesystem::path& pin_dir) : t_(t) {
    const auto link_pin = pin_dir / fmt::format("link_{}", t.gw_end(0).ifindex);
    UniqueFd link(bpf_obj_get(link_pin.c_str()));
    if (!link) throw std::runtime_error("no pinned link " + link_pin.string());
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
      throw std::runtime_error("link info");
    prog_ = UniqueFd(bpf_prog_get_fd_by_id(info.prog_id));
    if (!prog_) throw std::runtime_error("dispatcher fd");
  }

  Verdict verdict(const Destination& d, uint16_t sport, uint16_t dport) const {
    FrameBuilder f;
    f.eth(t_.gw_end(0).mac, t_.host_end(0).mac);
    if (d.family == AF_INET) {
      Ipv4Addr dst{};
      std::memcpy(dst.data(), d.addr.data(), 4);
      f.ipv4({.src = ipv4(v4(0, 2)), .dst = dst});
    } else {
      f.ipv6({.src = ipv6(v6(0, 2)), .dst = d.addr});
    }
    f.udp({.sport = sport, .dport = dport}).payload(32);
    const NetnsGuard in = t_.gateway().enter();
    const TestRunResult r =
        prog_test_run(prog_.get(), f.build(), {.ingress_ifindex = uint32_t(t_.gw_end(0).ifindex)});
    if (r.action == XDP_REDIRECT) {
      Verdict v{.forwarded = true};
      std::memcpy(v.dmac.data(), r.data.data(), 6);
      std::memcpy(v.smac.data(), r.data.data() + 6, 6);
      return v;
    }
    if (r.action != XDP_PASS)
      throw std::runtime_error(fmt::format("{}: {}", d.text, action_name(r.action)));
    return {};
  }

 private:
  const Topology& t_;
  UniqueFd prog_;
};

// Random routes and neighbours of the gateway namespace, and destinations
// inside them.
class RouteSet {
 public:
  explicit RouteSet(uint32_t seed) : rng_(seed) {}

  std::string gateway(int family, int link) {
    const int host = 10 + int(rng_() % kGatewaysPerLink);
    return family == AF_INET ? v4(link, host) : v6(link, host);
  }

  // "ip route" arguments for a random route: via a gateway on a random link
  // (D included), on-link, blackhole/unreachable/prohibit, or multipath.
  std::string random_target(int family) {
    const int link = int(rng_() % kLinks);
    const uint32_t kind = rng_() % 100;
    if (kind < 80) return fmt::format("via {}", gateway(family, link));
    if (kind < 86) return fmt::format("dev {}", link_names_.at(link));
    if (kind < 89) return "blackhole";  // the type goes first: fixed by the caller
    if (kind < 91) return "unreachable";
    if (kind < 93) return "prohibit";
    int other = int(rng_() % kPorts);
    if (other == link) other = (link + 1) % kPorts;
    return fmt::format("nexthop via {} nexthop via {}", gateway(family, link),
                       gateway(family, other));
  }

  std::string random_prefix(int family) {
    if (family == AF_INET) {
      const int len = 16 + int(rng_() % 17);  // inside 198.19.0.0/16
      uint32_t a = (198u << 24) | (19u << 16) | (rng_() & 0xffff);
      a &= len == 0 ? 0 : ~uint32_t(0) << (32 - len);
      return fmt::format("{}.{}.{}.{}/{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
    }
    // inside 2001:2:0:8000::/49 .. /128
    const int len = 49 + int(rng_() % 80);
    std::array<uint8_t, 16> a{0x20, 0x01, 0x00, 0x02, 0x00, 0x00};
    for (int i = 6; i < 16; ++i) a[i] = static_cast<uint8_t>(rng_());
    a[6] |= 0x80;
    for (int bit = len; bit < 128; ++bit) a[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a.data(), text, sizeof(text));
    return fmt::format("{}/{}", text, len);
  }

  // An address inside `prefix` ("a.b.c.d/len" or IPv6).
  std::string inside(const std::string& prefix) {
    const auto slash = prefix.find('/');
    Destination d = parse_destination(prefix.substr(0, slash));
    const int len = std::stoi(prefix.substr(slash + 1));
    const int bits = d.family == AF_INET ? 32 : 128;
    for (int bit = len; bit < bits; ++bit)
      if (rng_() & 1) d.addr[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    char text[INET6_ADDRSTRLEN];
    inet_ntop(d.family, d.addr.data(), text, sizeof(text));
    return text;
  }

  std::string route_line(const std::string& verb, int family, const std::string& prefix,
                         const std::string& target) {
    // `ip -batch` takes no -6: the addresses tell the family.
    (void)family;
    if (target == "blackhole" || target == "unreachable" || target == "prohibit")
      return fmt::format("route {} {} {}", verb, target, prefix);
    return fmt::format("route {} {} {}", verb, prefix, target);
  }

  uint32_t next() { return rng_(); }
  void set_link_names(std::vector<std::string> names) { link_names_ = std::move(names); }

  std::vector<std::pair<int, std::string>> prefixes;  // family, prefix
  std::vector<std::string> destinations;

 private:
  std::mt19937 rng_;
  std::vector<std::string> link_names_;
};

class KernelRoutesE2e : public ::testing::Test {
 protected:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove(config_path_, ec);
  }

  void SetUp() override {
    routes_.set_link_names({topo_.gw_end(0).name, topo_.gw_end(1).name, topo_.gw_end(2).name,
                            topo_.gw_end(3).name});
    // Gateways: three in four have a permanent neighbour entry (MAC by
    // link and host), the rest none (XDP passes their packets on).
    std::vector<std::string> lines;
    for (int link = 0; link < kLinks; ++link)
      for (int host = 10; host < 10 + kGatewaysPerLink; ++host) {
        if (host % 4 == 3) continue;
        for (const auto& addr : {v4(link, host), v6(link, host)})
          lines.push_back(fmt::format("neigh replace {} lladdr 02:00:00:{:02x}:{:02x}:01 nud "
                                      "permanent dev {}",
                                      addr, link + 1, host, topo_.gw_end(link).name));
      }
    topo_.ip_batch(lines);
    lines.clear();
    std::set<std::string> seen;
    for (int family : {AF_INET, AF_INET6})
      for (int i = 0; i < (family == AF_INET ? kRoutes4 : kRoutes6); ++i) {
        const std::string prefix = routes_.random_prefix(family);
        if (!seen.insert(prefix).second) continue;
        routes_.prefixes.emplace_back(family, prefix);
        lines.push_back(routes_.route_line("add", family, prefix, routes_.random_target(family)));
      }
    topo_.ip_batch(lines);
    // Destinations: one inside each route, some anywhere in the routed
    // ranges (maybe no route), the connected subnets (on-link: gateways with
    // and without neighbours, the hosts, broadcast, the gateway itself).
    for (const auto& [family, prefix] : routes_.prefixes) routes_.destinations.push_back(routes_.inside(prefix));
    for (int i = 0; i < 300; ++i) {
      routes_.destinations.push_back(routes_.inside("198.19.0.0/16"));
      routes_.destinations.push_back(routes_.inside("2001:2:0:8000::/49"));
    }
    for (int link = 0; link < kLinks; ++link)
      for (int host : {1, 2, 10, 11, 12, 13, 15, 28, 29, 77, 255}) {
        routes_.destinations.push_back(v4(link, host));
        if (host != 255) routes_.destinations.push_back(v6(link, host));
      }
  }

  std::string config(const std::string& source) const {
    std::string toml = fmt::format("[gateway]\ninstance = \"{}\"\nattach_mode = \"native\"\n\n",
                                   daemon_.instance());
    for (int i = 0; i < kPorts; ++i) toml += fmt::format("[[port]]\nname = \"{}\"\n\n", topo_.gw_end(i).name);
    toml += fmt::format("[routing]\nsource = \"{}\"\n", source);
    if (source == "kernel") toml += "resync_interval_ms = 1000\n";
    toml += fmt::format("\n[control]\nsocket = \"{}\"\nmetrics = \"off\"\n", daemon_.socket().string());
    return toml;
  }

  // Mismatches between XDP and the kernel over every destination.
  std::vector<std::string> compare(size_t limit = 8) {
    KernelOracle oracle(topo_);
    XdpProbe xdp(topo_, pin_dir());
    oracle.snapshot_neighbours();
    std::vector<std::string> out;
    compared_ = 0;
    forwarded_ = 0;
    for (size_t i = 0; i < routes_.destinations.size(); ++i) {
      const Destination d = parse_destination(routes_.destinations[i]);
      const uint16_t sport = static_cast<uint16_t>(1024 + i * 7 % 50000), dport = 53;
      const Verdict want = oracle.verdict(d, sport, dport);
      const Verdict got = xdp.verdict(d, sport, dport);
      ++compared_;
      forwarded_ += want.forwarded;
      if (want != got && out.size() < limit)
        out.push_back(fmt::format("{}: kernel {}, XDP {}", d.text, describe(want), describe(got)));
      else if (want != got)
        out.back() = "... and more";
    }
    return out;
  }

  // Compares until XDP agrees with the kernel everywhere or the deadline
  // passes; returns how long it took (fails with the mismatches).
  std::chrono::milliseconds converge(const std::string& what) {
    const auto start = Clock::now();
    std::vector<std::string> diff;
    while (!(diff = compare()).empty() && Clock::now() - start < kConvergeDeadline)
      std::this_thread::sleep_for(20ms);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    EXPECT_TRUE(diff.empty()) << what << ": XDP differs from the kernel after "
                              << took.count() << " ms:\n  " << fmt::format("{}", fmt::join(diff, "\n  "))
                              << "\n" << daemon_.log();
    std::cout << fmt::format("[ kroutes ] {}: {} destinations equal ({} forwarded by XDP) after {} ms\n",
                             what, compared_, forwarded_, took.count());
    return took;
  }

  std::filesystem::path pin_dir() const {
    return std::filesystem::path("/sys/fs/bpf/xdpgw") / daemon_.instance();
  }

  size_t count(int family) const {
    size_t n = 0;
    for (const auto& [f, p] : routes_.prefixes) n += f == family;
    return n;
  }

  nlohmann::json mirror_status() const {
    const CmdResult r = daemon_.cli("status --json");
    EXPECT_TRUE(r.ok()) << r.output;
    return nlohmann::json::parse(r.output).value("route_mirror", nlohmann::json());
  }

  Topology topo_;
  RouteSet routes_{20261207};
  std::filesystem::path config_path_ =
      std::filesystem::temp_directory_path() / unique_name("krcfg.toml");
  Daemon daemon_{topo_.gateway(), config_path_};
  size_t compared_ = 0, forwarded_ = 0;
};

TEST_F(KernelRoutesE2e, ThousandsOfRandomRoutesMatchTheKernelAndFollowChanges) {
  daemon_.write_config(config("kernel"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  converge("initial table");
  const auto status = mirror_status();
  ASSERT_TRUE(status.is_object()) << "status shows no route mirror";
  // Every route has its entry (local and broadcast routes and host
  // neighbours come on top).
  EXPECT_GE(status["entries_v4"].get<size_t>(), count(AF_INET)) << status.dump(2);
  EXPECT_GE(status["entries_v6"].get<size_t>(), count(AF_INET6)) << status.dump(2);
  EXPECT_GT(status["entries_fib"].get<size_t>(), 0u) << "multipath routes ask the FIB";
  EXPECT_GT(forwarded_ * 3, routes_.destinations.size()) << "a good part is forwarded by XDP";

  // Add, replace and delete routes; change neighbours (new MAC, gone, new).
  std::vector<std::string> lines;
  for (int i = 0; i < 300; ++i) {
    const int family = i % 3 == 0 ? AF_INET6 : AF_INET;
    const std::string prefix = routes_.random_prefix(family);
    lines.push_back(routes_.route_line("replace", family, prefix, routes_.random_target(family)));
    routes_.destinations.push_back(routes_.inside(prefix));
  }
  for (size_t i = 0; i < 300; ++i) {
    const auto& [family, prefix] = routes_.prefixes[(i * 7919) % routes_.prefixes.size()];
    lines.push_back(routes_.route_line("replace", family, prefix, routes_.random_target(family)));
  }
  for (size_t i = 0; i < 300; ++i) {
    const auto& [family, prefix] = routes_.prefixes[(i * 104729 + 13) % routes_.prefixes.size()];
    lines.push_back(fmt::format("route del {}", prefix));
  }
  lines.push_back(fmt::format("route replace default via {}", v4(1, 10)));
  lines.push_back(fmt::format("route replace ::/0 via {}", v6(2, 10)));
  for (int link = 0; link < kPorts; ++link) {
    lines.push_back(fmt::format("neigh replace {} lladdr 02:aa:00:00:{:02x}:10 nud permanent dev {}",
                                v4(link, 10), link, topo_.gw_end(link).name));
    lines.push_back(fmt::format("neigh replace {} lladdr 02:aa:00:00:{:02x}:10 nud permanent dev {}",
                                v6(link, 10), link, topo_.gw_end(link).name));
    lines.push_back(fmt::format("neigh del {} dev {}", v4(link, 12), topo_.gw_end(link).name));
    lines.push_back(fmt::format("neigh replace {} lladdr 02:bb:00:00:{:02x}:0f nud permanent dev {}",
                                v4(link, 15), link, topo_.gw_end(link).name));
    // An on-link host of the connected subnet becomes known.
    lines.push_back(fmt::format("neigh replace {} lladdr 02:cc:00:00:{:02x}:4d nud permanent dev {}",
                                v4(link, 77), link, topo_.gw_end(link).name));
  }
  topo_.ip_batch(lines, /*force=*/true);  // some deletes hit a prefix replaced just before
  converge("after 600 route replaces, 300 deletes, default routes and neighbour changes");
  // One route, timed: from `ip route replace` returning to the first frame
  // XDP forwards by it (the frame's own run, so the resolution is the cost
  // of one BPF_PROG_TEST_RUN).
  {
    KernelOracle oracle(topo_);
    XdpProbe xdp(topo_, pin_dir());
    const Destination d = parse_destination("198.19.255.77");
    const Verdict before = xdp.verdict(d, 1000, 53);
    // A gateway on another port than the one XDP uses now.
    const int link = before.forwarded && before.smac == topo_.gw_end(2).mac ? 1 : 2;
    oracle.snapshot_neighbours();
    topo_.gateway().exec_ok(fmt::format("ip route replace 198.19.255.77/32 via {}", v4(link, 14)));
    const auto t0 = Clock::now();
    const Verdict want = oracle.verdict(d, 1000, 53);
    ASSERT_TRUE(want.forwarded);
    ASSERT_NE(want, before) << "the new route must change what XDP does";
    while (xdp.verdict(d, 1000, 53) != want && Clock::now() - t0 < kConvergeDeadline) {
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    EXPECT_EQ(xdp.verdict(d, 1000, 53), want) << "the new route did not reach XDP";
    std::cout << fmt::format("[ kroutes ] one route change reached XDP {} us after `ip route` "
                             "returned\n", us.count());
  }
  // Long enough for the periodic resync (1 s here) to have run after the
  // changes: it must find nothing the events missed.
  std::this_thread::sleep_for(1500ms);
  const auto after = mirror_status();
  EXPECT_GT(after["events"].get<uint64_t>(), status["events"].get<uint64_t>());
  // The events did it: the periodic safety-net resync (every second here)
  // found nothing to fix.
  EXPECT_GE(after["resyncs"].value("periodic", 0), 1) << after.dump(2);
  EXPECT_EQ(after["differences_found"].get<uint64_t>(), 0u) << daemon_.log();
  std::cout << fmt::format("[ kroutes ] mirror: {} events, last batch written in {} us, resyncs {}\n",
                           after["events"].get<uint64_t>(), after["last_event_batch_us"].get<double>(),
                           after["resyncs"].dump());
}

TEST_F(KernelRoutesE2e, PolicyRulesMakeEveryPacketAskTheFib) {
  daemon_.write_config(config("kernel"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  converge("before any rule");
  // Traffic from host A's address to 198.19.x goes by table 100, via C.
  topo_.ip_batch({fmt::format("route add 198.19.0.0/16 via {} table 100", v4(2, 10)),
                  fmt::format("rule add from {}/32 lookup 100 pref 1000", v4(0, 2))});
  const auto deadline = Clock::now() + kConvergeDeadline;
  nlohmann::json st;
  while (Clock::now() < deadline &&
         (st = mirror_status())["policy_fallback"]["ipv4"].is_null())
    std::this_thread::sleep_for(20ms);
  ASSERT_FALSE(st["policy_fallback"]["ipv4"].is_null()) << st.dump(2);
  EXPECT_TRUE(st["policy_fallback"]["ipv6"].is_null()) << st.dump(2);
  EXPECT_NE(daemon_.log().find("cannot be exact"), std::string::npos) << daemon_.log();
  converge("with a policy rule (IPv4 through bpf_fib_lookup)");
  // The rule's table decided: every forwarded IPv4 destination left via C.
  KernelOracle oracle(topo_);
  XdpProbe xdp(topo_, pin_dir());
  oracle.snapshot_neighbours();
  const Verdict v = xdp.verdict(parse_destination(routes_.inside("198.19.0.0/16")), 1000, 53);
  EXPECT_TRUE(v.forwarded);
  EXPECT_EQ(v.smac, topo_.gw_end(2).mac) << describe(v);

  topo_.ip_batch({fmt::format("rule del from {}/32 lookup 100 pref 1000", v4(0, 2))});
  while (Clock::now() < deadline + kConvergeDeadline &&
         !(st = mirror_status())["policy_fallback"]["ipv4"].is_null())
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(st["policy_fallback"]["ipv4"].is_null()) << st.dump(2);
  EXPECT_GE(st["entries_v4"].get<size_t>(), count(AF_INET));
  converge("rule removed (mirrored again)");
  EXPECT_EQ(mirror_status()["differences_found"].get<uint64_t>(), 0u) << daemon_.log();
}

// A port going down: the kernel flushes the routes through it without a
// route event for each; the link event's resync must catch it, and the
// periodic safety net must find nothing left.
TEST_F(KernelRoutesE2e, PortDownFlushesItsRoutesFromXdpToo) {
  daemon_.write_config(config("kernel"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  converge("all ports up");
  const size_t forwarded_before = forwarded_;
  const auto before = mirror_status();
  topo_.gateway().exec_ok(fmt::format("ip link set {} down", topo_.gw_end(2).name));
  converge("port C down (its routes flushed by the kernel)");
  EXPECT_LT(forwarded_, forwarded_before) << "routes via port C are gone";
  const auto down = mirror_status();
  EXPECT_GT(down["resyncs"].value("link", 0), before["resyncs"].value("link", 0)) << down.dump(2);
  EXPECT_LT(down["entries_v4"].get<size_t>(), before["entries_v4"].get<size_t>());
  topo_.gateway().exec_ok(fmt::format("ip link set {} up", topo_.gw_end(2).name));
  converge("port C up again (connected routes back, the rest stays flushed as in the kernel)");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(mirror_status()["differences_found"].get<uint64_t>(), 0u) << daemon_.log();
}

TEST_F(KernelRoutesE2e, RestartAdoptsTheTablesAndReloadSwitchesSources) {
  daemon_.write_config(config("kernel"));
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  converge("first daemon");
  daemon_.stop();
  // While no daemon runs, the kernel changes: the next one must catch up.
  std::vector<std::string> lines;
  for (size_t i = 0; i < 200; ++i) {
    const auto& [family, prefix] = routes_.prefixes[(i * 7919) % routes_.prefixes.size()];
    lines.push_back(routes_.route_line("replace", family, prefix, routes_.random_target(family)));
  }
  topo_.ip_batch(lines);
  ASSERT_NO_FATAL_FAILURE(daemon_.start());
  EXPECT_NE(daemon_.log().find("adopted"), std::string::npos) << daemon_.log();
  // The start resync runs before the daemon reports running: equal at once.
  const auto at_once = compare();
  EXPECT_TRUE(at_once.empty()) << "right after the restart:\n  "
                               << fmt::format("{}", fmt::join(at_once, "\n  "));
  converge("restarted daemon (adopted pinned tables, 200 routes changed while it was down)");

  daemon_.write_config(config("fib"));
  const CmdResult to_fib = daemon_.cli("reload");
  ASSERT_TRUE(to_fib.ok()) << to_fib.output;
  EXPECT_TRUE(mirror_status().is_null()) << "no mirror with source = fib";
  uint64_t left = 0;
  {
    UniqueFd trie(bpf_obj_get((pin_dir() / "kr_routes4").c_str()));
    ASSERT_TRUE(trie) << "kr_routes4 pin: " << std::strerror(errno);
    xdpgw_lpm_v4_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(trie.get(), prev, &next) == 0) {
      ++left;
      key = next;
      prev = &key;
    }
    EXPECT_EQ(errno, ENOENT) << "the walk ended at the end of the trie";
  }
  EXPECT_EQ(left, 0u) << "the mirror's tries are emptied when another source takes over";
  converge("reloaded to source = fib");

  topo_.ip_batch({fmt::format("route replace 198.19.0.0/17 via {}", v4(1, 11))});
  daemon_.write_config(config("kernel"));
  const CmdResult to_kernel = daemon_.cli("reload");
  ASSERT_TRUE(to_kernel.ok()) << to_kernel.output;
  converge("reloaded back to source = kernel");
}

}  // namespace
}  // namespace xdpgw::test::e2e
