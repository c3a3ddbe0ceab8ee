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
echo "vendored assets refreshed in $dest"
