#!/usr/bin/env bash
# images.sh tag    prints the image tag of the working tree
# images.sh binaries  builds every command (./cmd/...) for every platform into
#                     bin/linux_<arch>/, static, with the flags the images use
# images.sh build     builds both images for every platform, without a Docker engine
#
# make build-cross and make images both go through binaries, with the same
# flags, so that CI compiles each package once per architecture.
#
# The tag is the git short SHA; a tree with uncommitted changes (tracked or
# untracked, .gitignore aside) gets "-dirty-<hash of those changes>", so two
# different dirty builds never share a tag and a node pulling IfNotPresent
# never keeps running an older sidecar.
#
# build writes, under bin/images/:
#   <arch>/controller, <arch>/sidecar                static binaries (CGO_ENABLED=0)
#   cnpg-storage-autoscaler-<image>.oci.tar          OCI archive: a multi-arch index
#                                                    (every platform) named <repo>:<tag>
#   cnpg-storage-autoscaler-<image>.docker.tar       docker-archive of the host's
#                                                    architecture only: `ctr images
#                                                    import` registers its name
#                                                    (containerd 1.6 registers none
#                                                    for a multi-arch OCI archive)
#   images.env                                       CONTROLLER_IMAGE=, SIDECAR_IMAGE=, IMAGE_TAG=
#
# Environment: IMAGE_REGISTRY (default localhost/pgstorage), PLATFORMS
# (default "linux/amd64 linux/arm64"). podman (Debian's) builds from scratch
# in a private store under bin/.podman; no registry is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

registry=${IMAGE_REGISTRY:-localhost/pgstorage}
platforms=${PLATFORMS:-linux/amd64 linux/arm64}
out=bin/images
images=(controller sidecar)

image_tag() {
	local sha
	sha=$(git rev-parse --short=12 HEAD)
	if [[ -n $(git status --porcelain) ]]; then
		local changes
		changes=$({
			git diff HEAD
			git ls-files --others --exclude-standard -z | xargs -0r sha256sum
		} | sha256sum | cut -c1-8)
		echo "$sha-dirty-$changes"
	else
		echo "$sha"
	fi
}

binaries() {
	for platform in $platforms; do
		local arch=${platform#linux/}
		mkdir -p "bin/linux_$arch"
		CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "bin/linux_$arch/" ./cmd/...
	done
}

build() {
	command -v podman >/dev/null || {
		echo "make images needs podman: apt-get install -y podman (hack/install-deps.sh test)" >&2
		exit 1
	}
	local tag host_arch
	tag=$(image_tag)
	host_arch=$(go env GOARCH)
	# The tag is taken before building: the binaries below are the tree it names.
	rm -rf "$out"
	mkdir -p "$out"
	binaries
	for platform in $platforms; do
		local arch=${platform#linux/}
		mkdir -p "$out/$arch"
		for image in "${images[@]}"; do
			cp "bin/linux_$arch/$image" "$out/$arch/$image"
		done
	done

	local store=bin/.podman
	mkdir -p "$store"
	local podman=(podman --root "$PWD/$store/root" --runroot "$PWD/$store/run" --storage-driver vfs)
	# Start from an empty private store: names from an earlier build must not
	# linger in a manifest list.
	"${podman[@]}" rmi --all --force >/dev/null 2>&1 || true
	"${podman[@]}" manifest rm $("${podman[@]}" images -q 2>/dev/null) >/dev/null 2>&1 || true

	local comma_platforms=${platforms// /,}
	for image in "${images[@]}"; do
		local name="$registry/cnpg-storage-autoscaler-$image:$tag"
		local file="$out/cnpg-storage-autoscaler-$image"
		# The host's architecture alone, saved with its name for ctr import.
		"${podman[@]}" build --quiet --from scratch --platform "linux/$host_arch" \
			--label "org.opencontainers.image.revision=$tag" \
			-f "Dockerfile.$image" -t "$name" "$out" >/dev/null
		"${podman[@]}" save --quiet --format docker-archive -o "$file.docker.tar" "$name"
		"${podman[@]}" rmi "$name" >/dev/null
		# Every platform, as one OCI index.
		"${podman[@]}" build --quiet --from scratch --platform "$comma_platforms" \
			--label "org.opencontainers.image.revision=$tag" \
			-f "Dockerfile.$image" --manifest "$name" "$out" >/dev/null
		"${podman[@]}" manifest push --quiet --all "$name" "oci-archive:$file.oci.tar:$name"
		"${podman[@]}" manifest rm "$name" >/dev/null
		echo "$name: $file.oci.tar (${platforms}), $file.docker.tar (linux/$host_arch)"
	done
	cat >"$out/images.env" <<ENV
IMAGE_TAG=$tag
CONTROLLER_IMAGE=$registry/cnpg-storage-autoscaler-controller:$tag
SIDECAR_IMAGE=$registry/cnpg-storage-autoscaler-sidecar:$tag
ENV
}

case ${1:-} in
tag) image_tag ;;
binaries) binaries ;;
build) build ;;
*) echo "usage: $0 tag|binaries|build" >&2; exit 2 ;;
esac
