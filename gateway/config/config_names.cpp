// to_string() of the config enums, from the tables in config_names.hpp.
#include "config/config_names.hpp"

namespace xdpgw::config {

std::string_view to_string(AttachMode mode) { return name_of(mode, kAttachModes); }
std::string_view to_string(MissedTailCall action) {
  return name_of(action, kMissedTailCallActions);
}
std::string_view to_string(RouteSource source) { return name_of(source, kRouteSources); }
std::string_view to_string(AclAction action) { return name_of(action, kAclActions); }
std::string_view to_string(AclProtocol protocol) { return name_of(protocol, kAclProtocols); }
std::string_view to_string(L4Protocol protocol) { return name_of(protocol, kL4Protocols); }
std::string_view to_string(LbMode mode) { return name_of(mode, kLbModes); }
std::string_view to_string(SynproxyMode mode) { return name_of(mode, kSynproxyModes); }
std::string_view to_string(HealthCheckKind kind) { return name_of(kind, kHealthCheckKinds); }
std::string_view to_string(FlowFormat format) { return name_of(format, kFlowFormats); }

std::string FlowCollector::to_string() const {
  const std::string addr = address.to_string();
  if (address.family == IpFamily::kV4) return fmt::format("{}://{}:{}", config::to_string(format), addr, port);
  return fmt::format("{}://[{}]:{}", config::to_string(format), addr, port);
}

}  // namespace xdpgw::config
