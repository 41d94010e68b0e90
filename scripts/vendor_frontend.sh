#!/usr/bin/env bash
# Install the front-end packages from npm and copy the files the pages load into app/static/vendor.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/htmx.org ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
dest=app/static/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/htmx.min.js"
cp node_modules/htmx-ext-sse/dist/sse.min.js "$dest/htmx-sse.min.js" 2>/dev/null || cp node_modules/htmx-ext-sse/sse.js "$dest/htmx-sse.min.js"
cp node_modules/sortablejs/Sortable.min.js "$dest/Sortable.min.js"
cp node_modules/uplot/dist/uPlot.iife.min.js "$dest/uPlot.iife.min.js"
cp node_modules/uplot/dist/uPlot.min.css "$dest/uPlot.min.css"
