#!/usr/bin/env bash
# Fetch lwIP's source by package name (never copied into the repository).
#
#   fetch-lwip.sh OUTDIR
#
# Writes OUTDIR/SOURCE_DIR (one line: the lwIP tree to build, the folder holding src/)
# or, when the source cannot be had, OUTDIR/UNAVAILABLE (one line: why, and how to get
# it) and exits 0 all the same: the lwIP tests then skip with that line, and the rest of
# the build goes on.
#
# Where the source comes from, first match wins:
#   1. LWIP_SRC=/path/to/lwip (a tree holding src/core/tcp.c and src/apps/smtp/smtp.c),
#      for machines without apt;
#   2. OUTDIR/source, fetched before;
#   3. `apt-get source lwip` (Debian 12: lwip 2.1.3+dfsg1) through an apt configuration
#      of its own in OUTDIR/apt: a deb-src entry for the same archive and suites as the
#      machine's own deb entries, and its own package lists. Nothing under /etc/apt or
#      /var/lib/apt is written, no root is needed, and OUTDIR/apt is removed afterwards.
#      Needs network access to the package archive and dpkg-dev (dpkg-source unpacks it).
#      (Earlier versions added /etc/apt/sources.list.d/smtp-hil-deb-src.sources and left
#      it there: run as root, this removes it.) APT_ETC_DIR (default /etc/apt) is the
#      machine's apt configuration it derives the deb-src entry from.
set -uo pipefail

out=${1:?usage: fetch-lwip.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
rm -f "$out/SOURCE_DIR" "$out/UNAVAILABLE"
how="run 'make lwip' on Debian/Ubuntu with the package archive reachable \
(it runs 'apt-get source lwip'; dpkg-dev needed), or set LWIP_SRC=/path/to/lwip-2.1.3 \
(a tree with src/core and src/apps/smtp) and run 'make lwip'"

unavailable() {
    echo "lwIP source not available: $1; $how" > "$out/UNAVAILABLE"
    echo "lwip: $(cat "$out/UNAVAILABLE")" >&2
    exit 0
}

is_lwip_tree() {
    [ -f "$1/src/core/tcp.c" ] && [ -f "$1/src/apps/smtp/smtp.c" ] \
        && [ -f "$1/src/include/lwip/init.h" ]
}

found() {
    (cd "$1" && pwd) > "$out/SOURCE_DIR"
    echo "lwip: source in $(cat "$out/SOURCE_DIR")"
    exit 0
}

if [ -n "${LWIP_SRC:-}" ]; then
    is_lwip_tree "$LWIP_SRC" \
        || unavailable "LWIP_SRC=$LWIP_SRC has no src/core/tcp.c, src/apps/smtp/smtp.c and src/include/lwip/init.h"
    found "$LWIP_SRC"
fi

if is_lwip_tree "$out/source"; then
    found "$out/source"
fi

command -v apt-get >/dev/null 2>&1 || unavailable "no apt-get on this machine"
command -v dpkg-source >/dev/null 2>&1 \
    || unavailable "dpkg-source is missing (apt-get install dpkg-dev)"

etc=${APT_ETC_DIR:-/etc/apt}
legacy="$etc/sources.list.d/smtp-hil-deb-src.sources"  # what earlier versions left
if [ -f "$legacy" ] && [ -w "$legacy" ]; then
    rm -f "$legacy" && echo "lwip: removed $legacy (left by an earlier make lwip)"
fi

# apt with a configuration of its own: only our deb-src list, our own package lists and
# cache; root's download sandbox user (_apt) could not write under OUTDIR.
apt="$out/apt"
rm -rf "$apt"
trap 'rm -rf "$apt"' EXIT
mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial"
apt_options=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
             -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
             -o "APT::Sandbox::User=$(id -un)")

# A deb-src twin of each deb entry of the distribution's own archive (…/debian or
# …/ubuntu), in the same format it was written in; other archives are left alone.
list="$apt/sources.list.d/smtp-hil-deb-src.sources"
{
    for f in "$etc"/sources.list.d/*.sources; do
        [ "$f" != "$legacy" ] || continue
        [ -f "$f" ] || continue
        # deb822: one stanza per blank-line-separated block.
        awk 'BEGIN { RS=""; ORS="\n\n" }
             /(^|\n)Types:[^\n]*(^|[ \t])deb([ \t]|\n|$)/ &&
             /(^|\n)URIs:[^\n]*\/(debian|ubuntu)\/?([ \t]|\n|$)/ {
                 gsub(/(^|\n)#[^\n]*/, "");
                 sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f"
    done
    for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # One-line format, rewritten as deb822 stanzas.
        awk '$1 == "deb" {
                 i = 2; signed = "";
                 if ($2 ~ /^\[/) { while ($i !~ /\]$/) { if ($i ~ /signed-by=/) signed = $i; i++ }
                                    if ($i ~ /signed-by=/) signed = $i; i++ }
                 uri = $i; suite = $(i + 1); comps = "";
                 for (j = i + 2; j <= NF; j++) comps = comps " " $j;
                 if (uri !~ /\/(debian|ubuntu)\/?$/) next;
                 gsub(/[\[\]]/, "", signed); sub(/.*signed-by=/, "", signed);
                 print "Types: deb-src"; print "URIs: " uri; print "Suites: " suite;
                 print "Components:" comps;
                 if (signed != "") print "Signed-By: " signed;
                 print "" }' "$f"
    done
} > "$list"
grep -q '^Types: deb-src' "$list" \
    || unavailable "no deb entry for a Debian or Ubuntu archive in $etc to derive a deb-src entry from"
apt-get "${apt_options[@]}" update -qq >"$out/apt-get-update.log" 2>&1 \
    || echo "lwip: apt-get update reported errors (see $out/apt-get-update.log); trying anyway" >&2
apt-cache "${apt_options[@]}" showsrc lwip 2>/dev/null | grep -q '^Package: lwip' \
    || unavailable "the package archive has no source package lwip (apt-cache showsrc lwip found nothing; see $out/apt-get-update.log)"

download="$out/download"
rm -rf "$download"
mkdir -p "$download"
if ! (cd "$download" && apt-get "${apt_options[@]}" source -qq lwip \
        >"$out/apt-get-source.log" 2>&1); then
    unavailable "'apt-get source lwip' failed (see $out/apt-get-source.log)"
fi
tree=$(find "$download" -mindepth 1 -maxdepth 1 -type d -name 'lwip-*' | head -n 1)
[ -n "$tree" ] && is_lwip_tree "$tree" \
    || unavailable "'apt-get source lwip' unpacked no lwIP tree under $download"
rm -rf "$out/source"
mv "$tree" "$out/source"
found "$out/source"
