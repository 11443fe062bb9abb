// Package runner is the sidecar's probe loop: measure every volume, ask
// PostgreSQL, mirror the result into metrics, let the reporter decide
// whether to write, and wait the interval decide.ProbeInterval picks.
//
// Nothing in it may stop the loop: a failed statfs, an unreachable
// PostgreSQL or API server is logged, reported and retried. It returns only
// when its context ends (SIGTERM).
package runner
