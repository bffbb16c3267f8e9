// Source NAT end to end, with real clients: two inside hosts, each in its
// own namespace behind its own gateway port (host A 198.18.1.2 and host A2
// 198.18.3.2, both subnets covered by [[snat]]), host B (198.18.2.2) outside
// with no route back to the inside networks, so only translated flows can
// be answered, and for some tests host C (198.18.4.2) beyond host B, which
// routes to it: a router beyond the gateway, whose ICMP errors about
// translated flows must reach the inside host translated back. The same
// client suite (curl to python's http.server, exact TCP transfers, iperf3
// TCP and UDP, ping, ICMP errors to UDP, TCP and ping sockets) runs through
// two gateways on the same topology: xdpgw with [[snat]] masquerade, and
// the reference, the gateway's kernel with nftables `masquerade` and
// `ct state established,related accept`. Host B's own nftables counters say
// which sources reached it or passed it: only the gateway's 198.18.2.1,
// never an inside address.
//
// No assertion depends on timing: waits are bounded and only wait for
// something to happen (a server listening, a translation expiring, an
// error arriving).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "datapath/probe.hpp"
#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "e2e/traffic.hpp"
#include "harness/child_process.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

// The second inside host, on the gateway's third port.
constexpr std::string_view kSubnetA24 = "198.18.3.0/24";
constexpr std::string_view kGatewayA24 = "198.18.3.1";
constexpr std::string_view kHostA24 = "198.18.3.2";
// Host C, beyond host B (B is 198.18.4.1 on that link).
constexpr std::string_view kSubnetC4 = "198.18.4.0/24";
constexpr std::string_view kHostBc4 = "198.18.4.1";
constexpr std::string_view kHostC4 = "198.18.4.2";
constexpr uint16_t kHttpPort = 8080;
constexpr uint16_t kIperfPort = 5201;
constexpr std::size_t kHttpBytes = 1u << 20;

enum class NatGateway { kXdpgw, kNftables };
// gtest prints parameters with it ("xdpgw", not "4-byte object <00-00 00-00>").
void PrintTo(NatGateway gateway, std::ostream* os) {
  *os << (gateway == NatGateway::kXdpgw ? "xdpgw" : "nftables");
}

struct NatOptions {
  // Host A2 in a namespace of its own, on a third gateway port.
  bool second_inside_host = false;
  // Host C beyond host B, B forwarding between them.
  bool far_host = false;
};

Netns make_host(std::string_view tag) {
  // As RouterTopology's hosts with ipv6 = false: no IPv6 housekeeping
  // packet reaches host B's counters at a moment no test controls.
  Netns ns(tag);
  ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
  ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1");
  return ns;
}

// The topology with B's way back removed, optionally a second inside host
// and a host beyond B, and host B counting what it receives or forwards by
// source.
class NatTopology {
 public:
  explicit NatTopology(const NatOptions& options = {}) {
    topo_.host_b().exec_ok("ip route del default");
    if (options.second_inside_host) {
      host_a2_.emplace(make_host("a2"));
      link_a2_.emplace(topo_.gateway(), *host_a2_,
                       VethOptions{.a = {.addresses = {fmt::format("{}/24", kGatewayA24)}},
                                   .b = {.addresses = {fmt::format("{}/24", kHostA24)}}});
      // The gateway's XDP redirects into this veth: its far end needs an
      // XDP program too (see PeerCounter).
      peer_a2_.emplace(*host_a2_, link_a2_->ifindex_b());
      host_a2_->exec_ok("ethtool -K " + link_a2_->name_b() + " tx off");
      host_a2_->exec_ok(fmt::format("ip route add default via {}", kGatewayA24));
      host_a2_->exec_ok(fmt::format("ip neigh replace {} lladdr {} nud permanent dev {}", kGatewayA24,
                                    xdpgw::test::to_string(link_a2_->mac_a()), link_a2_->name_b()));
      topo_.gateway().exec_ok(fmt::format("ip neigh replace {} lladdr {} nud permanent dev {}", kHostA24,
                                          xdpgw::test::to_string(link_a2_->mac_b()), link_a2_->name_a()));
    }
    if (options.far_host) {
      host_c_.emplace(make_host("c"));
      link_c_.emplace(topo_.host_b(), *host_c_,
                      VethOptions{.a = {.addresses = {fmt::format("{}/24", kHostBc4)}},
                                  .b = {.addresses = {fmt::format("{}/24", kHostC4)}}});
      host_c_->exec_ok("ethtool -K " + link_c_->name_b() + " tx off");  // as the topology's hosts
      host_c_->exec_ok(fmt::format("ip route add default via {}", kHostBc4));
      topo_.host_b().sysctl("net.ipv4.ip_forward", "1");
      topo_.gateway().exec_ok(fmt::format("ip route add {} via {}", kSubnetC4, kHostB4));
      // Every probe must be answered: the kernel rate-limits the errors it
      // sends per destination, and all of them go to the gateway's address.
      topo_.host_b().sysctl("net.ipv4.icmp_ratelimit", "0");
      host_c_->sysctl("net.ipv4.icmp_ratelimit", "0");
    }
    // Prerouting: what reaches B, and what B forwards to C.
    topo_.host_b().exec_ok(fmt::format(
        "nft -f - <<'EOF'\n"
        "table ip seen {{\n"
        "  chain pre {{\n"
        "    type filter hook prerouting priority 0;\n"
        "    ip saddr {{ {} }} counter\n"
        "    ip saddr {} counter\n"
        "  }}\n"
        "}}\n"
        "EOF",
        fmt::join(inside_subnets(), ", "), kGatewayB4));
  }

  RouterTopology& topo() { return topo_; }
  const RouterTopology& topo() const { return topo_; }
  bool has_second_inside_host() const { return host_a2_.has_value(); }
  const Netns& host_a2() const { return host_a2_.value(); }
  const Netns& host_c() const { return host_c_.value(); }
  std::string gateway_port_a2() const { return link_a2_.value().name_a(); }

  std::vector<std::string> inside_subnets() const {
    std::vector<std::string> subnets{std::string(kSubnetA4)};
    if (host_a2_) subnets.emplace_back(kSubnetA24);
    return subnets;
  }
  std::vector<std::string> inside_ports() const {
    std::vector<std::string> ports{topo_.gateway_port_a().name};
    if (link_a2_) ports.push_back(link_a2_->name_a());
    return ports;
  }

  // Packets host B received or forwarded from inside addresses, and from
  // the gateway.
  std::pair<uint64_t, uint64_t> seen_at_b() const {
    const auto listing = nlohmann::json::parse(topo_.host_b().exec_ok("nft -j list table ip seen"));
    std::vector<uint64_t> counts;
    for (const auto& item : listing["nftables"]) {
      if (!item.contains("rule")) continue;
      for (const auto& expr : item["rule"]["expr"])
        if (expr.contains("counter")) counts.push_back(expr["counter"]["packets"].get<uint64_t>());
    }
    if (counts.size() != 2) throw std::runtime_error("host B's counters: " + listing.dump());
    return {counts[0], counts[1]};
  }

 private:
  // Declaration order is construction order; the optional parts are
  // destroyed (links first) before the topology they hang off.
  RouterTopology topo_{TopologyOptions{.ipv6 = false, .static_neighbours = true}};
  std::optional<Netns> host_a2_;
  std::optional<VethPair> link_a2_;  // end a: gateway port A2; end b: host A2
  std::optional<PeerCounter> peer_a2_;
  std::optional<Netns> host_c_;
  std::optional<VethPair> link_c_;  // end a: host B; end b: host C
};

std::string snat_toml(const NatTopology& net, std::string_view extra = "") {
  std::vector<std::string> quoted;
  for (const std::string& subnet : net.inside_subnets()) quoted.push_back(fmt::format("\"{}\"", subnet));
  return fmt::format("\n[[snat]]\nsrc = [{}]\nout_port = \"{}\"\nto = \"masquerade\"\n{}",
                     fmt::join(quoted, ", "), net.topo().gateway_port_b().name, extra);
}

GatewayConfig xdpgw_config(const NatTopology& net, std::string_view snat_extra = "",
                           std::string_view nat_section = "") {
  std::vector<std::string> ports = net.inside_ports();
  ports.push_back(net.topo().gateway_port_b().name);
  return {.ports = ports,
          .route_source = RouteSource::kFib,
          .routes = {},
          .steering_cpus = {},
          .extra_toml = snat_toml(net, snat_extra) + std::string(nat_section)};
}

// The reference gateway: the same translation by the gateway's kernel.
void install_nftables_masquerade(const NatTopology& net) {
  std::vector<std::string> inside_ports;
  for (const std::string& port : net.inside_ports()) inside_ports.push_back(fmt::format("\"{}\"", port));
  net.topo().gateway().exec_ok(fmt::format(
      "nft -f - <<'EOF'\n"
      "table ip reference_nat {{\n"
      "  chain post {{\n"
      "    type nat hook postrouting priority srcnat;\n"
      "    oifname \"{}\" ip saddr {{ {} }} masquerade\n"
      "  }}\n"
      "  chain forward_filter {{\n"
      "    type filter hook forward priority filter; policy drop;\n"
      "    ct state established,related accept\n"
      "    iifname {{ {} }} accept\n"
      "  }}\n"
      "}}\n"
      "EOF",
      net.topo().gateway_port_b().name, fmt::join(net.inside_subnets(), ", "), fmt::join(inside_ports, ", ")));
}

// A server in a host namespace, its output in `log`, killed at the end.
class Server {
 public:
  Server(const Netns& ns, std::vector<std::string> argv, const std::filesystem::path& log)
      : log_(log), process_([&] {
          std::vector<std::string> full{"/usr/bin/nsenter", "--net=" + ns.path()};
          full.insert(full.end(), argv.begin(), argv.end());
          return ChildProcess(full, log);
        }()) {}
  std::string output() const {
    std::ifstream in(log_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  std::filesystem::path log_;
  ChildProcess process_;
};

bool listening(const Netns& ns, uint16_t port) {
  return ns.exec(fmt::format("ss -Hltn 'sport = :{}' | grep -q LISTEN", port)).ok();
}

// An inside host as a client sees it.
struct InsideHost {
  const Netns* ns;
  std::string_view address;
};

std::vector<InsideHost> inside_hosts(const NatTopology& net) {
  std::vector<InsideHost> hosts{{&net.topo().host_a(), kHostA4}};
  if (net.has_second_inside_host()) hosts.push_back({&net.host_a2(), kHostA24});
  return hosts;
}

sockaddr_in ipv4_endpoint(std::string_view ip, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  if (::inet_pton(AF_INET, std::string(ip).c_str(), &sin.sin_addr) != 1)
    throw std::invalid_argument(fmt::format("not an IPv4 address: {}", ip));
  return sin;
}

std::string endpoint_text(const sockaddr_in& sin) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sin.sin_addr, text, sizeof(text));
  return fmt::format("{}:{}", text, ntohs(sin.sin_port));
}

// A socket of `type`/`protocol` in a host's namespace, bound to the host's
// address (and `port`, 0: any) and connected (TCP: the connect started,
// non-blocking) to `to`, with IP_RECVERR (ICMP errors queued with their
// offender) and `ttl`.
UniqueFd client_socket(const InsideHost& host, int type, int protocol, uint16_t port,
                       const sockaddr_in& to, int ttl) {
  UniqueFd fd;
  {
    const auto in = host.ns->enter();
    fd = UniqueFd(::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol));
  }
  check_errno(fd.get(), "socket");
  const int on = 1;
  check_errno(::setsockopt(fd.get(), SOL_IP, IP_RECVERR, &on, sizeof(on)), "IP_RECVERR");
  check_errno(::setsockopt(fd.get(), SOL_IP, IP_TTL, &ttl, sizeof(ttl)), "IP_TTL");
  const sockaddr_in self = ipv4_endpoint(host.address, port);
  check_errno(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&self), sizeof(self)),
              fmt::format("bind {}", endpoint_text(self)));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0 && errno != EINPROGRESS)
    throw_errno(errno, fmt::format("connect to {}", endpoint_text(to)));
  return fd;
}

// An ICMP error as the socket it was delivered to reports it.
struct ReceivedError {
  int error = 0;  // sock_extended_err::ee_errno
  uint8_t origin = 0;
  uint8_t type = 0;
  uint8_t code = 0;
  std::string offender;  // who sent the ICMP error
  std::string quoted_destination;  // where the packet it quotes went
};

std::string describe(const ReceivedError& e) {
  return fmt::format("{} (origin {}, ICMP type {} code {}) from {} about a packet to {}",
                     std::strerror(e.error), e.origin, e.type, e.code, e.offender, e.quoted_destination);
}

// Whether an error is pending on `fd` (or comes within `timeout`).
bool error_pending(int fd, std::chrono::milliseconds timeout) {
  pollfd p{.fd = fd, .events = 0, .revents = 0};  // POLLERR is always reported
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0 && (p.revents & POLLERR);
}

// The first error queued on `fd` within `timeout`; nullopt if none came.
std::optional<ReceivedError> wait_for_error(int fd, std::chrono::milliseconds timeout) {
  if (!error_pending(fd, timeout)) return std::nullopt;
  char data[2048];
  char control[512];
  sockaddr_in name{};
  iovec iov{.iov_base = data, .iov_len = sizeof(data)};
  msghdr msg{};
  msg.msg_name = &name;
  msg.msg_namelen = sizeof(name);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  check_errno(static_cast<int>(::recvmsg(fd, &msg, MSG_ERRQUEUE)), "recvmsg MSG_ERRQUEUE");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_IP || c->cmsg_type != IP_RECVERR) continue;
    const auto* ee = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c));
    ReceivedError e{.error = static_cast<int>(ee->ee_errno),
                    .origin = ee->ee_origin,
                    .type = ee->ee_type,
                    .code = ee->ee_code,
                    .offender = {},
                    .quoted_destination = endpoint_text(name)};
    sockaddr_in offender{};
    std::memcpy(&offender, SO_EE_OFFENDER(ee), sizeof(offender));
    e.offender = endpoint_text(offender);
    e.offender.resize(e.offender.rfind(':'));  // the ICMP sender has no port
    return e;
  }
  throw std::runtime_error("an error queue entry without IP_RECVERR data");
}

uint64_t snat_stat(const GatewayDaemon& daemon, std::string_view key) {
  const CmdResult stats = run_cmd(fmt::format("{} stats --json --socket {}", XDPGW_BINARY,
                                              daemon.control_socket().string()));
  if (!stats.ok()) throw std::runtime_error(stats.output);
  return nlohmann::json::parse(stats.output)["snat"][std::string(key)].get<uint64_t>();
}

class SnatClientSuite : public ::testing::TestWithParam<NatGateway> {
 protected:
  SnatClientSuite() {
    RouterTopology& t = net_.topo();
    if (GetParam() == NatGateway::kXdpgw) {
      // As the reference's forward filter: from the outside, only what
      // answers a flow from inside (replies, ICMP errors about it).
      GatewayConfig config = xdpgw_config(net_);
      config.established_only_ports = {t.gateway_port_b().name};
      daemon_.emplace(t.gateway(), config);
    } else {
      install_nftables_masquerade(net_);
    }
    std::ofstream(dir_.path() / "blob") << std::string(reinterpret_cast<const char*>(
                                                           pseudo_random_bytes(kHttpBytes, 18).data()),
                                                       kHttpBytes);
    http_.emplace(t.host_b(),
                  std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", std::to_string(kHttpPort),
                                           "--bind", std::string(kHostB4), "--directory", dir_.path().string()},
                  dir_.path() / "http.log");
    iperf_.emplace(t.host_b(),
                   std::vector<std::string>{"/usr/bin/iperf3", "-s", "--forceflush", "-B", std::string(kHostB4), "-p",
                                            std::to_string(kIperfPort)},
                   dir_.path() / "iperf.log");
    EXPECT_TRUE(wait_until([&] { return listening(t.host_b(), kHttpPort) && listening(t.host_b(), kIperfPort); },
                           20s, 50ms))
        << "servers did not listen";
  }

  NatTopology net_{NatOptions{.second_inside_host = true, .far_host = true}};
  TempDir dir_;
  std::optional<GatewayDaemon> daemon_;
  std::optional<Server> http_;
  std::optional<Server> iperf_;
};

TEST_P(SnatClientSuite, CurlIperf3AndPingFromTwoInsideHostsReachTheOutsideAsTheGatewayOnly) {
  uint16_t transfer_port = 9100;
  for (const InsideHost& host : inside_hosts(net_)) {
    SCOPED_TRACE(std::string(host.address));
    const Netns& ns = *host.ns;
    const CmdResult curl = ns.exec(fmt::format(
        "curl -sS --fail --max-time 30 -o /dev/null -w '%{{size_download}}' http://{}:{}/blob", kHostB4,
        kHttpPort));
    ASSERT_TRUE(curl.ok()) << curl.output;
    EXPECT_EQ(curl.output, std::to_string(kHttpBytes));
    // The other way, byte for byte: what B's socket read is what was sent.
    const std::vector<uint8_t> upload = pseudo_random_bytes(kHttpBytes, transfer_port);
    const std::vector<uint8_t> received =
        tcp_transfer(ns, net_.topo().host_b(), kHostB4, transfer_port++, upload, 30s);
    EXPECT_EQ(first_difference(received, upload), std::nullopt)
        << received.size() << " of " << upload.size() << " bytes arrived";

    const CmdResult tcp = ns.exec(fmt::format("iperf3 -c {} -p {} -t 2 -J", kHostB4, kIperfPort));
    ASSERT_TRUE(tcp.ok()) << tcp.output;
    // (iperf3's sent and received sums differ by what was in flight when
    // the time was up: curl and the transfer above are the exact checks.)
    const auto tj = nlohmann::json::parse(tcp.output);
    EXPECT_GT(tj["end"]["sum_received"]["bytes"].get<uint64_t>(), 0u) << tcp.output;

    const CmdResult udp = ns.exec(fmt::format("iperf3 -c {} -p {} -u -b 10M -t 2 -J", kHostB4, kIperfPort));
    ASSERT_TRUE(udp.ok()) << udp.output;
    const auto uj = nlohmann::json::parse(udp.output);
    EXPECT_GT(uj["end"]["sum"]["packets"].get<uint64_t>(), 0u) << "the server received no datagram";

    const CmdResult ping = ns.exec(fmt::format("ping -c 3 -W 5 {}", kHostB4));
    EXPECT_TRUE(ping.ok()) << ping.output;
  }
  const auto [from_inside, from_gateway] = net_.seen_at_b();
  EXPECT_EQ(from_inside, 0u) << "an inside address reached the outside";
  EXPECT_GT(from_gateway, 2000u);
  // The servers saw the gateway's address only, once per inside host.
  for (const std::string_view inside : {"198.18.1.", "198.18.3."}) {
    EXPECT_EQ(http_->output().find(inside), std::string::npos) << http_->output();
    EXPECT_EQ(iperf_->output().find(fmt::format("from {}", inside)), std::string::npos) << iperf_->output();
  }
  const auto occurrences = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences(http_->output(), fmt::format("{} - - ", kGatewayB4)), 2u) << http_->output();
  // Two tests per inside host, each a control and a data connection.
  EXPECT_EQ(occurrences(iperf_->output(), fmt::format("Accepted connection from {}", kGatewayB4)), 4u)
      << iperf_->output();

  if (GetParam() == NatGateway::kXdpgw) {
    // XDP translated, not the gateway's kernel (it has no NAT rule here).
    const VerdictSnapshot v = daemon_->verdicts();
    EXPECT_GT(v.total(XDPGW_R_FWD_SNAT), 2000u);
    EXPECT_GT(v.total(XDPGW_R_FWD_SNAT_REVERSE), 2000u);
    const CmdResult flows = run_cmd(fmt::format("{} flows --json --socket {}", XDPGW_BINARY,
                                                daemon_->control_socket().string()));
    ASSERT_TRUE(flows.ok()) << flows.output;
    const auto fj = nlohmann::json::parse(flows.output);
    std::set<std::string> inside_sources;
    for (const auto& x : fj["snat"]["translations"]) {
      EXPECT_TRUE(x["translated"].get<std::string>().starts_with(std::string(kGatewayB4) + ":")) << x.dump();
      const std::string inside = x["inside"].get<std::string>();
      inside_sources.insert(inside.substr(0, inside.find(':')));
    }
    EXPECT_EQ(inside_sources, (std::set<std::string>{std::string(kHostA4), std::string(kHostA24)}))
        << fj.dump();
  }
}

// Errors generated beyond the gateway about translated flows reach the
// inside host as if its own packet had been quoted: the kernel hands an
// ICMP error to a socket only when the quoted source address and port (ping
// sockets: the identifier) are the socket's own, so each error a client
// socket receives proves its quote was translated back. Host B is the
// router beyond the gateway (time exceeded), host C the end (port
// unreachable).
TEST_P(SnatClientSuite, IcmpErrorsFromBeyondTheGatewayReachTheInsideHostsTranslatedBack) {
  const std::string router = std::string(kHostB4);
  const std::string far = std::string(kHostC4);
  for (const InsideHost& host : inside_hosts(net_)) {
    SCOPED_TRACE(std::string(host.address));
    // Ping sockets for root in the host's namespace (off by default).
    host.ns->sysctl("net.ipv4.ping_group_range", "0 2147483647");
    // (TTL 1 would expire at the gateway, which answers itself; 2 expires
    // at host B.)
    {
      SCOPED_TRACE("udp, ttl 2");
      const UniqueFd udp = client_socket(host, SOCK_DGRAM, 0, 40001, ipv4_endpoint(kHostC4, 33434), 2);
      check_errno(static_cast<int>(::send(udp.get(), "probe", 5, 0)), "send");
      const auto e = wait_for_error(udp.get(), 10s);
      ASSERT_TRUE(e) << "no time exceeded came back";
      EXPECT_EQ(e->origin, SO_EE_ORIGIN_ICMP) << describe(*e);
      EXPECT_EQ(e->type, ICMP_TIME_EXCEEDED) << describe(*e);
      EXPECT_EQ(e->error, EHOSTUNREACH) << describe(*e);
      EXPECT_EQ(e->offender, router) << describe(*e);
      EXPECT_EQ(e->quoted_destination, fmt::format("{}:33434", kHostC4)) << describe(*e);
    }
    {
      SCOPED_TRACE("udp to a closed port");
      const UniqueFd udp = client_socket(host, SOCK_DGRAM, 0, 40002, ipv4_endpoint(kHostC4, 33435), 64);
      check_errno(static_cast<int>(::send(udp.get(), "probe", 5, 0)), "send");
      ASSERT_TRUE(error_pending(udp.get(), 10s)) << "no port unreachable came back";
      // What a client sees: its next receive fails. (Before reading the
      // error queue, which would clear the socket's error.)
      char buffer[16];
      EXPECT_EQ(::recv(udp.get(), buffer, sizeof(buffer), 0), -1);
      EXPECT_EQ(errno, ECONNREFUSED) << std::strerror(errno);
      const auto e = wait_for_error(udp.get(), 1s);
      ASSERT_TRUE(e) << "no error queued";
      EXPECT_EQ(e->type, ICMP_DEST_UNREACH) << describe(*e);
      EXPECT_EQ(e->code, ICMP_PORT_UNREACH) << describe(*e);
      EXPECT_EQ(e->error, ECONNREFUSED) << describe(*e);
      EXPECT_EQ(e->offender, far) << describe(*e);
      EXPECT_EQ(e->quoted_destination, fmt::format("{}:33435", kHostC4)) << describe(*e);
    }
    {
      SCOPED_TRACE("tcp syn, ttl 2");
      // A SYN_SENT socket gives up at the first error about its SYN.
      const UniqueFd tcp = client_socket(host, SOCK_STREAM, 0, 40003, ipv4_endpoint(kHostC4, 80), 2);
      pollfd p{.fd = tcp.get(), .events = POLLOUT, .revents = 0};
      ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "the connect neither failed nor completed";
      int error = 0;
      socklen_t size = sizeof(error);
      check_errno(::getsockopt(tcp.get(), SOL_SOCKET, SO_ERROR, &error, &size), "SO_ERROR");
      EXPECT_EQ(error, EHOSTUNREACH) << std::strerror(error);
      const auto e = wait_for_error(tcp.get(), 1s);
      ASSERT_TRUE(e) << "the connect failed without an ICMP error queued";
      EXPECT_EQ(e->type, ICMP_TIME_EXCEEDED) << describe(*e);
      EXPECT_EQ(e->offender, router) << describe(*e);
    }
    {
      SCOPED_TRACE("icmp echo, ttl 2");
      // Bound to identifier 4242, which SNAT replaces (its range starts at
      // 1024 for xdpgw; the kernel's masquerade keeps a free identifier).
      const UniqueFd ping = client_socket(host, SOCK_DGRAM, IPPROTO_ICMP, 4242, ipv4_endpoint(kHostC4, 0), 2);
      icmphdr echo{};
      echo.type = ICMP_ECHO;
      echo.un.echo.sequence = htons(1);  // the kernel fills in the identifier and checksum
      check_errno(static_cast<int>(::send(ping.get(), &echo, sizeof(echo), 0)), "send echo");
      const auto e = wait_for_error(ping.get(), 10s);
      ASSERT_TRUE(e) << "no time exceeded came back";
      EXPECT_EQ(e->type, ICMP_TIME_EXCEEDED) << describe(*e);
      EXPECT_EQ(e->offender, router) << describe(*e);
    }
  }
  // Host B forwarded nothing with an inside source to C.
  EXPECT_EQ(net_.seen_at_b().first, 0u) << "an inside address reached the outside";
  if (GetParam() == NatGateway::kXdpgw) {
    // XDP translated them: four per inside host (one more for a SYN sent
    // again before its error came back).
    EXPECT_GE(snat_stat(*daemon_, "icmp_errors"), 8u);
  }
}

INSTANTIATE_TEST_SUITE_P(Gateways, SnatClientSuite,
                         ::testing::Values(NatGateway::kXdpgw, NatGateway::kNftables),
                         [](const auto& info) {
                           return info.param == NatGateway::kXdpgw ? std::string("xdpgw")
                                                                   : std::string("nftables");
                         });

uint64_t snat_total(const GatewayDaemon& daemon) {
  const CmdResult flows = run_cmd(fmt::format("{} flows --json --socket {}", XDPGW_BINARY,
                                              daemon.control_socket().string()));
  if (!flows.ok()) throw std::runtime_error(flows.output);
  return nlohmann::json::parse(flows.output)["snat"]["total"].get<uint64_t>();
}

// A 100-port range: 100 flows take every port of it (a range this small is
// searched whole), the 101st is refused and counted; once they expire the
// ports are free again. A kernel without bpf_loop searches 16 ports
// (XDPGW_SNAT_PROBES_UNROLLED): there the range is 16 ports.
TEST(SnatE2e, SmallPortRangeIsUsedToItsLastPortThenRefusedAndFreedByExpiry) {
  constexpr uint16_t kFirstPort = 3000;
  const uint16_t kRange =
      probe::probe_kernel(probe::DenyList::from_env()).available("bpf_loop") ? 100 : XDPGW_SNAT_PROBES_UNROLLED;
  NatTopology net;
  RouterTopology& t = net.topo();
  // Translations outlive however long the 100 flows take to start; a
  // reload shortens their timeout once the range is exhausted.
  const std::string range = fmt::format("ports = \"{}-{}\"\n", kFirstPort, kFirstPort + kRange - 1);
  GatewayDaemon daemon(t.gateway(), xdpgw_config(net, range, "\n[nat]\nudp_s = 600\nexpiry_interval_ms = 100\n"));
  UdpSocket server(t.host_b(), kHostB4, 9999);
  const SocketAddress to = SocketAddress::parse(kHostB4, 9999);
  std::vector<UdpSocket> clients;
  for (uint16_t i = 0; i <= kRange; ++i) clients.emplace_back(t.host_a(), kHostA4, static_cast<uint16_t>(7000 + i));
  const std::vector<uint8_t> hello{'h', 'i'};

  const VerdictSnapshot before = daemon.verdicts();
  std::set<uint16_t> ports, all_ports;
  for (uint16_t i = 0; i < kRange; ++i) {
    all_ports.insert(static_cast<uint16_t>(kFirstPort + i));
    clients[i].send_to(to, hello);
    const auto got = server.receive(5s);
    ASSERT_TRUE(got) << "flow " << i << " did not arrive";
    EXPECT_TRUE(got->from.to_string().starts_with(std::string(kGatewayB4) + ":")) << got->from.to_string();
    ports.insert(got->from.port());
  }
  EXPECT_EQ(ports, all_ports) << "the range's ports, each given once";
  // One flow more finds every port taken: dropped and counted.
  clients[kRange].send_to(to, hello);
  EXPECT_FALSE(server.receive(1s)) << "flow " << kRange + 1 << " got through a " << kRange << "-port range";
  EXPECT_EQ((daemon.verdicts() - before).total(XDPGW_R_DROP_SNAT_PORTS_EXHAUSTED), 1u);

  // Idle for udp_s: every translation expires and its port is free again.
  daemon.rewrite_config(xdpgw_config(net, range, "\n[nat]\nudp_s = 1\nexpiry_interval_ms = 100\n"));
  const CmdResult reload = run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY,
                                               daemon.control_socket().string()));
  ASSERT_TRUE(reload.ok()) << reload.output;
  ASSERT_TRUE(wait_until([&] { return snat_total(daemon) == 0; }, 30s, 50ms)) << "translations did not expire";
  clients[kRange].send_to(to, hello);
  const auto got = server.receive(5s);
  ASSERT_TRUE(got) << "flow " << kRange + 1 << " still had no port after the others expired";
  EXPECT_TRUE(ports.contains(got->from.port())) << got->from.to_string();
  // Answered, it is a replied flow (udp_replied_s, 120 s): it stays for the
  // checks below however slowly they run.
  server.send_to(got->from, hello);
  ASSERT_TRUE(clients[kRange].receive(5s)) << "the reply did not come back";
  const CmdResult stats = run_cmd(fmt::format("{} stats --json --socket {}", XDPGW_BINARY,
                                              daemon.control_socket().string()));
  ASSERT_TRUE(stats.ok()) << stats.output;
  EXPECT_GE(nlohmann::json::parse(stats.output)["snat"]["expired"]["udp"].get<uint64_t>(), uint64_t{kRange})
      << stats.output;
  // And as the operator reads them.
  const CmdResult text_stats = run_cmd(fmt::format("{} stats --socket {}", XDPGW_BINARY,
                                                   daemon.control_socket().string()));
  ASSERT_TRUE(text_stats.ok()) << text_stats.output;
  EXPECT_NE(text_stats.output.find(fmt::format("{:<16} 1 live translations, ports in use: udp 1", kGatewayB4)),
            std::string::npos)
      << text_stats.output;
  EXPECT_NE(text_stats.output.find("drop_snat_ports_exhausted"), std::string::npos) << text_stats.output;
  const CmdResult text_flows = run_cmd(fmt::format("{} flows --socket {}", XDPGW_BINARY,
                                                   daemon.control_socket().string()));
  ASSERT_TRUE(text_flows.ok()) << text_flows.output;
  EXPECT_NE(text_flows.output.find("1 source-NAT translations"), std::string::npos) << text_flows.output;
  EXPECT_NE(text_flows.output.find(fmt::format("{}:{} as {}:", kHostA4, 7000 + kRange, kGatewayB4)),
            std::string::npos)
      << text_flows.output;
  // Metrics: the live translation by address and protocol, the expiries,
  // and the exhaustion under its reason; promtool finds nothing to fix.
  const CmdResult scrape = t.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.output;
  for (const std::string& line :
       {fmt::format("xdpgw_snat_translations{{address=\"{}\"}} 1", kGatewayB4),
        fmt::format("xdpgw_snat_ports_in_use{{address=\"{}\",protocol=\"udp\"}} 1", kGatewayB4),
        fmt::format("xdpgw_snat_expired_total{{protocol=\"udp\"}} {}", kRange),
        std::string("xdpgw_packets_total{reason=\"drop_snat_ports_exhausted\",outcome=\"drop\"} 1")})
    EXPECT_NE(scrape.output.find(line), std::string::npos) << line << "\n" << scrape.output;
  const CmdResult lint =
      t.gateway().exec("curl -sS --fail http://127.0.0.1:10170/metrics | promtool check metrics");
  EXPECT_TRUE(lint.ok()) << lint.output;
}

TEST(SnatE2e, LiveTcpTransferSurvivesAReloadAndAKillNineRestart) {
  NatTopology net;
  RouterTopology& t = net.topo();
  GatewayDaemon daemon(t.gateway(), xdpgw_config(net));
  TempDir dir;
  Server iperf(t.host_b(),
               {"/usr/bin/iperf3", "-s", "-1", "--forceflush", "-B", std::string(kHostB4), "-p", std::to_string(kIperfPort)},
               dir.path() / "server.log");
  ASSERT_TRUE(wait_until([&] { return listening(t.host_b(), kIperfPort); }, 20s, 50ms));
  // One long TCP transfer; the gateway's daemon reloads, then dies and comes
  // back, while it runs.
  Server client(t.host_a(),
                {"/usr/bin/iperf3", "-c", std::string(kHostB4), "-p", std::to_string(kIperfPort), "-B",
                 std::string(kHostA4), "-t", "8", "-J"},
                dir.path() / "client.json");
  ASSERT_TRUE(wait_until([&] { return snat_total(daemon) >= 2; }, 20s, 50ms)) << "no translation appeared";

  daemon.rewrite_config(xdpgw_config(net, "", "\n[nat]\ntcp_transitory_s = 60\n"));
  const CmdResult reload = run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY,
                                               daemon.control_socket().string()));
  ASSERT_TRUE(reload.ok()) << reload.output;
  daemon.kill9();
  daemon.restart(t.gateway());
  EXPECT_NE(daemon.log().find("adopted from pins"), std::string::npos) << daemon.log();

  ASSERT_TRUE(wait_until([&] { return client.output().find("\"end\"") != std::string::npos &&
                                      client.output().rfind('}') != std::string::npos &&
                                      nlohmann::json::accept(client.output()); },
                         60s, 50ms))
      << client.output();
  const auto j = nlohmann::json::parse(client.output());
  ASSERT_FALSE(j.contains("error")) << client.output();
  EXPECT_GT(j["end"]["sum_received"]["bytes"].get<uint64_t>(), 0u) << client.output();
  EXPECT_EQ(net.seen_at_b().first, 0u) << "an inside address reached the outside";
}

// An echo server for many long-lived connections: TCP and UDP on one port,
// every TCP peer and every new UDP peer logged as it comes ("tcp IP:PORT",
// "udp IP:PORT"). asyncio, with a listen backlog that takes every
// connection (http.server's is 5) and a descriptor limit above them.
constexpr std::string_view kEchoServer = R"(
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port = sys.argv[1], int(sys.argv[2])
async def echo(reader, writer):
    peer = writer.get_extra_info("peername")
    print(f"tcp {peer[0]}:{peer[1]}", flush=True)
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()
class Udp(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport, self.seen = transport, set()
    def datagram_received(self, data, peer):
        if peer not in self.seen:
            self.seen.add(peer)
            print(f"udp {peer[0]}:{peer[1]}", flush=True)
        self.transport.sendto(data, peer)
async def main():
    server = await asyncio.start_server(echo, host, port, backlog=4096)
    await asyncio.get_running_loop().create_datagram_endpoint(Udp, local_addr=(host, port))
    print("listening", flush=True)
    await server.serve_forever()
asyncio.run(main())
)";

// Raises this process's descriptor limit to its hard limit while it lives
// (a container's root may not raise the hard limit itself).
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t needed) {
    check_errno(::getrlimit(RLIMIT_NOFILE, &saved_), "getrlimit");
    if (saved_.rlim_max < needed)
      throw std::runtime_error(fmt::format("the descriptor limit's hard limit {} is below the {} needed",
                                           saved_.rlim_max, needed));
    const rlimit raised{.rlim_cur = saved_.rlim_max, .rlim_max = saved_.rlim_max};
    check_errno(::setrlimit(RLIMIT_NOFILE, &raised), "setrlimit");
  }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;
  ~DescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

// A blocking socket in an inside host, bound to its address, connected to
// `to` (TCP: established on return), every send and receive bounded.
UniqueFd connected_socket(const InsideHost& host, int type, const sockaddr_in& to) {
  UniqueFd fd;
  {
    const auto in = host.ns->enter();
    fd = UniqueFd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  }
  check_errno(fd.get(), "socket");
  const timeval bound{.tv_sec = 10, .tv_usec = 0};  // SO_SNDTIMEO bounds connect() too
  check_errno(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound)), "SO_SNDTIMEO");
  check_errno(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound)), "SO_RCVTIMEO");
  const sockaddr_in self = ipv4_endpoint(host.address, 0);
  check_errno(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&self), sizeof(self)), "bind");
  check_errno(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to)),
              fmt::format("connect to {}", endpoint_text(to)));
  return fd;
}

// "" when `message` was sent on `fd` / came back intact on it (TCP: as
// many bytes; UDP: one datagram), else what went wrong.
std::string send_problem(int fd, const std::string& message) {
  if (::send(fd, message.data(), message.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(message.size()))
    return fmt::format("send: {}", std::strerror(errno));
  return {};
}
std::string read_echo_problem(int fd, const std::string& message, bool stream) {
  std::string got(message.size() + (stream ? 0 : 1), '\0');
  std::size_t have = 0;
  do {
    const ssize_t n = ::recv(fd, got.data() + have, got.size() - have, 0);
    if (n < 0) return fmt::format("receive: {}", std::strerror(errno));
    if (n == 0) return "closed by the server";
    have += static_cast<std::size_t>(n);
  } while (stream && have < got.size());
  got.resize(have);
  return got == message ? std::string() : fmt::format("echoed {:?} for {:?}", got, message);
}

// Every connection echoes one message; returns the failures by connection.
// TCP: all sent first, then all read (the server answers them in any order).
// UDP: one at a time, so no burst overruns the server's receive buffer.
std::map<std::size_t, std::string> echo_round(const std::vector<UniqueFd>& fds, bool stream, int round) {
  std::map<std::size_t, std::string> failed;
  const auto message = [&](std::size_t i) { return fmt::format("round {} connection {}\n", round, i); };
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (auto problem = send_problem(fds[i].get(), message(i)); !problem.empty()) {
      failed[i] = problem;
      continue;
    }
    if (!stream)
      if (auto problem = read_echo_problem(fds[i].get(), message(i), stream); !problem.empty()) failed[i] = problem;
  }
  if (stream)
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (!failed.contains(i))
        if (auto problem = read_echo_problem(fds[i].get(), message(i), stream); !problem.empty())
          failed[i] = problem;
  return failed;
}

std::string first_failures(const std::map<std::size_t, std::string>& failed) {
  std::string text = fmt::format("{} failed", failed.size());
  for (const auto& [i, problem] : failed) {
    if (text.size() > 2000) break;
    text += fmt::format("; #{}: {}", i, problem);
  }
  return text;
}

// The peers an echo server logged ("tcp IP:PORT" / "udp IP:PORT"), and
// every line that was neither.
struct EchoPeers {
  std::set<std::string> tcp, udp;
  std::size_t lines = 0;
  std::vector<std::string> other;
};
EchoPeers echo_peers(const std::string& log_text) {
  EchoPeers out;
  std::istringstream log(log_text);
  for (std::string line; std::getline(log, line);) {
    if (line == "listening") continue;
    ++out.lines;
    if (line.starts_with("tcp "))
      out.tcp.insert(line.substr(4));
    else if (line.starts_with("udp "))
      out.udp.insert(line.substr(4));
    else
      out.other.push_back(line);
  }
  return out;
}

// kEchoServer on host B at `port`, and `n` TCP connections and `n` UDP
// flows to it from the inside hosts in turn, each established (TCP) or
// bound and connected (UDP) when this returns.
struct EchoFlows {
  EchoFlows(const NatTopology& net, const TempDir& dir, uint16_t port, std::size_t n)
      : server([&] {
          std::ofstream(dir.path() / "echo.py") << kEchoServer;
          return Server(net.topo().host_b(),
                        {"/usr/bin/python3", (dir.path() / "echo.py").string(), std::string(kHostB4),
                         std::to_string(port)},
                        dir.path() / "echo.log");
        }()) {
    if (!wait_until([&] { return server.output().find("listening") != std::string::npos; }, 20s, 50ms))
      throw std::runtime_error("the echo server did not listen: " + server.output());
    const std::vector<InsideHost> hosts = inside_hosts(net);
    const sockaddr_in to = ipv4_endpoint(kHostB4, port);
    for (std::size_t i = 0; i < n; ++i) {
      tcp.push_back(connected_socket(hosts[i % hosts.size()], SOCK_STREAM, to));
      udp.push_back(connected_socket(hosts[i % hosts.size()], SOCK_DGRAM, to));
    }
  }
  Server server;
  std::vector<UniqueFd> tcp, udp;
};

TEST(SnatE2e, AThousandLongLivedConnectionsSurviveAReloadAndAKillNineRestart) {
  constexpr std::size_t kConnections = 1000;  // TCP, and as many UDP flows
  constexpr uint16_t kEchoPort = 7777;
  const DescriptorLimit limit(2 * kConnections + 256);
  NatTopology net(NatOptions{.second_inside_host = true});
  RouterTopology& t = net.topo();
  GatewayDaemon daemon(t.gateway(), xdpgw_config(net));
  TempDir dir;
  EchoFlows flows(net, dir, kEchoPort, kConnections);  // half from each inside host
  const std::vector<UniqueFd>& tcp = flows.tcp;
  const std::vector<UniqueFd>& udp = flows.udp;
  auto failed = echo_round(tcp, true, 0);
  ASSERT_TRUE(failed.empty()) << "before anything happened, tcp: " << first_failures(failed);
  failed = echo_round(udp, false, 0);
  ASSERT_TRUE(failed.empty()) << "before anything happened, udp: " << first_failures(failed);
  ASSERT_GE(snat_total(daemon), 2 * kConnections);

  daemon.rewrite_config(xdpgw_config(net, "", "\n[nat]\ntcp_transitory_s = 60\n"));
  const CmdResult reload = run_cmd(fmt::format("{} reload --socket {}", XDPGW_BINARY,
                                               daemon.control_socket().string()));
  ASSERT_TRUE(reload.ok()) << reload.output;
  failed = echo_round(tcp, true, 1);
  EXPECT_TRUE(failed.empty()) << "after the reload, tcp: " << first_failures(failed);
  failed = echo_round(udp, false, 1);
  EXPECT_TRUE(failed.empty()) << "after the reload, udp: " << first_failures(failed);

  daemon.kill9();
  daemon.restart(t.gateway());
  EXPECT_NE(daemon.log().find("adopted from pins"), std::string::npos) << daemon.log();
  failed = echo_round(tcp, true, 2);
  EXPECT_TRUE(failed.empty()) << "after the kill -9 and restart, tcp: " << first_failures(failed);
  failed = echo_round(udp, false, 2);
  EXPECT_TRUE(failed.empty()) << "after the kill -9 and restart, udp: " << first_failures(failed);

  // The server saw each flow once (a flow given a new translation on the way
  // would have shown up as a new peer), all from the gateway's address on
  // ports of their own.
  const EchoPeers peers = echo_peers(flows.server.output());
  EXPECT_TRUE(peers.other.empty()) << "the echo server said: " << peers.other.front();
  for (const auto* set : {&peers.tcp, &peers.udp})
    for (const std::string& peer : *set)
      EXPECT_TRUE(peer.starts_with(std::string(kGatewayB4) + ":")) << peer;
  EXPECT_EQ(peers.tcp.size(), kConnections);
  EXPECT_EQ(peers.udp.size(), kConnections);
  EXPECT_EQ(peers.lines, 2 * kConnections) << "a flow reached the server twice";
  EXPECT_EQ(net.seen_at_b().first, 0u) << "an inside address reached the outside";
}

// 10,000 flows open at once, 5,000 TCP connections and 5,000 UDP flows,
// from the two inside hosts to one server port: each needs a translated
// port of its own (the same inside port may be in use on both hosts), or
// two flows would meet at the server as one. Every flow echoes its own
// message, and the server sees 10,000 different peers, all at the gateway's
// address; on both gateways.
TEST_P(SnatClientSuite, TenThousandConcurrentTcpAndUdpFlowsEachGetAPortOfTheirOwn) {
  constexpr std::size_t kFlows = 5'000;  // TCP, and as many UDP
  constexpr uint16_t kEchoPort = 7778;
  const DescriptorLimit limit(2 * kFlows + 1024);
  EchoFlows flows(net_, dir_, kEchoPort, kFlows);
  const std::vector<UniqueFd>& tcp = flows.tcp;
  const std::vector<UniqueFd>& udp = flows.udp;
  auto failed = echo_round(tcp, true, 0);
  EXPECT_TRUE(failed.empty()) << "tcp: " << first_failures(failed);
  failed = echo_round(udp, false, 0);
  EXPECT_TRUE(failed.empty()) << "udp: " << first_failures(failed);
  if (GetParam() == NatGateway::kXdpgw) {
    EXPECT_GE(snat_total(*daemon_), 2 * kFlows);
  }

  const EchoPeers peers = echo_peers(flows.server.output());
  EXPECT_TRUE(peers.other.empty()) << "the echo server said: " << peers.other.front();
  EXPECT_EQ(peers.tcp.size(), kFlows);
  EXPECT_EQ(peers.udp.size(), kFlows);
  EXPECT_EQ(peers.lines, 2 * kFlows) << "a flow reached the server twice";
  for (const auto* set : {&peers.tcp, &peers.udp})
    for (const std::string& peer : *set)
      ASSERT_TRUE(peer.starts_with(std::string(kGatewayB4) + ":")) << peer << " is not the gateway";
  EXPECT_EQ(net_.seen_at_b().first, 0u) << "an inside address reached the outside";
}

TEST(SnatE2e, EstablishedOnlyWanPortDropsUnsolicitedInboundAndPassesReplies) {
  NatTopology net;
  RouterTopology& t = net.topo();
  // B could now reach A's network directly, were it let in.
  t.host_b().exec_ok(fmt::format("ip route add {} via {}", kSubnetA4, kGatewayB4));
  GatewayConfig config = xdpgw_config(net);
  config.established_only_ports = {t.gateway_port_b().name};
  GatewayDaemon daemon(t.gateway(), config);

  const VerdictSnapshot before = daemon.verdicts();
  const CmdResult unsolicited = t.host_b().exec(fmt::format("ping -c 2 -W 1 {}", kHostA4));
  EXPECT_FALSE(unsolicited.ok()) << unsolicited.output;
  UdpSocket a(t.host_a(), kHostA4, 9000);
  UdpSocket b(t.host_b(), kHostB4, 9001);
  b.send_to(SocketAddress::parse(kHostA4, 9000), std::vector<uint8_t>{'x'});
  EXPECT_FALSE(a.receive(1s)) << "an unsolicited datagram got in";
  EXPECT_GE((daemon.verdicts() - before).total(XDPGW_R_DROP_INBOUND_NOT_ESTABLISHED), 3u);

  // What A started is answered: ping, and a datagram B answers.
  const CmdResult ping = t.host_a().exec(fmt::format("ping -c 2 -W 5 {}", kHostB4));
  EXPECT_TRUE(ping.ok()) << ping.output;
  a.send_to(SocketAddress::parse(kHostB4, 9001), std::vector<uint8_t>{'q'});
  const auto query = b.receive(5s);
  ASSERT_TRUE(query);
  EXPECT_EQ(query->from.to_string().substr(0, kGatewayB4.size()), kGatewayB4);
  b.send_to(query->from, std::vector<uint8_t>{'r'});
  const auto answer = a.receive(5s);
  ASSERT_TRUE(answer) << "the reply to A's own flow did not get in";
  EXPECT_EQ(answer->payload, std::vector<uint8_t>{'r'});
}

}  // namespace
}  // namespace xdpgw::test::e2e
