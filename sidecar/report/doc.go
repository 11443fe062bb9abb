// Package report writes the pod's StorageObservation: created once with the
// pod's identity and an owner reference to the pod (so it is garbage
// collected with it), then status updates through the status subresource,
// only when decide.ShouldWrite says the change matters or a heartbeat is due.
//
// API server errors are returned, never fatal: the caller keeps probing, and
// the reporter backs off before its next attempt so that an API server outage
// is not answered by a write storm from every instance pod.
package report
