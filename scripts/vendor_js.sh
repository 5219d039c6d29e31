#!/usr/bin/env bash
# Vendors the HTML report's chart libraries (Vega, Vega-Lite, vega-embed) from the npm registry at
# build time: pinned versions, each tarball checked against the registry's sha512 integrity before
# use, the UMD builds extracted into OUT with VERSIONS.txt (name, version, integrity, licence).
# Called by CMake (FRACTURE_WITH_HTML_REPORT); tarballs are cached between builds and clones in
# FRACTURE_NPM_CACHE (default ~/.cache/fracture/npm), so a rebuild downloads nothing.
#   bash scripts/vendor_js.sh build/vendor
set -euo pipefail
OUT=$1
CACHE="${FRACTURE_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fracture/npm}"
REGISTRY="${FRACTURE_NPM_REGISTRY:-https://registry.npmjs.org}"
# name version integrity (npm view NAME@VERSION dist.integrity) file-in-package
PKGS=(
  "vega 6.4.0 sha512-rHXCq2LpEWCLMjXBEj7hocY9G0/i5TGYRayGGSj06VTF4+l2IG2Z7oeZKCjWbUh/7hTE/mVhbaOPB72wCElh6g== build/vega.min.js"
  "vega-lite 6.4.3 sha512-d/7hPjfz560UERaQuTmGgIVfXAe3g2hJWeC+igDeaGohUdEoNrHLXgR/yTOBT8vV/lIuuKnw+0/xWWblkDwkMQ== build/vega-lite.min.js"
  "vega-embed 7.3.0 sha512-wQ8s5GaSzqoKgmRfbRolgBrjE2CP7ZKHXqH7NijxMqPjpdWxSs4Dn8tvp9g0giQvh2cK+3p56sxjWWM0wNngGw== build/vega-embed.min.js"
)
mkdir -p "$OUT" "$CACHE"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/VERSIONS.txt"
for spec in "${PKGS[@]}"; do
  read -r name version integrity file <<< "$spec"
  tgz="$CACHE/$name-$version.tgz"
  if [ ! -s "$tgz" ]; then
    command -v curl > /dev/null || { echo "vendor_js: curl is missing (scripts/install_deps.sh installs it)" >&2; exit 1; }
    curl -sSfL --retry 3 -o "$tgz.part" "$REGISTRY/$name/-/$name-$version.tgz" ||
      { echo "vendor_js: cannot download $name@$version from $REGISTRY (configure with -DFRACTURE_WITH_HTML_REPORT=OFF to build without the HTML report)" >&2; exit 1; }
    mv "$tgz.part" "$tgz"
  fi
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    rm -f "$tgz"
    echo "vendor_js: $name-$version.tgz has integrity $got, expected $integrity; the cached copy was removed" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" "package/$file"
  mv "$tmp/package/$file" "$tmp/$name.min.js"
  echo "$name $version $integrity BSD-3-Clause" >> "$tmp/VERSIONS.txt"
done
for f in vega vega-lite vega-embed; do mv "$tmp/$f.min.js" "$OUT/$f.min.js"; done
mv "$tmp/VERSIONS.txt" "$OUT/VERSIONS.txt"
