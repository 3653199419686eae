#!/usr/bin/env bash
# Builds the Debian package ridge_<version>_<arch>.deb from deploy/debian/ with dpkg-deb (no
# debhelper, no cargo-deb to compile): the `ridge` binary, /etc/ridge/ridge.toml (a conffile),
# the systemd unit, /var/lib/ridge, bash/zsh/fish completions and man pages that the binary
# itself generates from its clap definition (`ridge generate`), and the maintainer scripts that
# create the `ridge` user. docs/install.md describes the result.
#
#   scripts/package-deb.sh                   release build (cargo build --release), into target/deb/
#   scripts/package-deb.sh --binary PATH     package an existing binary instead (the tests package
#                                            the debug binary they already built, to save CI time)
#   --out DIR                                where the .deb goes (default target/deb)
#   --fast                                   gzip -1 instead of xz (tests: a debug binary is big)
#
# Prints the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out=target/deb
compress=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    *) echo "error: unknown argument \`$1\` (see the head of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build --release --locked -p ridge --bin ridge >&2
  binary=target/release/ridge
fi
[ -x "$binary" ] || { echo "error: \`$binary\` is not an executable file" >&2; exit 1; }
for tool in dpkg-deb objdump gzip; do
  command -v "$tool" >/dev/null || { echo "error: \`$tool\` is needed (apt-get install dpkg-dev binutils gzip)" >&2; exit 1; }
done

version=$("$binary" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
# The newest glibc symbol version the binary needs (what dpkg-shlibdeps would compute).
glibc=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
root=$(mktemp -d -t ridge-deb.XXXXXX)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

install -D -m 0755 "$binary" "$root/usr/bin/ridge"
install -D -m 0644 deploy/debian/ridge.toml "$root/etc/ridge/ridge.toml"
install -D -m 0644 deploy/debian/ridge.service "$root/usr/lib/systemd/system/ridge.service"
install -d -m 0700 "$root/var/lib/ridge"

"$binary" generate completions "$root/completions" 2>/dev/null
install -D -m 0644 "$root/completions/ridge.bash" "$root/usr/share/bash-completion/completions/ridge"
install -D -m 0644 "$root/completions/_ridge" "$root/usr/share/zsh/vendor-completions/_ridge"
install -D -m 0644 "$root/completions/ridge.fish" "$root/usr/share/fish/vendor_completions.d/ridge.fish"
rm -r "$root/completions"
"$binary" generate man "$root/usr/share/man/man1" 2>/dev/null
chmod 0644 "$root"/usr/share/man/man1/*.1
gzip -9n "$root"/usr/share/man/man1/*.1

doc="$root/usr/share/doc/ridge"
install -d -m 0755 "$doc"
install -m 0644 README.md docs/install.md docs/configuration.md docs/sandbox.md "$doc/"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ridge

Files: *
Copyright: the Ridge authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
chmod 0644 "$doc/copyright"

install -d -m 0755 "$root/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
echo /etc/ridge/ridge.toml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<CONTROL
Package: ridge
Version: $version
Architecture: $arch
Maintainer: Ridge maintainers <ridge@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: libc6 (>= $glibc), libgcc-s1, adduser, bubblewrap, python3
Recommends: nodejs, passt
Section: net
Priority: optional
Description: self-hosted Function-as-a-Service platform, OpenStack Qinling's API
 Ridge runs functions (Python, Node.js, WebAssembly) in warm, sandboxed local
 workers, behind the REST API of OpenStack Qinling, from one binary with its
 state in SQLite (or PostgreSQL). This package installs the binary, a hardened
 systemd unit (ridge.service, not started until enabled), its configuration in
 /etc/ridge/ridge.toml, shell completions and man pages.
CONTROL
chmod 0644 "$root/DEBIAN/conffiles" "$root/DEBIAN/control"

mkdir -p "$out"
deb="$out/ridge_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$deb" >&2
echo "$deb"
