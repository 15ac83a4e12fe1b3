#!/bin/sh
# Re-vendor the console's JavaScript libraries from the npm registry (`npm pack`, no build):
#   tus-js-client -> asset_service/console/static/vendor/   (shipped in the package)
#   axe-core      -> tests/browser/vendor/                  (used by the browser tests only)
# Each with its licence. Usage: scripts/update_console_vendor.sh [TUS_VERSION] [AXE_VERSION]
# (defaults: the versions vendored now; pass `latest` to take the newest).
set -eu

TUS_VERSION=${1:-4.3.1}
AXE_VERSION=${2:-4.14.1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONSOLE_VENDOR=$ROOT/asset_service/console/static/vendor
TEST_VENDOR=$ROOT/tests/browser/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

unpack() { # package@version -> $WORK/<package>/
    name=${1%@*}
    mkdir -p "$WORK/$name"
    tarball=$(cd "$WORK" && npm pack --silent "$1")
    tar -xzf "$WORK/$tarball" -C "$WORK/$name" --strip-components=1
    node -p "require('$WORK/$name/package.json').version"
}

tus=$(unpack "tus-js-client@$TUS_VERSION")
cp "$WORK/tus-js-client/dist/tus.min.js" "$CONSOLE_VENDOR/tus.min.js"
cp "$WORK/tus-js-client/LICENSE" "$CONSOLE_VENDOR/tus-js-client.LICENSE"
# dist/tus.min.js bundles its runtime dependencies: name them with their licences.
deps=$(node -p "Object.keys(require('$WORK/tus-js-client/package.json').dependencies || {}).join(' ')")
{
    echo "tus-js-client $tus (MIT, tus-js-client.LICENSE): dist/tus.min.js from npm."
    echo "It bundles these npm packages (licence as declared on the registry):"
    for dep in $deps; do
        licence=$(npm view --silent "$dep" license)
        echo "  $dep ${licence:-(no licence field on the registry: see its repository)}"
    done
} > "$CONSOLE_VENDOR/VENDORED.txt"

axe=$(unpack "axe-core@$AXE_VERSION")
cp "$WORK/axe-core/axe.min.js" "$TEST_VENDOR/axe.min.js"
cp "$WORK/axe-core/LICENSE" "$TEST_VENDOR/axe-core.LICENSE"
echo "axe-core $axe (MPL-2.0, axe-core.LICENSE): axe.min.js from npm, for the browser tests." \
    > "$TEST_VENDOR/VENDORED.txt"

echo "vendored tus-js-client $tus and axe-core $axe"
