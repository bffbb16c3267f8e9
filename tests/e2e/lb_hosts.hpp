// The hosts around a load balancer in end-to-end tests: TCP servers on the
// backends that say who they are, the DSR decap program on a backend's
// link, and a client connection that remembers which backend greeted it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.hpp"
#include "harness/netns.hpp"

namespace xdpgw::test::e2e {

// TCP servers in a backend namespace on `ports`, IPv4 and IPv6. Each
// connection is greeted with the backend's name and a newline; every line
// the client sends comes back prefixed with "name:", so a test can tell
// which backend answers an established connection.
class BackendServer {
 public:
  BackendServer(const Netns& ns, std::string name, const std::vector<uint16_t>& ports);
  BackendServer(const BackendServer&) = delete;
  BackendServer& operator=(const BackendServer&) = delete;
  ~BackendServer();
  // Closes the listeners and every connection: the backend is down.
  void stop();

 private:
  void listen_on(int family, uint16_t port);
  void serve();

  std::string name_;
  std::vector<UniqueFd> listeners_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The decap program on a backend's link, attached with the CLI like an
// operator would; also the XDP program a redirect into that veth needs.
class DecapAttachment {
 public:
  DecapAttachment(const Netns& ns, std::string ifname);
  DecapAttachment(const DecapAttachment&) = delete;
  DecapAttachment& operator=(const DecapAttachment&) = delete;
  ~DecapAttachment();
  uint64_t decapsulated() const;

 private:
  std::string ns_, ifname_;
};

// A TCP connection from the client namespace to VIP:port, greeted by its
// backend. Reads and writes time out after 5 s.
class Connection {
 public:
  Connection(const Netns& client, const std::string& vip, uint16_t port);
  const std::string& backend() const { return backend_; }
  // Sends a line; returns the backend's answer ("bN:line"). Throws when the
  // connection is reset or nothing comes back in time.
  std::string echo(const std::string& line);

 private:
  std::string read_line();
  UniqueFd fd_;
  std::string backend_;
};

}  // namespace xdpgw::test::e2e
