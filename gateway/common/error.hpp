// Error conversion at the kernel boundary: libbpf/libxdp/syscalls return
// -errno or set errno; we turn that into std::system_error once, naming the
// call and the object, and never pass raw error codes further up.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

namespace xdpgw {

[[noreturn]] inline void throw_errno(int err, std::string_view what) {
  if (err < 0) err = -err;
  throw std::system_error(err, std::generic_category(), std::string(what));
}

// For calls that return <0 on failure with the error in errno or as -errno.
inline int check_errno(int rc, std::string_view what) {
  if (rc < 0) throw_errno(rc == -1 ? errno : rc, what);
  return rc;
}

}  // namespace xdpgw
