# cnpg-storage-autoscaler — `make help` lists every target.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Never let `go` try to download a toolchain: this machine's Go is the one.
export GOTOOLCHAIN := local
# One set of build flags for everything: the tests, vet and staticcheck, the
# binaries and images (hack/images.sh), the upstream tools
# (hack/build-tools.sh) and the sandbox all build static and -trimpath, so
# the build cache compiles each package once. (With gcc installed `go test`
# would build with cgo, and every package under it a second time.)
export CGO_ENABLED := 0
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

BIN            := $(CURDIR)/bin
TOOLS          := $(CURDIR)/e2e/tools
KUBE_VERSION   := v1.34.4
KUBE_BIN       := $(BIN)/k8s-$(KUBE_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen
HELM           := $(BIN)/helm
CHART          := deploy/helm/cnpg-storage-autoscaler
STATICCHECK    := $(BIN)/staticcheck
CRD_DIR        := deploy/crds
DASHBOARD      := deploy/grafana/cnpg-storage-autoscaler.json

# envtest finds etcd and kube-apiserver here.
export KUBEBUILDER_ASSETS := $(KUBE_BIN)

# timed NAME CMD... prints a step, runs it, and prints how long it took.
timed = $(CURDIR)/hack/timed.sh

##@ General

.PHONY: help
help: ## Show this list.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	/^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods from the API types.
	$(CONTROLLER_GEN) object paths=./apis/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) $(HELM) ## Generate the CRDs and the Grafana dashboard; copy them, deploy/admission and the alert rules into the chart; render deploy/kustomize from it.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./apis/... output:crd:artifacts:config=$(CRD_DIR)
	go run ./deploy/grafana/gen $(DASHBOARD)
	KUBE_VERSION=$(KUBE_VERSION) hack/chart-sync.sh $(HELM)

GENERATED_PATHS := apis $(CRD_DIR) deploy/grafana $(CHART)/crds $(CHART)/files deploy/kustomize
generated_hash = find $(GENERATED_PATHS) -type f | sort | xargs sha256sum | sha256sum

.PHONY: verify
verify: $(CONTROLLER_GEN) $(HELM) ## Fail when the generated files are stale (regenerates them).
	@before=$$($(generated_hash)); \
	$(MAKE) --no-print-directory generate manifests >/dev/null; \
	if [ "$$before" != "$$($(generated_hash))" ]; then \
	  echo "Generated files were stale; 'make generate manifests' has now rewritten them: commit the result."; \
	  git --no-pager diff --stat -- $(GENERATED_PATHS); exit 1; \
	fi
	@echo "generated files are up to date"

.PHONY: lint
lint: $(STATICCHECK) ## go vet, gofmt and staticcheck (also over the e2e- and images-tagged tests).
	go vet -tags e2e,images ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(STATICCHECK) -tags e2e,images ./...

.PHONY: test
test: envtest-bins test-alerts ## Run every test: units, integration on a real kube-apiserver built from source, and the alert rules.
	go test ./...

PROMTOOL ?= promtool

.PHONY: test-alerts
test-alerts: ## Check the alert rules and run their unit tests (promtool, from Debian's prometheus package).
	@command -v $(PROMTOOL) >/dev/null || { \
	  echo "promtool not found: install Debian's prometheus package (apt-get install --no-install-recommends prometheus, or hack/install-deps.sh test)" >&2; exit 1; }
	$(PROMTOOL) check rules deploy/prometheus/rules.yaml
	$(PROMTOOL) test rules deploy/prometheus/rules_test.yaml

.PHONY: bench
bench: envtest-bins ## Run the controllers' benchmarks (heavy: 1,000 policies on a real kube-apiserver; ~10 min on 2 cores).
	go test -run '^$$' -bench . -benchtime 3s ./controllers/plan/
	go test -run '^$$' -bench Reconcile -benchtime 2000x -timeout 60m ./controllers/policy/
	go test -run '^$$' -bench ReactionLatency -benchtime 30x -timeout 10m ./controllers/policy/
	go test -run '^$$' -bench NudgeLatency -benchtime 30x -timeout 10m ./controllers/policy/

##@ Build

.PHONY: build
build: ## Build the binaries into bin/.
	go build -o $(BIN)/ ./cmd/...

.PHONY: build-cross
build-cross: ## Build every binary for linux/amd64 and linux/arm64 without cgo into bin/linux_<arch>/ (as the images do).
	hack/images.sh binaries

# The kubectl plugin for every platform krew serves, static (no cgo):
# bin/plugin/kubectl-pgstorage_<os>_<arch>.tar.gz (the binary inside, .exe on
# windows) and its .sha256. hack/krew-manifest.sh turns them into krew's
# manifest (deploy/krew/pgstorage.yaml with URLs and checksums).
PLUGIN_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

.PHONY: plugin
plugin: ## Build kubectl-pgstorage for linux, darwin and windows on amd64 and arm64 into bin/plugin/ (archives for krew).
	@rm -rf $(BIN)/plugin && mkdir -p $(BIN)/plugin
	@for platform in $(PLUGIN_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; exe=kubectl-pgstorage; [[ $$os == windows ]] && exe+=.exe; \
	  dir=$(BIN)/plugin/kubectl-pgstorage_$${os}_$${arch}; mkdir -p $$dir; \
	  echo "build $$platform"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags "-s -w" -o $$dir/$$exe ./cmd/kubectl-pgstorage; \
	  tar -C $$dir -czf $$dir.tar.gz $$exe; \
	  (cd $(BIN)/plugin && sha256sum kubectl-pgstorage_$${os}_$${arch}.tar.gz > kubectl-pgstorage_$${os}_$${arch}.tar.gz.sha256); \
	done
	@ls -l $(BIN)/plugin/*.tar.gz

# Images (Dockerfile.controller, Dockerfile.sidecar), built without a Docker
# engine by podman from Debian. IMAGE_REGISTRY overrides the repositories.
IMAGE_REGISTRY ?= localhost/pgstorage
export IMAGE_REGISTRY

# make images writes, under bin/images/:
#   cnpg-storage-autoscaler-{controller,sidecar}.oci.tar     OCI archive: one multi-arch index
#     (linux/amd64 + linux/arm64) named $(IMAGE_REGISTRY)/cnpg-storage-autoscaler-<image>:<tag>
#   cnpg-storage-autoscaler-{controller,sidecar}.docker.tar  the host's architecture only, with
#     its name: `ctr -n k8s.io images import FILE` registers it (containerd 1.6 registers no
#     name for a multi-arch OCI archive)
#   images.env                                               IMAGE_TAG, CONTROLLER_IMAGE, SIDECAR_IMAGE
.PHONY: images
images: ## Build both images (amd64+arm64) into bin/images/: *.oci.tar (multi-arch), *.docker.tar (host arch, for ctr import), images.env.
	@$(timed) "build images (cold: ~6 min, warm: ~1 min)" hack/images.sh build

.PHONY: print-image-tag
print-image-tag: ## Print the tag `make images` gives this tree (git short SHA, -dirty-<hash> with local changes).
	@hack/images.sh tag

.PHONY: test-images
test-images: images ## Build the images and check their archives (platforms, user, entrypoint, static binaries).
	go test -count=1 -tags images ./internal/images/

.PHONY: chart-lint
chart-lint: $(HELM) ## helm lint --strict the chart with its defaults and with cert-manager, monitoring and the dashboard on.
	$(HELM) lint --strict $(CHART) --namespace pgstorage-system --kube-version $(KUBE_VERSION)
	$(HELM) lint --strict $(CHART) --namespace pgstorage-system --kube-version $(KUBE_VERSION) \
	  --set certManager.enabled=true --set metrics.serviceMonitor.enabled=true --set metrics.podMonitor.enabled=true \
	  --set grafanaDashboard.enabled=true

##@ Sandbox (a real single-node Kubernetes with the real CNPG operator; needs root)

.PHONY: demo
demo: sandbox-deps $(BIN)/sandbox ## The sandbox demo: a 3-instance CNPG cluster filled by INSERTs until the add-on grew its volumes twice.
	$(BIN)/sandbox demo

.PHONY: bench-sandbox
bench-sandbox: sandbox-deps $(BIN)/sandbox ## Time growths end to end on the sandbox (trigger → patch → capacity → df) and the add-on at rest; BENCH_SANDBOX_ARGS='--runs nudge --growths 5'.
	$(BIN)/sandbox bench $(BENCH_SANDBOX_ARGS)

.PHONY: sandbox-deps
sandbox-deps: ## Install the Debian packages the sandbox needs.
	hack/install-deps.sh sandbox

$(BIN)/sandbox: FORCE
	@go build -o $@ ./cmd/sandbox

.PHONY: sandbox-up
sandbox-up: sandbox-deps $(BIN)/sandbox ## Build what is missing and bring the sandbox up.
	$(BIN)/sandbox up

.PHONY: sandbox-down
sandbox-down: $(BIN)/sandbox ## Remove everything the sandbox made (also after a crash).
	$(BIN)/sandbox down

.PHONY: sandbox-status
sandbox-status: $(BIN)/sandbox ## Show whether the sandbox is up and what runs on it.
	$(BIN)/sandbox status

.PHONY: e2e-sandbox
e2e-sandbox: sandbox-deps ## Prove the sandbox and the installed add-on: CNPG with a replica, growth, faults, injection, clean down (E2E_SANDBOX_RUN: a -run filter).
	go test -tags e2e -count=1 -timeout 60m -v $(if $(E2E_SANDBOX_RUN),-run '$(E2E_SANDBOX_RUN)') ./e2e/sandbox/

.PHONY: e2e
e2e: sandbox-deps ## The E2E suite's gates 1 and 2 on the sandbox (e2e/run.sh; report in e2e/out/, entry in E2E_TEST_SUMMARY.md).
	e2e/run.sh --target sandbox --label-filter 'gate1 || gate2'

.PHONY: FORCE
FORCE:

##@ Tools (built from pinned modules under e2e/tools)

.PHONY: envtest-bins
envtest-bins: $(KUBE_BIN)/etcd $(KUBE_BIN)/kube-apiserver ## Build etcd and kube-apiserver for integration tests.

$(KUBE_BIN)/etcd $(KUBE_BIN)/kube-apiserver &: $(TOOLS)/kubernetes/go.mod $(TOOLS)/kubernetes/go.sum
	@mkdir -p $(KUBE_BIN)
	@$(timed) "build etcd and kube-apiserver $(KUBE_VERSION) (cold: ~7 min, warm: ~20 s)" \
	  hack/build-tools.sh kubernetes $(KUBE_BIN) etcd=go.etcd.io/etcd/server/v3 kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver

$(CONTROLLER_GEN): $(TOOLS)/controller-gen/go.mod $(TOOLS)/controller-gen/go.sum
	@$(timed) "build controller-gen" \
	  hack/build-tools.sh controller-gen $(BIN) controller-gen=sigs.k8s.io/controller-tools/cmd/controller-gen

$(STATICCHECK): $(TOOLS)/staticcheck/go.mod $(TOOLS)/staticcheck/go.sum
	@$(timed) "build staticcheck" \
	  hack/build-tools.sh staticcheck $(BIN) staticcheck=honnef.co/go/tools/cmd/staticcheck

.PHONY: helm
helm: $(HELM) ## Build the helm command (Helm v3.21.4, e2e/tools/helm) into bin/helm.

$(HELM): $(TOOLS)/helm/go.mod $(TOOLS)/helm/go.sum
	@$(timed) "build helm (cold: ~5 min, warm: ~10 s)" \
	  hack/build-tools.sh helm $(BIN) helm=helm.sh/helm/v3/cmd/helm

.PHONY: clean
clean: ## Remove bin/.
	rm -rf $(BIN)
