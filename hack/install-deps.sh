#!/usr/bin/env bash
# install-deps.sh [test] [sandbox] installs the Debian packages the tests
# (and the sandbox) need. Idempotent: packages already present are skipped, so
# a warm machine pays nothing. Run as root.
set -euo pipefail

# What each need is for:
#   postgresql-15  real PostgreSQL for the sidecar's pgx tests (initdb, postgres)
#   xfsprogs       XFS on loop devices: statfs tests, the sandbox's online class
#   e2fsprogs      ext4 on loop devices: reserved blocks, the offline class
#   util-linux     losetup, mount
#   podman         builds the images without a Docker engine (make images)
#   prometheus     promtool, for the alert rules' tests (make test-alerts);
#                  its daemon is kept from starting (see below)
test_packages=(postgresql-15 xfsprogs e2fsprogs util-linux podman prometheus)
# The sandbox (DESIGN §9): the container runtime and network plumbing from
# Debian; Kubernetes, CoreDNS, CNPG and the CSI sidecars are built from source.
#   containerd, runc, containernetworking-plugins   run pods
#   iptables, iproute2, kmod                         node network, kube-proxy
#   debootstrap                                      the PostgreSQL image's rootfs
#   gcc, libc6-dev                                   Kubernetes' pause.c, static
#   podman                                           the add-on's images (make images)
sandbox_packages=(containerd runc containernetworking-plugins iptables iproute2 kmod
	xfsprogs e2fsprogs util-linux debootstrap gcc libc6-dev podman)

packages=()
for need in "${@:-test}"; do
	case $need in
	test) packages+=("${test_packages[@]}") ;;
	sandbox) packages+=("${sandbox_packages[@]}") ;;
	*) echo "install-deps.sh: unknown set '$need' (want: test, sandbox)" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "Debian packages present: ${packages[*]}"
	exit 0
fi
if ((EUID != 0)); then
	echo "missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Only promtool is wanted from the prometheus package: a policy-rc.d that
# refuses every start keeps its daemon (and PostgreSQL's) from starting on
# this machine, and the unit is disabled afterwards for systemd hosts.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# install-deps.sh: start no service while installing\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=true
fi
status=0
apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
if $own_policy; then rm -f "$policy"; fi
if ((status != 0)); then exit "$status"; fi
if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
	systemctl disable --now prometheus.service
fi
