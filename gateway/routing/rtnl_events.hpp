// An rtnetlink socket subscribed to multicast groups (RTNLGRP_*), read on an
// io_context whenever it is readable. Every message of a read goes to
// `message`, in order, then `batch_done` runs once. When the kernel dropped
// messages because the socket's buffer overran (ENOBUFS), `overrun` runs:
// only a fresh dump then tells the state. A handler that throws is reported
// to `failed`, and reading goes on.
//
// Subscribe first, dump second: a change between the two is then both in
// the dump and in the queue, and applying it twice must be harmless.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>

#include "datapath/rtnl.hpp"

struct nlmsghdr;

namespace xdpgw::routing {

class RtnlEvents {
 public:
  struct Handlers {
    std::function<void(const ::nlmsghdr*)> message;
    // `started`: when the read that delivered the batch began.
    std::function<void(std::chrono::steady_clock::time_point started)> batch_done;
    std::function<void()> overrun;
    std::function<void(const std::string& error)> failed;
  };

  // Throws std::system_error when the socket cannot be opened or a group
  // joined. `what` names the subscriber in errors.
  RtnlEvents(boost::asio::io_context& io, std::string what, std::initializer_list<int> groups,
             Handlers handlers);
  RtnlEvents(const RtnlEvents&) = delete;
  RtnlEvents& operator=(const RtnlEvents&) = delete;
  ~RtnlEvents();

 private:
  void wait_readable();
  void read_all();

  std::string what_;
  Handlers handlers_;
  rtnl::MnlSocket sock_;
  boost::asio::posix::stream_descriptor readable_;
};

}  // namespace xdpgw::routing
