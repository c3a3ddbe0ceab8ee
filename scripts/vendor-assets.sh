#!/usr/bin/env bash
# Refresh the browser assets shequ serves itself (offline intranets: no CDN at run time).
# Each comes from its npm package, at a pinned version, with its licence.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=web/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() {  # fetch NAME VERSION → $tmp/NAME/package
  mkdir -p "$tmp/$1"
  (cd "$tmp/$1" && npm pack "$1@$2" --silent >/dev/null && tar xzf ./*.tgz)
}
fetch leaflet 1.9.4
mkdir -p "$dest/leaflet/images"
cp "$tmp/leaflet/package/dist/leaflet.js" "$tmp/leaflet/package/dist/leaflet.css" "$dest/leaflet/"
cp "$tmp/leaflet/package/dist/images/"*.png "$dest/leaflet/images/"
cp "$tmp/leaflet/package/LICENSE" "$dest/leaflet/LICENSE"
echo "leaflet 1.9.4" > "$dest/leaflet/VERSION"
# The API's documentation pages (/docs): FastAPI loads Swagger UI from a CDN by default.
fetch swagger-ui-dist 5.35.0
mkdir -p "$dest/swagger_ui"
cp "$tmp/swagger-ui-dist/package/swagger-ui-bundle.js" "$tmp/swagger-ui-dist/package/swagger-ui.css" \
   "$tmp/swagger-ui-dist/package/favicon-32x32.png" "$dest/swagger_ui/"
cp "$tmp/swagger-ui-dist/package/LICENSE" "$dest/swagger_ui/LICENSE"
echo "swagger-ui-dist 5.35.0" > "$dest/swagger_ui/VERSION"
# The grid editor: drawing, editing, snapping, cutting (MIT, the free edition).
fetch @geoman-io/leaflet-geoman-free 2.20.2
mkdir -p "$dest/leaflet_geoman"
cp "$tmp/@geoman-io/leaflet-geoman-free/package/dist/leaflet-geoman.js" \
   "$tmp/@geoman-io/leaflet-geoman-free/package/dist/leaflet-geoman.css" "$dest/leaflet_geoman/"
cp "$tmp/@geoman-io/leaflet-geoman-free/package/LICENSE" "$dest/leaflet_geoman/LICENSE"
echo "@geoman-io/leaflet-geoman-free 2.20.2" > "$dest/leaflet_geoman/VERSION"
echo "vendored assets refreshed in $dest"
