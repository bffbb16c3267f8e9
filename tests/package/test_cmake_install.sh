#!/usr/bin/env bash
# `cmake --install` into a scratch DESTDIR under two prefixes: every file is
# where dist/CMakeLists.txt says, the unit runs the installed binary with the
# installed config directory, and a second install keeps an edited config.
set -euo pipefail
build=$1
scratch=$(mktemp -d /tmp/xdpgw-install-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

install_to() {  # PREFIX DESTDIR
  DESTDIR=$2 cmake --install "$build" --prefix "$1" >"$scratch/install.log" 2>&1 ||
    { cat "$scratch/install.log" >&2; fail "cmake --install --prefix $1"; }
}

check_layout() {  # PREFIX SYSCONFDIR DESTDIR
  local prefix=$1 etc=$2 root=$3
  for f in "$prefix/sbin/xdpgw" "$prefix/lib/systemd/system/xdpgw@.service" \
           "$prefix/lib/tmpfiles.d/xdpgw.conf" "$prefix/share/doc/xdpgw/README.md" \
           "$prefix/share/doc/xdpgw/LICENSE" "$prefix/share/doc/xdpgw/examples/router.toml" \
           "$etc/xdpgw/router.toml" "$etc/xdpgw/lb.toml" "$etc/xdpgw/blocklist.txt" \
           "$prefix/share/man/man8/xdpgw.8.gz" "$prefix/share/xdpgw/grafana/xdpgw.json" \
           "$prefix/share/xdpgw/prometheus/xdpgw-alerts.yml" \
           "$prefix/share/bash-completion/completions/xdpgw"; do
    [[ -e $root$f ]] || fail "missing $root$f"
  done
  [[ -x $root$prefix/sbin/xdpgw ]] || fail "$prefix/sbin/xdpgw is not executable"
  local unit=$root$prefix/lib/systemd/system/xdpgw@.service
  grep -qx "ExecStart=$prefix/sbin/xdpgw run -c $etc/xdpgw/%i.toml" "$unit" ||
    fail "ExecStart in $unit does not name $prefix/sbin/xdpgw and $etc/xdpgw:
$(grep Exec "$unit")"
  if grep -q '@XDPGW_' "$unit"; then fail "unsubstituted variable in $unit"; fi
  "$root$prefix/sbin/xdpgw" --version | grep -q '^xdpgw ' || fail "installed binary does not run"
}

# A prefix of its own: configs under PREFIX/etc.
install_to /opt/xdpgw-test "$scratch/opt"
check_layout /opt/xdpgw-test /opt/xdpgw-test/etc "$scratch/opt"

# The distribution prefix: configs in /etc.
install_to /usr "$scratch/usr"
check_layout /usr /etc "$scratch/usr"

# An administrator's edit survives a second install; a deleted example
# comes back.
echo "# edited by the administrator" >>"$scratch/usr/etc/xdpgw/router.toml"
rm "$scratch/usr/etc/xdpgw/lb.toml"
install_to /usr "$scratch/usr"
tail -1 "$scratch/usr/etc/xdpgw/router.toml" | grep -q "edited by the administrator" ||
  fail "a second install overwrote /etc/xdpgw/router.toml"
grep -q "Kept existing: $scratch/usr/etc/xdpgw/router.toml" "$scratch/install.log" ||
  fail "the install did not say it kept router.toml"
[[ -e $scratch/usr/etc/xdpgw/lb.toml ]] || fail "a removed example was not installed again"
echo "PASS"
