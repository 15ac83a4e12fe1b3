#!/bin/sh
# Refresh the vendored tus-js-client browser build from the npm registry:
#   tests/browser/vendor/update.sh [version]   (default: the latest 4.x)
# It keeps dist/tus.min.js and the package's LICENSE, and records the version.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
spec="tus-js-client@${1:-4}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$spec" >/dev/null && tar xzf tus-js-client-*.tgz)
cp "$work/package/dist/tus.min.js" "$here/tus.min.js"
cp "$work/package/LICENSE" "$here/tus-js-client.LICENSE"
node -p "require('$work/package/package.json').version" > "$here/tus-js-client.VERSION"
echo "tus-js-client $(cat "$here/tus-js-client.VERSION") vendored into $here"
