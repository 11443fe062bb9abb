// Package runner is the sidecar's probe loop: measure every volume every
// fast interval, ask PostgreSQL at the interval decide.ProbeInterval picks,
// mirror the result into metrics and let the reporter decide whether to
// write.
//
// Nothing in it may stop the loop: a failed statfs, an unreachable
// PostgreSQL or API server is logged, reported and retried. It returns only
// when its context ends (SIGTERM).
package runner
