#!/usr/bin/env bash
# The .deb as an administrator meets it: CPack builds it from this build
# tree, lintian finds no error or warning in it, `dpkg -i` installs it on this machine,
# the installed xdpgw runs and validates every shipped config offline, and
# `dpkg -r` / `dpkg -P` take it away again (the conffiles in /etc/xdpgw stay
# until the purge). Its Depends are exactly install-deps.sh's runtime set.
#
# It installs into /usr and /etc of the machine, so it refuses to start when
# xdpgw is installed there already (by hand or as a package), holds a
# machine-wide lock against another run of itself (other worktrees, other
# build directories), and removes the package whatever happens.
set -euo pipefail
build=$1
src=$2
sanitized=${3:-0}  # 1: a -DXDPGW_SANITIZE=ON build, whose binary also links the sanitizer runtimes

fail() { echo "FAIL: $*" >&2; exit 1; }

exec 9>/run/lock/xdpgw-package-test.lock
flock -w 900 9 || fail "another package test held /run/lock/xdpgw-package-test.lock for 15 minutes"

if dpkg-query -W -f='${Status}' xdpgw 2>/dev/null | grep -q "installed"; then
  fail "the xdpgw package is already installed here: not touching someone else's install"
fi
for f in /usr/sbin/xdpgw /etc/xdpgw; do
  [[ ! -e $f ]] || fail "$f exists (not from this test): not overwriting it"
done

scratch=$(mktemp -d /tmp/xdpgw-deb-test.XXXXXX)
installed=
cleanup() {
  if [[ -n $installed ]] && dpkg-query -W -f='${Status}' xdpgw 2>/dev/null | grep -qv "not-installed"; then
    dpkg -P xdpgw >/dev/null 2>&1 || echo "cleanup: dpkg -P xdpgw failed" >&2
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

(cd "$scratch" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$scratch") >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log" >&2; fail "cpack"; }
debs=("$scratch"/xdpgw_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "cpack made no single xdpgw_*.deb: ${debs[*]}"
deb=${debs[0]}
echo "built $(basename "$deb")"

# Depends: derived by dpkg-shlibdeps from the binary. Apart from the C/C++
# runtime every Debian system has, it must be install-deps.sh's runtime set,
# no more (no -dev, no build or test tool) and no less.
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
mapfile -t dep_names < <(tr ',' '\n' <<<"$depends" | sed -E 's/^ *([^ (]+).*/\1/' | grep -vxE 'libc6|libgcc-s1|libstdc\+\+6' | sort -u)
mapfile -t runtime_set < <({
  sed -n '/^RUNTIME=(/,/^)/p' "$src/scripts/install-deps.sh" | grep -v '^ *#' |
    sed -e 's/RUNTIME=(//' -e 's/)//' | tr ' ' '\n'
  if [[ $sanitized == 1 ]]; then printf '%s\n' libasan8 libubsan1; fi
} | grep -v '^$' | sort -u)
[[ "${dep_names[*]}" == "${runtime_set[*]}" ]] ||
  fail "Depends (${dep_names[*]}) differ from install-deps.sh's runtime set (${runtime_set[*]})"
for must in libbpf1 libxdp1 liburing2; do
  grep -qw "$must" <<<"$depends" || fail "Depends lacks $must"
done

# Every file under /etc is a conffile.
dpkg-deb -e "$deb" "$scratch/control"
mapfile -t etc_files < <(dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' | grep '^/etc/.*[^/]$' | sort)
[[ ${#etc_files[@]} -gt 0 ]] || fail "the package installs nothing in /etc/xdpgw"
[[ "$(sort "$scratch/control/conffiles" | tr '\n' ' ')" == "$(printf '%s ' "${etc_files[@]}")" ]] ||
  fail "conffiles ($(tr '\n' ' ' <"$scratch/control/conffiles")) are not the files in /etc (${etc_files[*]})"

# lintian: errors and warnings fail the test (info tags are shown).
lintian --fail-on error,warning --tag-display-limit 0 "$deb" | tee "$scratch/lintian.log" ||
  fail "lintian reports errors or warnings (above)"

dpkg -i "$deb" >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; installed=1; fail "dpkg -i"; }
installed=1

/usr/sbin/xdpgw --version | tee /dev/stderr | grep -qx "xdpgw [0-9.]*" || fail "xdpgw --version"
# The examples name interfaces this machine does not have: --offline
# validates everything else.
for conf in /etc/xdpgw/*.toml; do
  /usr/sbin/xdpgw check --offline -c "$conf" || fail "xdpgw check --offline -c $conf"
done
zcat /usr/share/man/man8/xdpgw.8.gz | grep -q "SUBCOMMAND" ||
  fail "man page /usr/share/man/man8/xdpgw.8.gz missing or without the usage line"
unit=/lib/systemd/system/xdpgw@.service
[[ -f $unit ]] || unit=/usr/lib/systemd/system/xdpgw@.service
grep -qx 'ExecStart=/usr/sbin/xdpgw run -c /etc/xdpgw/%i.toml' "$unit" || fail "ExecStart in $unit"
systemd-analyze verify "$(dirname "$unit")/xdpgw@router.service" 2>&1 | tee "$scratch/verify.log"
if grep -qi "xdpgw@" "$scratch/verify.log"; then fail "systemd-analyze verify complains about the unit"; fi

dpkg -r xdpgw >/dev/null
[[ ! -e /usr/sbin/xdpgw ]] || fail "dpkg -r left /usr/sbin/xdpgw"
[[ -e /etc/xdpgw/router.toml ]] || fail "dpkg -r removed the conffile /etc/xdpgw/router.toml (only a purge should)"
dpkg -P xdpgw >/dev/null
installed=
[[ ! -e /etc/xdpgw ]] || fail "dpkg -P left /etc/xdpgw"
echo "PASS"
