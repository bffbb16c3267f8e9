// PROXY protocol version 2 (HAProxy, "The PROXY protocol", section 2.2):
// the binary header a proxy writes first on its connection to the backend,
// so the backend learns the client's address (nginx: `listen ...
// proxy_protocol`, then $proxy_protocol_addr). Pure: no sockets.
#pragma once

#include <cstdint>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace xdpgw::proxy {

// The v2 header for a proxied TCP connection from `client` to `vip` (the
// address and port the client connected to): command PROXY, TCP over IPv4
// (28 bytes) when both are IPv4, else TCP over IPv6 (52 bytes; an IPv4
// address beside an IPv6 one is written IPv4-mapped).
std::vector<uint8_t> proxy_v2_header(const boost::asio::ip::tcp::endpoint& client,
                                     const boost::asio::ip::tcp::endpoint& vip);

}  // namespace xdpgw::proxy
