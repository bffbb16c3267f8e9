// [flow_export]: collectors (UDP address, port, format) and the exporter's
// timeouts, sampling and observation domain.
#include "config/validate_detail.hpp"

namespace xdpgw::config::detail {

FlowExport check_flow_export(const std::optional<RawFlowExport>& raw, ErrorList& errors) {
  FlowExport fe;
  if (!raw) return fe;
  if (raw->collectors.empty())
    errors.add(raw->pos, "[flow_export] needs at least one collector "
               "(collectors = [{{ address = \"ADDR\", port = 4739, format = \"ipfix\" }}])");
  if (raw->collectors.size() > kMaxFlowCollectors)
    errors.add(raw->collectors[kMaxFlowCollectors].pos, "[flow_export] has {} collectors; at most {}",
               raw->collectors.size(), kMaxFlowCollectors);
  for (const RawFlowCollector& rc : raw->collectors) {
    FlowCollector c;
    bool ok = true;
    if (const auto* address = require(rc.address, "address", "a collector", rc.pos, errors)) {
      std::string why;
      if (auto addr = IpAddr::parse(address->value, &why)) {
        c.address = *addr;
      } else {
        errors.add(address->pos, "collector address: {}", why);
        ok = false;
      }
    } else {
      ok = false;
    }
    if (rc.port) {
      if (auto port = check_range(*rc.port, "port", 1, 65535, errors))
        c.port = static_cast<uint16_t>(*port);
      else
        ok = false;
    }
    if (rc.format) {
      if (auto format = check_choice(rc.format, "format", kFlowFormats, errors))
        c.format = *format;
      else
        ok = false;
    }
    if (!ok) continue;
    for (const FlowCollector& earlier : fe.collectors)
      if (earlier.address == c.address && earlier.port == c.port) {
        errors.add(rc.pos, "collector {} is listed twice", c.to_string());
        ok = false;
      }
    if (ok && fe.collectors.size() < kMaxFlowCollectors) fe.collectors.push_back(c);
  }
  auto seconds = [&](const RawInteger& value, std::string_view key, int64_t lo, uint32_t& out) {
    if (value)
      if (auto v = check_range(*value, key, lo, kMaxFlowTimeoutS, errors)) out = static_cast<uint32_t>(*v);
  };
  seconds(raw->active_timeout_s, "active_timeout_s", 1, fe.active_timeout_s);
  seconds(raw->inactive_timeout_s, "inactive_timeout_s", 1, fe.inactive_timeout_s);
  seconds(raw->template_refresh_s, "template_refresh_s", 1, fe.template_refresh_s);
  if (raw->active_timeout_s && raw->inactive_timeout_s && fe.inactive_timeout_s > fe.active_timeout_s)
    errors.add(raw->inactive_timeout_s->pos,
               "inactive_timeout_s {} is longer than active_timeout_s {}: a flow would never "
               "go idle before its active timeout",
               fe.inactive_timeout_s, fe.active_timeout_s);
  if (raw->sampling)
    if (auto v = check_range(*raw->sampling, "sampling", 1, kMaxSamplingInterval, errors))
      fe.sampling = static_cast<uint32_t>(*v);
  if (raw->observation_domain_id)
    if (auto v = check_range(*raw->observation_domain_id, "observation_domain_id", 0, UINT32_MAX, errors))
      fe.observation_domain_id = static_cast<uint32_t>(*v);
  if (raw->max_records_per_s)
    if (auto v = check_range(*raw->max_records_per_s, "max_records_per_s", 1, 10'000'000, errors))
      fe.max_records_per_s = static_cast<uint32_t>(*v);
  return fe;
}

}  // namespace xdpgw::config::detail
