// The receiving kernel as the checksum and length oracle: frames built by
// FrameBuilder are sent raw (AF_PACKET) over a veth, and the other namespace's
// stack must deliver them (UDP) or answer them (TCP SYN, ICMP echo) - which it
// only does when every length and checksum is right. Frames the builder
// deliberately corrupts must be dropped. The kernel's own replies must in turn
// pass checksum_error(), cross-checking the checker.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "harness/frame.hpp"
#include "harness/netns.hpp"
#include "harness/veth.hpp"

namespace xdpgw::test {
namespace {

const MacAddr kSenderMac = mac("02:00:00:00:01:01");
const MacAddr kReceiverMac = mac("02:00:00:00:02:01");
const Ipv4Addr kSender4 = ipv4("198.18.0.1");
const Ipv4Addr kReceiver4 = ipv4("198.18.0.2");
const Ipv6Addr kSender6 = ipv6("2001:2::1");
const Ipv6Addr kReceiver6 = ipv6("2001:2::2");

struct L4View {
  uint8_t proto;
  std::span<const uint8_t> segment;
};

// The L4 part of an untagged IPv4 or IPv6 (no extension headers) frame.
std::optional<L4View> l4_of(std::span<const uint8_t> frame) {
  if (frame.size() < 14) return std::nullopt;
  const uint16_t type = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
  std::span<const uint8_t> ip = frame.subspan(14);
  if (type == ethertype::kIpv4 && ip.size() >= 20) {
    const std::size_t header = (ip[0] & 0x0f) * 4u;
    if (header > ip.size()) return std::nullopt;
    return L4View{ip[9], ip.subspan(header)};
  }
  if (type == ethertype::kIpv6 && ip.size() >= 40) return L4View{ip[6], ip.subspan(40)};
  return std::nullopt;
}

uint16_t be16(std::span<const uint8_t> bytes, std::size_t offset) {
  return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

uint32_t be32(std::span<const uint8_t> bytes, std::size_t offset) {
  return static_cast<uint32_t>(be16(bytes, offset)) << 16 | be16(bytes, offset + 2);
}

class KernelAcceptsFrames : public ::testing::Test {
 protected:
  void SetUp() override {
    // Without this the receiver leaves TCP checksums of its replies to
    // (non-existent) offload and our capture would see partial sums.
    receiver_.exec_ok("ethtool -K " + veth_.name_b() + " tx off");
    NetnsGuard inside = sender_.enter();
    capture_ = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    if (!capture_) throw_errno(errno, "AF_PACKET socket");
    sockaddr_ll where{};
    where.sll_family = AF_PACKET;
    where.sll_protocol = htons(ETH_P_ALL);
    where.sll_ifindex = veth_.ifindex_a();
    check_errno(::bind(capture_.get(), reinterpret_cast<const sockaddr*>(&where), sizeof(where)),
                "bind AF_PACKET");
  }

  FrameBuilder to_receiver() const { return FrameBuilder().eth(kReceiverMac, kSenderMac); }

  void send(const std::vector<uint8_t>& frame) {
    check_errno(static_cast<int>(::send(capture_.get(), frame.data(), frame.size(), 0)),
                "send AF_PACKET");
  }

  // A socket in the receiver namespace, bound to the port, 2 s receive timeout.
  UniqueFd receiver_socket(int family, int type, uint16_t port) {
    NetnsGuard inside = receiver_.enter();
    UniqueFd sock(::socket(family, type | SOCK_CLOEXEC, 0));
    if (!sock) throw_errno(errno, "receiver socket");
    const timeval timeout{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    const int on = 1;
    ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (family == AF_INET) {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      check_errno(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), "bind");
    } else {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(port);
      check_errno(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), "bind");
    }
    if (type == SOCK_STREAM) check_errno(::listen(sock.get(), 8), "listen");
    return sock;
  }

  // The next datagram's payload, or nullopt after the 2 s timeout.
  static std::optional<std::string> receive_datagram(const UniqueFd& sock) {
    std::array<char, 2048> buffer{};
    const ssize_t n = ::recv(sock.get(), buffer.data(), buffer.size(), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer.data(), static_cast<std::size_t>(n));
  }

  // The first frame arriving on the sender's veth end that matches, within 2 s.
  std::optional<std::vector<uint8_t>> wait_for_frame(
      const std::function<bool(std::span<const uint8_t>)>& matches) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::array<uint8_t, 4096> buffer{};
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd ready{.fd = capture_.get(), .events = POLLIN, .revents = 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
      sockaddr_ll from{};
      socklen_t from_size = sizeof(from);
      const ssize_t n = ::recvfrom(capture_.get(), buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_size);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;  // our own sends
      std::span<const uint8_t> frame(buffer.data(), static_cast<std::size_t>(n));
      if (matches(frame)) return std::vector<uint8_t>(frame.begin(), frame.end());
    }
  }

  std::optional<std::vector<uint8_t>> wait_for_syn_ack(uint16_t client_port, uint32_t client_seq) {
    return wait_for_frame([&](std::span<const uint8_t> frame) {
      const auto l4 = l4_of(frame);
      if (!l4 || l4->proto != ip_proto::kTcp || l4->segment.size() < 20) return false;
      const uint8_t flags = l4->segment[13];
      return be16(l4->segment, 2) == client_port &&
             (flags & (tcp_flags::kSyn | tcp_flags::kAck)) == (tcp_flags::kSyn | tcp_flags::kAck) &&
             be32(l4->segment, 8) == client_seq + 1;
    });
  }

  std::optional<std::vector<uint8_t>> wait_for_echo_reply(uint8_t proto, uint8_t reply_type,
                                                           uint16_t id, uint16_t seq) {
    return wait_for_frame([&](std::span<const uint8_t> frame) {
      const auto l4 = l4_of(frame);
      return l4 && l4->proto == proto && l4->segment.size() >= 8 && l4->segment[0] == reply_type &&
             be16(l4->segment, 4) == id && be16(l4->segment, 6) == seq;
    });
  }

  Netns sender_{"tx"};
  Netns receiver_{"rx"};
  VethPair veth_{sender_, receiver_,
                 {.a = {.mac = kSenderMac, .addresses = {"198.18.0.1/24", "2001:2::1/64"}},
                  .b = {.mac = kReceiverMac, .addresses = {"198.18.0.2/24", "2001:2::2/64"}}}};
  UniqueFd capture_;  // AF_PACKET on the sender's end: sends our frames, sees replies
};

TEST_F(KernelAcceptsFrames, UdpOverIpv4IsDelivered) {
  UniqueFd sock = receiver_socket(AF_INET, SOCK_DGRAM, 5001);
  send(to_receiver()
           .ipv4({.src = kSender4, .dst = kReceiver4, .id = 77, .dont_fragment = true})
           .udp({.sport = 40000, .dport = 5001})
           .payload_text("plain ipv4")
           .build());
  EXPECT_EQ(receive_datagram(sock), "plain ipv4");
}

TEST_F(KernelAcceptsFrames, UdpOverIpv4WithOptionsIsDelivered) {
  UniqueFd sock = receiver_socket(AF_INET, SOCK_DGRAM, 5002);
  // Four NOPs: IHL 6.
  send(to_receiver()
           .ipv4({.src = kSender4, .dst = kReceiver4, .options = {1, 1, 1, 1}})
           .udp({.sport = 40000, .dport = 5002})
           .payload_text("ipv4 options")
           .build());
  EXPECT_EQ(receive_datagram(sock), "ipv4 options");
}

TEST_F(KernelAcceptsFrames, UdpOverIpv4WithoutChecksumIsDelivered) {
  UniqueFd sock = receiver_socket(AF_INET, SOCK_DGRAM, 5003);
  send(to_receiver()
           .ipv4({.src = kSender4, .dst = kReceiver4})
           .udp({.sport = 40000, .dport = 5003, .zero_checksum = true})
           .payload_text("no checksum")
           .build());
  EXPECT_EQ(receive_datagram(sock), "no checksum");
}

TEST_F(KernelAcceptsFrames, UdpOverIpv6IsDelivered) {
  UniqueFd sock = receiver_socket(AF_INET6, SOCK_DGRAM, 5004);
  send(to_receiver()
           .ipv6({.src = kSender6, .dst = kReceiver6, .flow_label = 0xbeef})
           .udp({.sport = 40000, .dport = 5004})
           .payload(301)
           .build());
  const auto received = receive_datagram(sock);
  ASSERT_TRUE(received.has_value());
  ASSERT_EQ(received->size(), 301u);
  for (std::size_t i = 0; i < received->size(); ++i) {
    ASSERT_EQ(static_cast<uint8_t>((*received)[i]), static_cast<uint8_t>(i)) << i;
  }
}

TEST_F(KernelAcceptsFrames, UdpOverIpv6ExtensionChainIsDelivered) {
  UniqueFd sock = receiver_socket(AF_INET6, SOCK_DGRAM, 5005);
  // Hop-by-hop and destination options larger than Linux's 7-byte padding
  // limit, and an atomic fragment (offset 0, M=0), which the kernel processes
  // as an unfragmented packet.
  send(to_receiver()
           .ipv6({.src = kSender6, .dst = kReceiver6})
           .hop_by_hop(1)
           .dest_opts(40)
           .fragment(0, false, 0x1234)
           .udp({.sport = 40000, .dport = 5005})
           .payload_text("ext chain")
           .build());
  EXPECT_EQ(receive_datagram(sock), "ext chain");
}

TEST_F(KernelAcceptsFrames, CorruptedFramesAreDropped) {
  UniqueFd sock4 = receiver_socket(AF_INET, SOCK_DGRAM, 5006);
  UniqueFd sock6 = receiver_socket(AF_INET6, SOCK_DGRAM, 5007);
  auto udp4 = [&](std::string_view text) {
    return to_receiver()
        .ipv4({.src = kSender4, .dst = kReceiver4})
        .udp({.sport = 40000, .dport = 5006})
        .payload_text(text);
  };
  auto udp6 = [&](std::string_view text) {
    return to_receiver()
        .ipv6({.src = kSender6, .dst = kReceiver6})
        .udp({.sport = 40000, .dport = 5007})
        .payload_text(text);
  };
  // Sent first, so if any of them were accepted it would be received first.
  send(udp4("bad udp checksum").bad_l4_checksum().build());
  send(udp4("bad ip checksum").bad_ipv4_checksum().build());
  send(udp4("bad ip length").ipv4_total_length(20 + 8 + 3).build());
  send(udp6("bad udp6 checksum").bad_l4_checksum().build());
  send(udp6("zero udp6 checksum").l4_checksum(0).build());
  send(udp4("good").build());
  send(udp6("good6").build());
  EXPECT_EQ(receive_datagram(sock4), "good");
  EXPECT_EQ(receive_datagram(sock6), "good6");
}

TEST_F(KernelAcceptsFrames, TcpSynOverIpv4IsAnswered) {
  UniqueFd listener = receiver_socket(AF_INET, SOCK_STREAM, 8080);
  // The bad SYN alone first: waiting for the good one's answer would read
  // past (and discard) an answer to it.
  const TcpFields bad_syn{.sport = 41000, .dport = 8080, .seq = 1000, .flags = tcp_flags::kSyn};
  send(to_receiver().ipv4({.src = kSender4, .dst = kReceiver4}).tcp(bad_syn).bad_l4_checksum().build());
  EXPECT_FALSE(wait_for_frame([](std::span<const uint8_t> frame) {
                 const auto l4 = l4_of(frame);
                 return l4 && l4->proto == ip_proto::kTcp && be16(l4->segment, 2) == 41000;
               }).has_value())
      << "the SYN with a bad checksum was answered";
  const TcpFields syn{.sport = 41001,
                      .dport = 8080,
                      .seq = 5000,
                      .flags = tcp_flags::kSyn,
                      .window = 64240,
                      .options = {2, 4, 0x05, 0xb4, 1, 3, 3, 7}};  // MSS 1460, NOP, WS 7
  send(to_receiver().ipv4({.src = kSender4, .dst = kReceiver4, .id = 9}).tcp(syn).build());

  const auto syn_ack = wait_for_syn_ack(41001, 5000);
  ASSERT_TRUE(syn_ack.has_value()) << "no SYN-ACK: the kernel dropped the SYN";
  EXPECT_EQ(checksum_error(*syn_ack), std::nullopt) << hex_dump(*syn_ack);
}

TEST_F(KernelAcceptsFrames, TcpSynOverIpv6IsAnswered) {
  UniqueFd listener = receiver_socket(AF_INET6, SOCK_STREAM, 8443);
  send(to_receiver()
           .ipv6({.src = kSender6, .dst = kReceiver6})
           .tcp({.sport = 42000, .dport = 8443, .seq = 0xfffffff0, .flags = tcp_flags::kSyn})
           .build());
  const auto syn_ack = wait_for_syn_ack(42000, 0xfffffff0);
  ASSERT_TRUE(syn_ack.has_value()) << "no SYN-ACK: the kernel dropped the SYN";
  EXPECT_EQ(checksum_error(*syn_ack), std::nullopt) << hex_dump(*syn_ack);
}

TEST_F(KernelAcceptsFrames, IcmpEchoIsAnswered) {
  send(to_receiver().ipv4({.src = kSender4, .dst = kReceiver4}).icmp_echo(0x77, 1).payload(33).build());
  const auto reply = wait_for_echo_reply(ip_proto::kIcmp, 0, 0x77, 1);
  ASSERT_TRUE(reply.has_value()) << "no echo reply";
  EXPECT_EQ(checksum_error(*reply), std::nullopt) << hex_dump(*reply);
}

TEST_F(KernelAcceptsFrames, Icmpv6EchoIsAnswered) {
  send(to_receiver()
           .ipv6({.src = kSender6, .dst = kReceiver6})
           .icmpv6_echo(0x66, 2)
           .payload(17)
           .build());
  const auto reply = wait_for_echo_reply(ip_proto::kIcmpv6, 129, 0x66, 2);
  ASSERT_TRUE(reply.has_value()) << "no echo reply";
  EXPECT_EQ(checksum_error(*reply), std::nullopt) << hex_dump(*reply);
}

TEST_F(KernelAcceptsFrames, CorruptedEchoRequestsAreIgnored) {
  // One family at a time: a wait reads past (and discards) other frames.
  send(to_receiver().ipv4({.src = kSender4, .dst = kReceiver4}).icmp_echo(0x55, 1).bad_l4_checksum().build());
  EXPECT_FALSE(wait_for_echo_reply(ip_proto::kIcmp, 0, 0x55, 1).has_value());
  send(to_receiver().ipv6({.src = kSender6, .dst = kReceiver6}).icmpv6_echo(0x56, 1).bad_l4_checksum().build());
  EXPECT_FALSE(wait_for_echo_reply(ip_proto::kIcmpv6, 129, 0x56, 1).has_value());
}

}  // namespace
}  // namespace xdpgw::test
