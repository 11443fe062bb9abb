// Package suite is the end-to-end suite of ../shared/E2E.md: one Ginkgo v2
// suite, two targets (the sandbox and any real cluster, AKS with managed-csi
// as the reference), the same specs. Specs carry the labels gate1..gate4 that
// select the gates. Run it through e2e/run.sh; it is built only with the
// `e2e` tag, so `go test ./...` never needs a cluster.
package suite
