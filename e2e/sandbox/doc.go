// Package sandbox brings up a real single-node Kubernetes on this machine,
// built from source, with the real CNPG operator and real volumes that grow
// through the real CSI resize protocol (DESIGN §9).
//
// It is glue, shaped like kind: upstream programs (etcd, the Kubernetes
// components, containerd, runc, the CNI plugins, CoreDNS, the CSI sidecars,
// the CNPG operator) do the work; this package writes their configuration,
// starts them as supervised host processes and removes every trace again.
// `up` is a list of steps, each printed with its elapsed time; `down` trusts
// the state file and the machine (mounts, loop devices, processes found by
// path) more than memory, so it also cleans up after a crash.
//
// Everything stays on the machine: the node address and the pods live on a
// bridge of the sandbox's own, forwarding out of the pod network is dropped,
// and CoreDNS has no upstream forwarder.
package sandbox
