#include "announce/bird.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <istream>
#include <memory>
#include <system_error>

#include "common/fd.hpp"

namespace xdpgw::announce {

BirdProtocols protocol_names(std::string_view base) {
  return {fmt::format("{}_v4", base), fmt::format("{}_v6", base)};
}

std::string render_include(std::string_view instance, std::string_view include_path,
                           const BirdProtocols& protocols,
                           const std::set<config::IpAddr>& addresses) {
  std::string out = fmt::format(
      "# Written by xdpgw instance {:?} whenever the set of VIPs it announces changes;\n"
      "# do not edit. In bird.conf:\n"
      "#   include \"{}\";\n"
      "# and in the BGP channels that announce VIPs upstream:\n"
      "#   ipv4 {{ export where proto = \"{}\"; }};\n"
      "#   ipv6 {{ export where proto = \"{}\"; }};\n",
      instance, include_path, protocols.v4, protocols.v6);
  for (auto family : {config::IpFamily::kV4, config::IpFamily::kV6}) {
    const bool v4 = family == config::IpFamily::kV4;
    out += fmt::format("protocol static {} {{\n\t{};\n", v4 ? protocols.v4 : protocols.v6,
                       v4 ? "ipv4" : "ipv6");
    for (const auto& addr : addresses)
      if (addr.family == family)
        out += fmt::format("\troute {}/{} blackhole;\n", addr.to_string(), addr.max_prefix_length());
    out += "}\n";
  }
  return out;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) throw std::system_error(ec, "create " + path.parent_path().string());
  const std::filesystem::path tmp = path.string() + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw std::system_error(errno, std::generic_category(), "open " + tmp.string());
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "write " + tmp.string());
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd.get()) < 0)
    throw std::system_error(errno, std::generic_category(), "fsync " + tmp.string());
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) < 0)
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("rename {} to {}", tmp.string(), path.string()));
}

bool BirdReplyReader::feed(std::string_view line) {
  auto append = [this](std::string_view text) {
    if (text.empty()) return;
    if (!reply_.text.empty()) reply_.text += "; ";
    reply_.text += text;
  };
  if (!line.empty() && line.front() == ' ') {
    append(line.substr(1));
    return false;
  }
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (line.size() < 5 || !digit(line[0]) || !digit(line[1]) || !digit(line[2]) ||
      !digit(line[3]) || (line[4] != ' ' && line[4] != '-'))
    throw std::runtime_error(fmt::format("not a BIRD control reply line: {:?}", line));
  reply_.code = (line[0] - '0') * 1000 + (line[1] - '0') * 100 + (line[2] - '0') * 10 + (line[3] - '0');
  append(line.substr(5));
  return line[4] == ' ';
}

bool configure_accepted(const BirdReply& reply) {
  switch (reply.code) {
    case 3:   // Reconfigured
    case 4:   // Reconfiguration in progress
    case 5:   // Reconfiguration already in progress, queueing
    case 17:  // Reconfiguration already in progress, removing queued config
      return true;
    default:
      return false;
  }
}

namespace {

using boost::asio::local::stream_protocol;

// One exchange; owns itself through the handlers until it finishes.
class ConfigureOp : public std::enable_shared_from_this<ConfigureOp> {
 public:
  ConfigureOp(boost::asio::io_context& io, std::string socket_path,
              std::function<void(ConfigureResult)> done)
      : socket_(io), timer_(io), path_(std::move(socket_path)), done_(std::move(done)) {}

  void start(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    timer_.expires_after(timeout);
    timer_.async_wait([self, timeout](const boost::system::error_code& ec) {
      if (ec) return;
      self->finish({false, fmt::format("no answer from BIRD at {} within {} ms", self->path_,
                                       timeout.count())});
    });
    socket_.async_connect(stream_protocol::endpoint(path_),
                          [self](const boost::system::error_code& ec) {
                            if (ec) return self->fail("connect", ec);
                            self->read_reply([self] { self->send_configure(); });
                          });
  }

 private:
  void send_configure() {
    if (!configure_accepted_greeting()) return;
    auto self = shared_from_this();
    reader_ = {};
    boost::asio::async_write(socket_, boost::asio::buffer(kRequest),
                             [self](const boost::system::error_code& ec, size_t) {
                               if (ec) return self->fail("send configure", ec);
                               self->read_reply([self] {
                                 const BirdReply& r = self->reader_.reply();
                                 self->finish({configure_accepted(r),
                                               fmt::format("{:04} {}", r.code, r.text)});
                               });
                             });
  }

  // The greeting is "0001 BIRD x.y.z ready."; anything else (e.g. 0016
  // access restricted) ends the exchange.
  bool configure_accepted_greeting() {
    if (reader_.reply().code == 1) return true;
    finish({false, fmt::format("BIRD at {} did not greet: {:04} {}", path_, reader_.reply().code,
                               reader_.reply().text)});
    return false;
  }

  // Reads lines into reader_ until a reply is complete, then calls `then`.
  template <typename Then>
  void read_reply(Then then) {
    auto self = shared_from_this();
    boost::asio::async_read_until(
        socket_, buffer_, '\n',
        [self, then](const boost::system::error_code& ec, size_t) {
          if (ec) return self->fail("read", ec);
          std::istream in(&self->buffer_);
          std::string line;
          std::getline(in, line);
          try {
            if (self->reader_.feed(line)) return then();
          } catch (const std::exception& e) {
            return self->finish({false, e.what()});
          }
          self->read_reply(then);
        });
  }

  void fail(std::string_view what, const boost::system::error_code& ec) {
    finish({false, fmt::format("BIRD control socket {}: {}: {}", path_, what, ec.message())});
  }

  void finish(ConfigureResult result) {
    if (!done_) return;  // the timeout and an I/O handler both got here
    auto done = std::move(done_);
    done_ = nullptr;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);  // ends the pending read, whose handler then returns here
    done(std::move(result));
  }

  static constexpr std::string_view kRequest = "configure\n";
  stream_protocol::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf buffer_;
  BirdReplyReader reader_;
  std::string path_;
  std::function<void(ConfigureResult)> done_;
};

}  // namespace

void async_configure(boost::asio::io_context& io, const std::string& socket_path,
                     std::chrono::milliseconds timeout, std::function<void(ConfigureResult)> done) {
  std::make_shared<ConfigureOp>(io, socket_path, std::move(done))->start(timeout);
}

}  // namespace xdpgw::announce
