#!/usr/bin/env bash
# Install the Debian packages the test suite needs beyond Python: PostgreSQL (the API tests run
# on it as well as on SQLite), Chromium (the web page's browser tests) and npm (make setup's
# npm ci, for GOV.UK Frontend). Only what is missing is installed, in one apt step. Without
# apt-get (not Debian, or no root) it says so and goes on: the tests that need a missing
# package then skip with a reason, or fail under CI=true.
set -euo pipefail

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
if ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi
if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)  # make setup's npm ci installs GOV.UK Frontend for the web pages
fi
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-packages: no apt-get; not installing ${missing[*]}." >&2
    exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-packages: not root and no sudo; not installing ${missing[*]}." >&2
        exit 0
    fi
    sudo=(sudo)
fi
echo "install-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
