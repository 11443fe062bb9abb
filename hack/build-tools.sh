#!/usr/bin/env bash
# build-tools.sh MODULE OUTDIR NAME=PACKAGE...
#
# Builds upstream programs from the tools module e2e/tools/MODULE, at exactly
# the versions its go.mod pins, into OUTDIR/NAME. All packages go through one
# `go build` so they share compilation. Kubernetes binaries get the version
# stamp they would get from upstream's own build (otherwise they say v0.0.0).
# BUILD_TAGS, when set, are Go build tags for this module's programs.
set -euo pipefail

module=$1 out=$2
shift 2
cd "$(dirname "$0")/../e2e/tools/$module"
export GOTOOLCHAIN=local

ldflags="-s -w"
kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null || true)
if [[ -n $kube_version ]]; then
	v=k8s.io/component-base/version
	minor=${kube_version#v1.}
	minor=${minor%%.*}
	ldflags+=" -X $v.gitVersion=$kube_version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
packages=()
for spec in "$@"; do packages+=("${spec#*=}"); done
CGO_ENABLED=0 go build -trimpath -tags "${BUILD_TAGS:-}" -ldflags "$ldflags" -o "$tmp/" "${packages[@]}"

mkdir -p "$out"
for spec in "$@"; do
	name=${spec%%=*} pkg=${spec#*=}
	# go build names a binary after the package path's last element, or the
	# one before it when that is a major version suffix (…/server/v3 → server).
	built=${pkg##*/}
	if [[ $built =~ ^v[0-9]+$ ]]; then
		built=${pkg%/*}
		built=${built##*/}
	fi
	mv "$tmp/$built" "$out/$name"
done
