#!/usr/bin/env bash
# packaging/test_deb_install.sh BUILD_DIR: really installs the built .deb with dpkg -i, so its
# maintainer scripts run: checks the kbox system user, /var/lib/kbox (0700, kbox), /etc/kbox/kbox.json
# (0640 root:kbox, a conffile), the unit and its generator's drop-in, that `kbox doctor` passes as
# the kbox user and that `kbox serve` answers /api/health as that user on 127.0.0.1; then purges the
# package and checks that nothing of it is left (the user, /etc/kbox, the binary, the unit).
#
# It changes the machine, so it runs only when all of these hold, and is skipped (exit 77, with the
# reason on stderr) otherwise:
#   - it runs as root;
#   - KBOX_TEST_DEB_INSTALL=1 is set, or CI=true (a throwaway CI machine);
#   - nothing it would touch exists before: no kbox package, user or group, no /etc/kbox, /var/lib/kbox,
#     /usr/bin/kbox or unit. It never overwrites; what it creates it removes: a trap purges the
#     package, removes the user and group if still there, and deletes /var/lib/kbox (which purge
#     keeps by design) because this test made it.
# dpkg's lock may be held by another apt/dpkg run: every dpkg call waits for it (up to 5 minutes).
set -euo pipefail
build=$1
skip() { echo "test_deb_install: skipped: $*" >&2; exit 77; }
fail() { echo "test_deb_install: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i runs the maintainer scripts); run it on a throwaway machine"
[ "${KBOX_TEST_DEB_INSTALL:-}" = 1 ] || [ "${CI:-}" = true ] ||
  skip "installs a package system-wide: set KBOX_TEST_DEB_INSTALL=1 (or CI=true) on a throwaway machine"
command -v dpkg >/dev/null && command -v dpkg-deb >/dev/null || skip "no dpkg"
command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
if dpkg-query -W -f='${Status}' kbox 2>/dev/null | grep -qv ' not-installed$'; then
  skip "a kbox package is already on this machine; not touching it"
fi
getent passwd kbox >/dev/null && skip "a user kbox exists already; not touching it"
getent group kbox >/dev/null && skip "a group kbox exists already; not touching it"
for p in /etc/kbox /var/lib/kbox /usr/bin/kbox /lib/systemd/system/kbox.service /lib/systemd/system-generators/kbox-generator; do
  [ ! -e "$p" ] || skip "$p exists already; not touching it"
done

work=$(mktemp -d /tmp/kbox-deb-install-XXXXXX)
touched=0
serve_pid=
# dpkg with a wait for its lock (another engineer's or CI step's apt may hold it)
dpkg_locked() {
  for _ in $(seq 150); do
    if dpkg "$@" >"$work/dpkg.out" 2>&1; then return 0; fi
    grep -qi 'lock' "$work/dpkg.out" || { cat "$work/dpkg.out" >&2; return 1; }
    sleep 2
  done
  cat "$work/dpkg.out" >&2
  return 1
}
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  if [ "$touched" = 1 ]; then # everything below did not exist before this test (checked above)
    if dpkg-query -W kbox >/dev/null 2>&1; then
      dpkg_locked --purge kbox || echo "test_deb_install: purge in cleanup failed; remove kbox by hand" >&2
    fi
    if getent passwd kbox >/dev/null; then deluser --system --quiet kbox || true; fi
    if getent group kbox >/dev/null; then delgroup --system --quiet kbox || true; fi
    rm -rf /var/lib/kbox
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/kbox_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no kbox_<version>_amd64.deb in $work/out"

touched=1
dpkg_locked -i "$deb" || fail "dpkg -i $(basename "$deb") failed (a missing dependency? apt-get install -f names it)"
dpkg-query -W -f='${Status}' kbox | grep -q 'install ok installed' || fail "kbox is not 'install ok installed' after dpkg -i"

# the user, the directories, the files and their modes, as the maintainer scripts left them
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd kbox) || fail "postinst did not create the user kbox"
[ "$uid" -lt 1000 ] || fail "kbox has uid $uid: not a system user"
[ "$home" = /var/lib/kbox ] || fail "kbox's home is $home, not /var/lib/kbox"
case "$shell" in */nologin | */false) ;; *) fail "kbox has a login shell: $shell" ;; esac
getent group kbox >/dev/null || fail "postinst did not create the group kbox"
[ "$(stat -c '%U:%G %a' /var/lib/kbox)" = "kbox:kbox 700" ] || fail "/var/lib/kbox is $(stat -c '%U:%G %a' /var/lib/kbox), not kbox:kbox 700"
[ "$(stat -c '%U:%G %a' /etc/kbox/kbox.json)" = "root:kbox 640" ] || fail "/etc/kbox/kbox.json is $(stat -c '%U:%G %a' /etc/kbox/kbox.json), not root:kbox 640"
dpkg-query -W -f='${Conffiles}' kbox | grep -q '/etc/kbox/kbox.json' || fail "/etc/kbox/kbox.json is not registered as a conffile"
[ -x /usr/bin/kbox ] || fail "/usr/bin/kbox is missing"
grep -q '^User=kbox' /lib/systemd/system/kbox.service || fail "the unit is missing or does not run as kbox"
[ -x /lib/systemd/system-generators/kbox-generator ] || fail "the generator is missing"
/lib/systemd/system-generators/kbox-generator "$work/gen" "$work/gen" "$work/gen" || fail "the installed generator failed"
grep -q '^MemoryMax=' "$work/gen/kbox.service.d/50-kbox-limits.conf" || fail "the installed generator wrote no MemoryMax"
if [ -d /run/systemd/system ]; then # systemd is PID 1 here: the unit and the generator's limits are live
  systemctl cat kbox.service >/dev/null || fail "systemd does not know kbox.service after postinst"
  [ "$(systemctl show -p MemoryMax --value kbox.service)" != infinity ] || fail "systemd shows no MemoryMax for kbox"
fi

# as the kbox user: doctor passes and serve answers (what README's "Running kbox as a service" says)
as_kbox() { setpriv --reuid=kbox --regid=kbox --init-groups -- "$@"; }
as_kbox /usr/bin/kbox --config /etc/kbox/kbox.json --data-dir /var/lib/kbox --set server.port=0 doctor >"$work/doctor.txt" 2>&1 ||
  { cat "$work/doctor.txt" >&2; fail "kbox doctor failed as the kbox user"; }
grep -q '^ok    data_dir' "$work/doctor.txt" || { cat "$work/doctor.txt" >&2; fail "doctor did not pass /var/lib/kbox"; }
grep -q '^ok    service' "$work/doctor.txt" || { cat "$work/doctor.txt" >&2; fail "doctor did not pass the service limits"; }
# started directly, not through the function: a backgrounded function is a subshell whose pid is not kbox's
setpriv --reuid=kbox --regid=kbox --init-groups -- /usr/bin/kbox --config /etc/kbox/kbox.json --data-dir /var/lib/kbox \
  serve --host 127.0.0.1 --port 0 --quiet >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
url=
for _ in $(seq 200); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.out" 2>/dev/null | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; fail "kbox serve as the kbox user exited"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.err" >&2; fail "kbox serve printed no address in 20 s"; }
curl -sf --max-time 10 "$url/api/health" | grep -q '"ok"' || fail "GET $url/api/health did not answer ok"
[ "$(stat -c '%U %a' /var/lib/kbox/kbox.db)" = "kbox 600" ] || fail "kbox.db is $(stat -c '%U %a' /var/lib/kbox/kbox.db), not kbox 600"
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
serve_pid=
! pgrep -u kbox >/dev/null || fail "a process still runs as kbox after serve stopped: $(pgrep -u kbox -a)"

# purge: everything of the package goes; the knowledge base stays (postrm says so), then this test removes it
dpkg_locked --purge kbox || fail "dpkg --purge kbox failed"
! dpkg-query -W -f='${Status}' kbox 2>/dev/null | grep -qv ' not-installed$' || fail "kbox is still known to dpkg after purge"
! getent passwd kbox >/dev/null || fail "purge left the user kbox"
! getent group kbox >/dev/null || fail "purge left the group kbox"
for p in /etc/kbox /usr/bin/kbox /lib/systemd/system/kbox.service /lib/systemd/system-generators/kbox-generator; do
  [ ! -e "$p" ] || fail "purge left $p"
done
[ -d /var/lib/kbox ] || fail "purge removed /var/lib/kbox (the knowledge base must be kept)"
echo "test_deb_install: ok ($(basename "$deb") installed, served, purged)"
