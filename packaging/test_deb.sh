#!/usr/bin/env bash
# packaging/test_deb.sh BUILD_DIR: builds the .deb with CPack, unpacks it into a scratch root with
# dpkg-deb -x (what dpkg --root would place, without running maintainer scripts as root on this
# machine), checks the files, modes and maintainer scripts, runs the packaged binary from the scratch
# root (version, doctor against the packaged config), runs the packaged systemd generator (limits
# from the service.* keys) and verifies the unit with its drop-in with systemd-analyze when it is
# available. Exit 77 (skip) without dpkg-deb. The real dpkg -i / purge: packaging/test_deb_install.sh.
set -euo pipefail
build=$1
command -v dpkg-deb >/dev/null || exit 77
work=$(mktemp -d /tmp/kbox-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "test_deb: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/kbox_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no kbox_<version>_amd64.deb in $work/out"
root="$work/root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$work/ctl"
for f in usr/bin/kbox etc/kbox/kbox.json lib/systemd/system/kbox.service usr/share/doc/kbox/README.md; do
  [ -e "$root/$f" ] || fail "missing /$f"
done
[ -x "$root/usr/bin/kbox" ] || fail "/usr/bin/kbox is not executable"
grep -q '^/etc/kbox/kbox.json$' "$work/ctl/conffiles" || fail "/etc/kbox/kbox.json is not a conffile"
grep -q 'adduser --system' "$work/ctl/postinst" || fail "postinst does not create the kbox user"
grep -q 'chmod 0700 /var/lib/kbox' "$work/ctl/postinst" || fail "postinst does not make /var/lib/kbox private"
dpkg-deb -f "$deb" Depends | grep -q 'adduser' || fail "Depends lacks adduser"
unit="$root/lib/systemd/system/kbox.service"
for k in 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'ReadWritePaths=/var/lib/kbox' 'MemoryMax=' 'User=kbox'; do
  grep -q "^$k" "$unit" || fail "unit lacks $k"
done
# the packaged binary runs from the scratch root with the packaged config
"$root/usr/bin/kbox" version | grep -q 'kbox' || fail "packaged kbox version failed"
cmp -s "$root/etc/kbox/kbox.json" "$(dirname "$0")/../config/kbox.json" || fail "/etc/kbox/kbox.json differs from config/kbox.json"
data="$work/var/lib/kbox"
mkdir -p "$data" && chmod 700 "$data"
"$root/usr/bin/kbox" --config "$root/etc/kbox/kbox.json" --data-dir "$data" --set server.port=0 doctor >"$work/doctor.txt" ||
  { cat "$work/doctor.txt"; fail "packaged kbox doctor failed"; }
grep -q '^ok    data_dir' "$work/doctor.txt" || { cat "$work/doctor.txt"; fail "doctor did not pass the data dir"; }
# the generator turns the service.* keys into a drop-in: auto (no local models: the 2 GiB headroom),
# then an explicit limit, then a bad value that must leave the unit's fallbacks and name the key
gen="$root/lib/systemd/system-generators/kbox-generator"
[ -x "$gen" ] || fail "missing /lib/systemd/system-generators/kbox-generator"
dropin="$work/gen/kbox.service.d/50-kbox-limits.conf"
KBOX_ROOT="$root" "$gen" "$work/gen" "$work/gen.early" "$work/gen.late" || fail "the generator failed"
grep -qx 'MemoryMax=2048M' "$dropin" || { cat "$dropin" >&2; fail "auto MemoryMax is not the 2048 MiB headroom"; }
grep -qx 'LimitNOFILE=65536' "$dropin" || { cat "$dropin" >&2; fail "drop-in lacks LimitNOFILE=65536"; }
cfg="$root/etc/kbox/kbox.json"
cp "$cfg" "$work/kbox.json.orig"
sed -i -e 's/"memory_max_mib": 0,/"memory_max_mib": 3000,/' -e 's/"cpu_quota_percent": 0,/"cpu_quota_percent": 150,/' "$cfg"
KBOX_ROOT="$root" "$gen" "$work/gen" "$work/gen.early" "$work/gen.late" || fail "the generator failed"
grep -qx 'MemoryMax=3000M' "$dropin" && grep -qx 'CPUQuota=150%' "$dropin" ||
  { cat "$dropin" >&2; fail "service.memory_max_mib=3000 / cpu_quota_percent=150 did not reach the drop-in"; }
mkdir -p "$root/etc/systemd/system/kbox.service.d" && cp "$dropin" "$root/etc/systemd/system/kbox.service.d/"
sed -i 's/"memory_max_mib": 3000,/"memory_max_mib": -5,/' "$cfg"
rm -rf "$work/gen"
KBOX_ROOT="$root" "$gen" "$work/gen" "$work/gen.early" "$work/gen.late" 2>"$work/gen.err" || fail "the generator failed on a bad key"
[ ! -e "$dropin" ] || fail "a bad service.memory_max_mib still wrote a drop-in"
grep -q 'service.memory_max_mib' "$work/gen.err" || { cat "$work/gen.err" >&2; fail "the generator did not name the bad key"; }
cp "$work/kbox.json.orig" "$cfg"
if command -v systemd-analyze >/dev/null; then
  # verify resolves the Exec paths inside the scratch root: give it the system's kill (ExecReload),
  # and ignore what a bare root lacks (the system's targets), not what the unit says
  mkdir -p "$root/bin" && cp /bin/kill "$root/bin/kill"
  out=$(systemd-analyze verify --root="$root" "$unit" 2>&1 || true)
  if echo "$out" | grep -v -e 'cgroup' -e '^$' -e 'target not found' -e 'Failed to create kbox.service/start' |
      grep -qi -e 'error' -e 'unknown' -e 'invalid' -e 'not executable' -e 'ignoring' -e 'failed'; then
    echo "$out" >&2
    fail "systemd-analyze verify found problems"
  fi
fi
echo "test_deb: ok ($(basename "$deb"), $(du -h "$deb" | cut -f1))"
