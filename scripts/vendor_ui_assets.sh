#!/usr/bin/env bash
# Refresh the browser assets the node serves under /static (GraphiQL, Swagger UI, ReDoc), so
# the pages work on a network without internet access. Run from the repository root; needs npm.
#   bash scripts/vendor_ui_assets.sh [CACHE_DIR]
# Bump a version here, run it, then update src/dictamesh/api/ui_assets.py (its paths name the versions).
set -euo pipefail
GRAPHIQL=3.8.3      # the last GraphiQL with a UMD build (4+ are ES modules only)
REACT=18.2.0        # what graphiql 3.8.3's UMD build expects as globals
SWAGGER_UI=5.36.0
REDOC=2.5.2         # the redoc.standalone.js line FastAPI's get_redoc_html targets
cache="${1:-.cache/ui-assets}"
dest=src/dictamesh/api/static
mkdir -p "$cache"
(cd "$cache" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" \
  "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null)
unpack() { rm -rf "$cache/$1" && mkdir -p "$cache/$1" && tar xzf "$cache/$1.tgz" -C "$cache/$1"; }
rm -rf "$dest" && mkdir -p "$dest"
copy() {  # copy PACKAGE-VERSION FILE... into static/PACKAGE-VERSION/ with its licence
  local pkg=$1; shift
  unpack "$pkg"
  mkdir -p "$dest/$pkg"
  for f in "$@"; do cp "$cache/$pkg/package/$f" "$dest/$pkg/"; done
  cp "$cache/$pkg/package/LICENSE" "$dest/$pkg/LICENSE"
}
copy "graphiql-$GRAPHIQL" graphiql.min.js graphiql.min.css
copy "react-$REACT" umd/react.production.min.js
copy "react-dom-$REACT" umd/react-dom.production.min.js
copy "swagger-ui-dist-$SWAGGER_UI" swagger-ui-bundle.js swagger-ui.css favicon-32x32.png NOTICE
copy "redoc-$REDOC" bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt
du -sh "$dest"
