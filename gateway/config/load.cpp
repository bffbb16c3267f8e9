// parse + validate for callers that want a Config or an exception.
#include "config/config.hpp"

namespace xdpgw::config {

Config load(const std::filesystem::path& path, const Environment& env) {
  // value() throws ConfigException with the errors of a failed stage.
  const RawConfig raw = parse(path).value();
  return validate(raw, env).value();
}

}  // namespace xdpgw::config
