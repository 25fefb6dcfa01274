#!/usr/bin/env bash
# Re-vendors the NHS.UK frontend's built CSS/JS into static/nhsuk/ (run by hand on upgrade;
# nothing at run time needs Node). Fonts load from a CDN in the upstream CSS: we drop those
# @font-face rules so the portal makes no third-party requests (the design system falls back to Arial).
set -euo pipefail
version=${1:-10.6.1}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
(cd "$tmp" && npm pack --silent "nhsuk-frontend@$version" >/dev/null && tar xzf nhsuk-frontend-*.tgz)
src="$tmp/package/dist/nhsuk"
dest="$here/static/nhsuk"
rm -rf "$dest" && mkdir -p "$dest/assets"
cp -r "$src/assets/images" "$dest/assets/"
cp "$src/assets/manifest.json" "$dest/assets/"
cp "$src/nhsuk-frontend.min.js" "$dest/"
python3 - "$src/nhsuk-frontend.min.css" "$dest/nhsuk-frontend.min.css" <<'PY'
import re, sys
css = open(sys.argv[1], encoding="utf-8").read()
css = re.sub(r"@font-face\{[^}]*\}", "", css)
css = css.replace("url(/assets/", "url(assets/")
css = re.sub(r"/\*# sourceMappingURL=.*?\*/", "", css)
open(sys.argv[2], "w", encoding="utf-8").write(css)
PY
sed -i 's#//\# sourceMappingURL=.*##' "$dest/nhsuk-frontend.min.js"
echo "$version" > "$dest/VERSION"
rm -rf "$tmp"
