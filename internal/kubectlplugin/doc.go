// Package kubectlplugin is `kubectl pgstorage` (cmd/kubectl-pgstorage):
// status, history, explain and simulate for the CNPG clusters a
// StorageAutoscalePolicy manages.
//
// status and history print what the controller wrote into the policy
// status. explain and simulate read the cluster's world exactly as the
// controller does (policy.Snapshot, with a reader of the API server) and
// run the controller's own planner on it (plan.Explain): they never
// decide anything themselves, so they cannot disagree with the controller
// about the same world. simulate changes only the snapshot it hands the
// planner; nothing in the cluster is ever written.
//
// What it must not do: write to the API server, re-implement a rule of
// the planner, or hold state between runs.
package kubectlplugin
