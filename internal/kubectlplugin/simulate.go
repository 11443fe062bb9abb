package kubectlplugin

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

func newSimulateCommand(g *globals) *cobra.Command {
	var used []string
	var at string
	command := &cobra.Command{
		Use:   "simulate CLUSTER --used VOLUME=FULL [--used ...] [--at TIME]",
		Short: "Show what the planner would decide if a volume were that full",
		Long: `simulate reads the cluster as explain does, changes the used space of the volumes
named by --used as if the probe sidecar had just measured it, and runs the
controller's planner on the result: which PVCs would grow, to what size, and every
gate's verdict. Nothing in the cluster is changed.

--used VOLUME=FULL, repeatable:
  VOLUME  data or wal (every instance's volume of that role), a tablespace name,
          or a PVC name (that PVC only)
  FULL    a percentage of the filesystem (92%) or a used size (45Gi)

--at TIME plans for another instant: RFC 3339 (2026-07-01T02:30:00Z) or +DURATION
from now (+6h). Budget, cooldowns, windows and resize timeouts are judged at TIME;
every other observation keeps its age, as if its sidecar went on reporting.

` + exitCodesHelp,
		Example: `  kubectl pgstorage simulate -n db orders --used data=92%
  kubectl pgstorage simulate orders --used wal=97% --used orders-2=80% --at +6h -o yaml`,
		Args: exactArgs(1, "one cluster: kubectl pgstorage simulate CLUSTER --used VOLUME=FULL"),
		RunE: func(command *cobra.Command, args []string) error {
			if g.allNamespaces {
				return usagef("simulate reads one cluster: use -n NAMESPACE, not -A")
			}
			if len(used) == 0 {
				return usagef("simulate needs at least one --used VOLUME=FULL, e.g. --used data=92%%")
			}
			overrides := make([]override, 0, len(used))
			for _, text := range used {
				o, err := parseOverride(text)
				if err != nil {
					return err
				}
				overrides = append(overrides, o)
			}
			now := g.now()
			when, err := parseAt(at, now)
			if err != nil {
				return err
			}
			s, err := g.connect()
			if err != nil {
				return err
			}
			view, err := s.view(command.Context(), args[0], now, g.resizeTimeout)
			if err != nil {
				return err
			}
			snapshot := view.Plan
			if view.Cluster != nil && view.ConflictWith == "" {
				if snapshot, err = simulated(view.Plan, overrides, when); err != nil {
					return err
				}
			}
			snapshot.Now = when
			return g.report(newReport(view, snapshot, overrides))
		},
	}
	command.Flags().StringArrayVar(&used, "used", nil, "VOLUME=FULL: data, wal, a tablespace or a PVC name = a percentage (92%) or a size (45Gi); repeatable")
	command.Flags().StringVar(&at, "at", "", "plan for this instant: RFC 3339, or +DURATION from now (default: now)")
	return command
}

// override is one --used.
type override struct {
	// Target is data, wal, a tablespace name or a PVC name.
	Target string `json:"target"`
	// Used is as given: "92%" or "45Gi".
	Used string `json:"used"`
	// PVCs are the PVCs it changed.
	PVCs []string `json:"pvcs"`
	// percent is set for "92%"; usedBytes otherwise.
	percent   float64
	isPercent bool
	usedBytes int64
}

func parseOverride(text string) (override, error) {
	target, used, found := strings.Cut(text, "=")
	if !found || target == "" || used == "" {
		return override{}, usagef("--used %q: want VOLUME=FULL, e.g. data=92%% or orders-1-wal=2Gi", text)
	}
	o := override{Target: target, Used: used}
	if number, isPercent := strings.CutSuffix(used, "%"); isPercent {
		percent, err := strconv.ParseFloat(number, 64)
		if err != nil || percent < 0 || percent > 100 || math.IsNaN(percent) {
			return override{}, usagef("--used %q: %q is no percentage between 0%% and 100%%", text, used)
		}
		o.percent, o.isPercent = percent, true
		return o, nil
	}
	size, err := resource.ParseQuantity(used)
	if err != nil || size.Sign() < 0 {
		return override{}, usagef("--used %q: %q is neither a percentage (92%%) nor a size (45Gi)", text, used)
	}
	o.usedBytes = size.Value()
	return o, nil
}

// parseAt reads --at: RFC 3339, or +DURATION from now; empty is now.
func parseAt(text string, now time.Time) (time.Time, error) {
	if text == "" {
		return now, nil
	}
	if offset, relative := strings.CutPrefix(text, "+"); relative {
		d, err := time.ParseDuration(offset)
		if err != nil {
			return time.Time{}, usagef("--at %q: %v", text, err)
		}
		return now.Add(d), nil
	}
	at, err := time.Parse(time.RFC3339, text)
	if err != nil {
		return time.Time{}, usagef("--at %q: want RFC 3339 (2026-07-01T02:30:00Z) or +DURATION (+6h)", text)
	}
	return at, nil
}

// matches says whether an override names the PVC.
func (o override) matches(pvc plan.PVC) bool {
	switch o.Target {
	case string(v1alpha1.RoleData), string(v1alpha1.RoleWAL):
		return string(pvc.Role) == o.Target
	}
	return pvc.Name == o.Target || (pvc.Role == v1alpha1.RoleTablespace && pvc.Tablespace == o.Target)
}

// simulated returns a copy of snapshot planned for at, whose overridden
// volumes are measured at at with the used space given. Every other
// observation is moved to at by the same amount, keeping its age. A volume
// no observation reports is measured at its PVC's capacity; an instance
// without any observation gets one in which PostgreSQL is unreachable,
// which is all the planner could know of it.
func simulated(snapshot plan.Snapshot, overrides []override, at time.Time) (plan.Snapshot, error) {
	out := snapshot
	out.Observations = make([]plan.Observation, len(snapshot.Observations))
	for index, observation := range snapshot.Observations {
		out.Observations[index] = plan.Observation{Instance: observation.Instance, Status: *observation.Status.DeepCopy()}
		if observedAt := out.Observations[index].Status.ObservedAt; observedAt != nil {
			shifted := metav1.NewMicroTime(observedAt.Add(at.Sub(snapshot.Now)))
			out.Observations[index].Status.ObservedAt = &shifted
		}
	}
	measuredAt := metav1.NewMicroTime(at)
	for index := range overrides {
		o := &overrides[index]
		for _, pvc := range snapshot.PVCs {
			if !o.matches(pvc) {
				continue
			}
			o.PVCs = append(o.PVCs, pvc.Name)
			observation := observationOf(&out, pvc, snapshot.Primary)
			observation.Status.ObservedAt = &measuredAt
			volume := plan.FindObservedVolume(observation.Status.Volumes, pvc)
			if volume == nil {
				observation.Status.Volumes = append(observation.Status.Volumes, v1alpha1.ObservedVolume{
					Name: pvc.Name, Role: pvc.Role, Tablespace: pvc.Tablespace, PVC: pvc.Name,
				})
				volume = &observation.Status.Volumes[len(observation.Status.Volumes)-1]
			}
			if volume.CapacityBytes <= 0 {
				volume.CapacityBytes = max(pvc.Capacity.Value(), pvc.Request.Value())
			}
			used := min(o.usedBytes, volume.CapacityBytes)
			if o.isPercent {
				// Rounded up: the simulated volume is at least that full.
				used = min(int64(math.Ceil(float64(volume.CapacityBytes)*o.percent/100)), volume.CapacityBytes)
			}
			volume.UsedBytes, volume.AvailableBytes = used, volume.CapacityBytes-used
		}
		if len(o.PVCs) == 0 {
			return plan.Snapshot{}, usagef("--used %s=%s: no PVC of the cluster is %s (use data, wal, a tablespace name or a PVC name)",
				o.Target, o.Used, o.Target)
		}
	}
	return out, nil
}

// observationOf is the simulated snapshot's observation of the PVC's
// instance, added when there is none.
func observationOf(snapshot *plan.Snapshot, pvc plan.PVC, primary string) *plan.Observation {
	for index := range snapshot.Observations {
		if snapshot.Observations[index].Instance == pvc.Instance {
			return &snapshot.Observations[index]
		}
	}
	role := v1alpha1.InstanceReplica
	if pvc.Instance == primary {
		role = v1alpha1.InstancePrimary
	}
	snapshot.Observations = append(snapshot.Observations, plan.Observation{
		Instance: pvc.Instance,
		Status: v1alpha1.StorageObservationStatus{
			Role:     role,
			Postgres: v1alpha1.PostgresObservation{Reason: fmt.Sprintf("simulated: instance %s has no observation", pvc.Instance)},
		},
	})
	return &snapshot.Observations[len(snapshot.Observations)-1]
}
