// Internal to the config module (included by its .cpp files only): the
// spelling of each config enum in the file. One table per enum gives both
// directions: the validator reads names with it (check_choice in
// validate_detail.hpp) and to_string() (config_names.cpp) writes them.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace xdpgw::config {

template <typename Enum>
struct Choice {
  std::string_view name;
  Enum value;
};

inline constexpr std::array<Choice<AttachMode>, 2> kAttachModes{{
    {"native", AttachMode::kNative},
    {"generic", AttachMode::kGeneric},
}};
inline constexpr std::array<Choice<MissedTailCall>, 2> kMissedTailCallActions{{
    {"drop", MissedTailCall::kDrop},
    {"pass", MissedTailCall::kPass},
}};
inline constexpr std::array<Choice<L4Protocol>, 2> kL4Protocols{{
    {"tcp", L4Protocol::kTcp},
    {"udp", L4Protocol::kUdp},
}};
inline constexpr std::array<Choice<LbMode>, 3> kLbModes{{
    {"nat", LbMode::kNat},
    {"dsr", LbMode::kDsr},
    {"proxy", LbMode::kProxy},
}};
inline constexpr std::array<Choice<SynproxyMode>, 3> kSynproxyModes{{
    {"off", SynproxyMode::kOff},
    {"on", SynproxyMode::kOn},
    {"auto", SynproxyMode::kAuto},
}};
inline constexpr std::array<Choice<FlowFormat>, 2> kFlowFormats{{
    {"ipfix", FlowFormat::kIpfix},
    {"netflow9", FlowFormat::kNetflow9},
}};
inline constexpr std::array<Choice<HealthCheckKind>, 2> kHealthCheckKinds{{
    {"tcp", HealthCheckKind::kTcp},
    {"http", HealthCheckKind::kHttp},
}};
inline constexpr std::array<Choice<RouteSource>, 4> kRouteSources{{
    {"fib", RouteSource::kFib},
    {"static", RouteSource::kStatic},
    {"kernel", RouteSource::kKernel},
    {"none", RouteSource::kNone},
}};

inline constexpr std::array<Choice<PuntProtocol>, 3> kPuntProtocols{{
    {"any", PuntProtocol::kAny},
    {"tcp", PuntProtocol::kTcp},
    {"udp", PuntProtocol::kUdp},
}};
inline constexpr std::array<Choice<PuntAction>, 3> kPuntActions{{
    {"forward", PuntAction::kForward},
    {"pass", PuntAction::kPass},
    {"drop", PuntAction::kDrop},
}};
inline constexpr std::array<Choice<PuntMode>, 2> kPuntModes{{
    {"first-packet", PuntMode::kFirstPacket},
    {"every-packet", PuntMode::kEveryPacket},
}};
inline constexpr std::array<Choice<PuntWait>, 2> kPuntWaits{{
    {"io_uring", PuntWait::kIoUring},
    {"busy-poll", PuntWait::kBusyPoll},
}};
inline constexpr std::array<Choice<PuntBind>, 3> kPuntBinds{{
    {"auto", PuntBind::kAuto},
    {"copy", PuntBind::kCopy},
    {"zero-copy", PuntBind::kZeroCopy},
}};
inline constexpr std::array<Choice<bool>, 2> kPuntFallbacks{{
    {"pass", false},
    {"drop", true},
}};
inline constexpr std::array<Choice<AclAction>, 2> kAclActions{{
    {"allow", AclAction::kAllow},
    {"deny", AclAction::kDeny},
}};
inline constexpr std::array<Choice<SnatProtocol>, 4> kSnatProtocols{{
    {"any", SnatProtocol::kAny},
    {"tcp", SnatProtocol::kTcp},
    {"udp", SnatProtocol::kUdp},
    {"icmp", SnatProtocol::kIcmp},
}};
inline constexpr std::array<Choice<AclState>, 2> kAclStates{{
    {"new", AclState::kNew},
    {"established", AclState::kEstablished},
}};
inline constexpr std::array<Choice<bool>, 2> kPortInbound{{
    {"any", false},
    {"established-only", true},
}};
inline constexpr std::array<Choice<SnatWhenFull>, 2> kSnatWhenFull{{
    {"drop", SnatWhenFull::kDrop},
    {"pass", SnatWhenFull::kPass},
}};
inline constexpr std::array<Choice<AclProtocol>, 5> kAclProtocols{{
    {"any", AclProtocol::kAny},
    {"tcp", AclProtocol::kTcp},
    {"udp", AclProtocol::kUdp},
    {"icmp", AclProtocol::kIcmp},
    {"icmpv6", AclProtocol::kIcmpv6},
}};


template <typename Enum, std::size_t N>
constexpr std::string_view name_of(Enum value, const std::array<Choice<Enum>, N>& choices) {
  for (const Choice<Enum>& choice : choices) {
    if (choice.value == value) return choice.name;
  }
  return "?";
}

// "\"a\" or \"b\"", "\"a\", \"b\" or \"c\""
template <typename Enum, std::size_t N>
inline std::string list_names(const std::array<Choice<Enum>, N>& choices) {
  std::string text;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) text += i + 1 == N ? " or " : ", ";
    text += fmt::format("{:?}", choices[i].name);
  }
  return text;
}


}  // namespace xdpgw::config
