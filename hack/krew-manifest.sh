#!/usr/bin/env bash
# krew-manifest.sh VERSION URL_BASE
#
# Prints deploy/krew/pgstorage.yaml with its placeholders filled: VERSION
# (v1.2.3), URL_BASE (where the release publishes the archives, e.g.
# https://github.com/pgstorage/cnpg-storage-autoscaler/releases/download/v1.2.3)
# and the sha256 of each archive `make plugin` wrote into bin/plugin/.
# Deliberately simple: no upload, no index pull request.
set -euo pipefail
if [[ $# -ne 2 ]]; then
	echo "usage: $0 VERSION URL_BASE   (run 'make plugin' first)" >&2
	exit 2
fi
version=$1 url_base=${2%/}
cd "$(dirname "$0")/.."
manifest=$(sed -e "/^#/d" -e "s|VERSION|$version|" -e "s|URL_BASE|$url_base|" deploy/krew/pgstorage.yaml)
for archive in bin/plugin/kubectl-pgstorage_*_*.tar.gz; do
	platform=${archive##*/kubectl-pgstorage_}
	platform=${platform%.tar.gz}
	placeholder=SHA256_$(tr '[:lower:]' '[:upper:]' <<<"$platform")
	manifest=${manifest//$placeholder/$(sha256sum "$archive" | cut -d' ' -f1)}
done
if grep -q 'SHA256_' <<<"$manifest"; then
	echo "$0: an archive is missing from bin/plugin/ (run 'make plugin'):" >&2
	grep 'SHA256_' <<<"$manifest" >&2
	exit 1
fi
printf '%s\n' "$manifest"
