// Package decide holds the sidecar's decisions as pure functions: how fast a
// volume fills, how often to probe, and whether what was just measured is
// worth an API server write.
//
// It sees no clock, no filesystem, no PostgreSQL and no client: callers pass
// times and measurements in, so each rule is a row in a table test. Its bands
// are fixed (DESIGN §5): the sidecar reads no policy, so a policy edit never
// needs a new pod.
package decide
