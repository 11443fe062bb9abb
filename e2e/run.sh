#!/usr/bin/env bash
# e2e/run.sh runs the end-to-end suite (e2e/suite) on the sandbox or on a
# real cluster, writes e2e/out/report.json and appends an entry to
# E2E_TEST_SUMMARY.md (printed instead when CI=true). e2e/README.md explains
# the targets and the environment.
#
# A thin wrapper that only orders the steps: the sandbox is cmd/sandbox, the
# ledger is e2e/ledger, the specs are Go; nothing here decides more than
# which of them to call.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: e2e/run.sh [flags]

  --target sandbox|cluster  where to run (default sandbox)
                              sandbox: bring up (or reuse) the sandbox and install the add-on from this tree
                              cluster: KUBECONFIG's cluster; builds, pushes and installs the add-on
  --focus REGEX             run only the specs whose text matches (ginkgo --focus)
  --label-filter EXPR       run only the specs whose labels match, e.g. 'gate1 || gate2'
  --fail-fast               stop at the first failure
  --procs N                 Ginkgo processes running specs side by side (default: 2 on the
                              sandbox, 1 on a cluster); Serial specs run alone at the end
  --skip-build              reuse bin/sandbox and bin/images/ instead of building them
  --skip-deploy             the add-on is installed already: do not (re)install it
  --diagnose-only           run nothing: print the state of the cluster (read-only kubectl)
  -h, --help                this text

environment (cluster target): KUBECONFIG, IMAGE_REGISTRY (unless --skip-deploy),
E2E_POSTGRES_IMAGE, E2E_STORAGE_CLASS (default managed-csi), E2E_TIMEOUT_SCALE (default 3).
CI=true prints the ledger entry instead of appending it to E2E_TEST_SUMMARY.md.
USAGE
}

# shell_quote prints its arguments as one command line a shell reads back
# the same, quoting only what needs it (for the ledger's "exact command").
shell_quote() {
	local out=() arg
	for arg; do
		if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
			out+=("$arg")
		else
			out+=("'${arg//\'/\'\\\'\'}'")
		fi
	done
	echo "${out[*]}"
}

command_line=$(shell_quote e2e/run.sh "$@")

usage_error() {
	echo "e2e/run.sh: $*" >&2
	usage >&2
	exit 2
}

target=sandbox focus="" label_filter="" procs="" fail_fast=false skip_build=false skip_deploy=false diagnose_only=false
while (($#)); do
	case $1 in
	--target | --focus | --label-filter | --procs)
		(($# >= 2)) || usage_error "$1 needs a value"
		case $1 in
		--target) target=$2 ;;
		--focus) focus=$2 ;;
		--label-filter) label_filter=$2 ;;
		--procs) procs=$2 ;;
		esac
		shift 2
		;;
	--target=*) target=${1#*=} && shift ;;
	--focus=*) focus=${1#*=} && shift ;;
	--label-filter=*) label_filter=${1#*=} && shift ;;
	--procs=*) procs=${1#*=} && shift ;;
	--fail-fast) fail_fast=true && shift ;;
	--skip-build) skip_build=true && shift ;;
	--skip-deploy) skip_deploy=true && shift ;;
	--diagnose-only) diagnose_only=true && shift ;;
	-h | --help) usage && exit 0 ;;
	*) usage_error "unknown flag: $1" ;;
	esac
done
case $target in
sandbox | cluster) ;;
*) usage_error "--target must be sandbox or cluster, not '$target'" ;;
esac
if [[ -z $procs ]]; then
	procs=1
	[[ $target == sandbox ]] && procs=2
fi
[[ $procs =~ ^[1-9][0-9]*$ ]] || usage_error "--procs must be a whole number ≥ 1, not '$procs'"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local

step() { printf '\n=== %s\n' "$*"; }
die() {
	echo "e2e/run.sh: $*" >&2
	exit 1
}

addon_release=cnpg-storage-autoscaler
addon_namespace=pgstorage-system
kubectl=kubectl

# diagnose prints what an on-call engineer looks at first. Read-only: every
# call is kubectl get, describe or logs, and a failing one does not stop
# the others (a CRD may be missing, the controller may not be running).
diagnose() {
	show() {
		printf '\n--- %s\n' "$1"
		"$kubectl" "${@:2}" 2>&1 || true
	}
	show "policies" get storageautoscalepolicies.pgstorage.io --all-namespaces -o wide
	show "policies: status and conditions" describe storageautoscalepolicies.pgstorage.io --all-namespaces
	show "observations" get storageobservations.pgstorage.io --all-namespaces -o wide
	show "PVC resize states" get persistentvolumeclaims --all-namespaces -o \
		'custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,REQUESTED:.spec.resources.requests.storage,CAPACITY:.status.capacity.storage,ALLOCATED:.status.allocatedResources.storage,RESIZE:.status.allocatedResourceStatuses,CONDITIONS:.status.conditions[*].type'
	show "VolumeAttachments" get volumeattachments -o wide
	show "pending pods" get pods --all-namespaces --field-selector=status.phase=Pending -o wide
	show "CSI nodes" get csinodes
	show "CSI node pods (Azure Disk)" get pods --namespace kube-system -l app=csi-azuredisk-node -o wide
	show "recent events" get events --all-namespaces --sort-by=.lastTimestamp
	show "add-on pods" get pods --namespace "$addon_namespace" -o wide
	show "controller logs" logs --namespace "$addon_namespace" "deployment/$addon_release" --all-containers --tail=200
}

# --- the target: a kubeconfig, a StorageClass, images and timeouts ---------

if [[ $target == sandbox ]]; then
	if ! $skip_build; then
		step "build bin/sandbox"
		CGO_ENABLED=0 go build -o bin/sandbox ./cmd/sandbox
	fi
	[[ -x bin/sandbox ]] || die "bin/sandbox is missing: run without --skip-build"
	KUBECONFIG=$(bin/sandbox kubeconfig)
	kubectl=$(bin/sandbox kubectl)
	export KUBECONFIG
	if $diagnose_only; then
		diagnose
		exit 0
	fi
	if $skip_deploy; then
		"$kubectl" get --raw /readyz >/dev/null || die "the sandbox is not up: run without --skip-deploy (or make sandbox-up)"
	else
		# Reuses a healthy sandbox and reinstalls the add-on from this tree.
		step "bin/sandbox up"
		bin/sandbox up
	fi
	export E2E_STORAGE_CLASS=sandbox-online
	E2E_POSTGRES_IMAGE=${E2E_POSTGRES_IMAGE:-$(bin/sandbox postgres-image)}
	export E2E_POSTGRES_IMAGE
	export E2E_TIMEOUT_SCALE=${E2E_TIMEOUT_SCALE:-1}
else
	missing=()
	[[ -n ${KUBECONFIG:-} ]] || missing+=("KUBECONFIG (the cluster's kubeconfig file)")
	if ! $diagnose_only; then
		[[ -n ${E2E_POSTGRES_IMAGE:-} ]] || missing+=("E2E_POSTGRES_IMAGE (PostgreSQL image for CNPG Clusters, e.g. ghcr.io/cloudnative-pg/postgresql:17)")
		if ! $skip_deploy; then
			[[ -n ${IMAGE_REGISTRY:-} ]] || missing+=("IMAGE_REGISTRY (where to push the add-on's images, e.g. myregistry.azurecr.io/pgstorage)")
		fi
	fi
	if ((${#missing[@]})); then
		printf 'e2e/run.sh: --target cluster needs:\n' >&2
		printf '  %s\n' "${missing[@]}" >&2
		exit 2
	fi
	export KUBECONFIG
	if $diagnose_only; then
		diagnose
		exit 0
	fi
	export E2E_STORAGE_CLASS=${E2E_STORAGE_CLASS:-managed-csi}
	export E2E_POSTGRES_IMAGE
	# Azure Disk attach/detach takes minutes: every wait of the suite is
	# multiplied by this.
	export E2E_TIMEOUT_SCALE=${E2E_TIMEOUT_SCALE:-3}
fi
[[ $E2E_TIMEOUT_SCALE =~ ^[1-9][0-9]*$ ]] || die "E2E_TIMEOUT_SCALE must be a whole number ≥ 1, not '$E2E_TIMEOUT_SCALE'"
export E2E_TARGET=$target

# --- the add-on on a cluster: multi-arch images with a per-commit tag --------

if [[ $target == cluster ]] && ! $skip_deploy; then
	if ! $skip_build; then
		step "make images IMAGE_REGISTRY=$IMAGE_REGISTRY (linux/amd64 + linux/arm64)"
		make --no-print-directory images IMAGE_REGISTRY="$IMAGE_REGISTRY"
	fi
	[[ -f bin/images/images.env ]] || die "bin/images/images.env is missing: run without --skip-build"
	# shellcheck source=/dev/null
	source bin/images/images.env # IMAGE_TAG, CONTROLLER_IMAGE, SIDECAR_IMAGE
	[[ $CONTROLLER_IMAGE == "$IMAGE_REGISTRY"/* ]] ||
		die "bin/images/ holds $CONTROLLER_IMAGE, not an image of $IMAGE_REGISTRY: run without --skip-build"

	# The archives hold one OCI index each; podman pushes an index without
	# a daemon from a manifest list in hack/images.sh's private store. Log
	# in first with podman login (AKS: az acr login --name R --expose-token).
	podman=(podman --root "$PWD/bin/.podman/root" --runroot "$PWD/bin/.podman/run" --storage-driver vfs)
	for image in controller sidecar; do
		name=$CONTROLLER_IMAGE
		[[ $image == sidecar ]] && name=$SIDECAR_IMAGE
		step "push $name"
		"${podman[@]}" manifest rm "$name" >/dev/null 2>&1 || true
		"${podman[@]}" manifest create "$name" >/dev/null
		"${podman[@]}" manifest add --all "$name" "oci-archive:bin/images/cnpg-storage-autoscaler-$image.oci.tar" >/dev/null
		"${podman[@]}" manifest push --all "$name" "docker://$name"
		"${podman[@]}" manifest rm "$name" >/dev/null
	done

	# Helm installs a chart's CRDs only with the release, never on upgrade.
	step "apply the chart's CRDs (server-side)"
	"$kubectl" apply --server-side --force-conflicts -f "deploy/helm/$addon_release/crds/"
	step "helm upgrade --install $addon_release (tag $IMAGE_TAG)"
	[[ -x bin/helm ]] || make --no-print-directory helm
	bin/helm upgrade --install "$addon_release" "deploy/helm/$addon_release" \
		--namespace "$addon_namespace" --create-namespace \
		--set "image.repository=${CONTROLLER_IMAGE%:*}" --set "image.tag=$IMAGE_TAG" \
		--set "sidecar.image.repository=${SIDECAR_IMAGE%:*}" --set "sidecar.image.tag=$IMAGE_TAG" \
		--set image.pullPolicy=IfNotPresent \
		--wait --timeout 10m
fi

# --- the suite ---------------------------------------------------------------

step "remove stale autoscaler-e2e-* namespaces"
stale=$("$kubectl" get namespaces -o name | grep '^namespace/autoscaler-e2e-' || true)
if [[ -n $stale ]]; then
	# Not waited for: every spec makes a namespace of its own (unique
	# names), and on the sandbox a namespace holding a CNPG cluster has been
	# seen to stay Terminating for many minutes (see the closing note of the
	# session that wrote this).
	# shellcheck disable=SC2086 # one name per word
	"$kubectl" delete --wait=false $stale
fi

# Ginkgo's own timeout ends the suite (and writes the report).
suite_minutes=$((90 * E2E_TIMEOUT_SCALE))
report=$PWD/e2e/out/report.json
mkdir -p e2e/out
rm -f "$report"
# On the sandbox most of a spec is waiting for fills and growths, so two
# processes run specs of separate clusters side by side; specs that
# disturb every cluster (the controller killed or scaled to zero, the node
# cordoned) are Serial and run alone at the end. On a cluster the specs run
# one at a time (Azure Disk attaches queue per node).
ginkgo_flags=(--tags=e2e --procs="$procs" -v --timeout="${suite_minutes}m"
	--output-dir="$(dirname "$report")" --json-report="$(basename "$report")")
[[ -n $label_filter ]] && ginkgo_flags+=(--label-filter="$label_filter")
[[ -n $focus ]] && ginkgo_flags+=(--focus="$focus")
$fail_fast && ginkgo_flags+=(--fail-fast)
[[ -t 1 ]] || ginkgo_flags+=(--no-color) # logs, CI

# The ginkgo command is built from this module, at the version of the
# library the suite links (they must agree).
step "build bin/ginkgo"
go build -o bin/ginkgo github.com/onsi/ginkgo/v2/ginkgo
step "ginkgo ./e2e/suite/ (target $target, $procs processes, storage class $E2E_STORAGE_CLASS, timeouts ×$E2E_TIMEOUT_SCALE)"
status=0
bin/ginkgo "${ginkgo_flags[@]}" ./e2e/suite/ || status=$?

if [[ -f $report ]]; then
	step "ledger"
	go run ./e2e/ledger/cmd --report "$report" --ledger E2E_TEST_SUMMARY.md \
		--commit "$(hack/images.sh tag)" --target "$target" --command "$command_line" || status=1
else
	echo "e2e/run.sh: the suite wrote no report ($report): nothing for the ledger" >&2
	((status)) || status=1
fi
if ((status)); then
	step "diagnostics (the run failed)"
	diagnose
fi
exit "$status"
