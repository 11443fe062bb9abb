package plan

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"pgregory.net/rapid"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// propertyChecks is how many snapshots each property is checked on, unless
// -rapid.checks or RAPID_CHECKS says otherwise.
const propertyChecks = 10000

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		if err := flag.Set("rapid.checks", fmt.Sprint(propertyChecks)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// Zones with and without daylight saving time, one of them shifting by 30
// minutes (Lord Howe).
var generatedZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"}

// generatedWindowHours: every hour, and more often those in which the
// clocks of the zones above change (01:00–03:00).
var generatedWindowHours = append([]int{1, 1, 2, 2, 2, 3, 3}, func() []int {
	hours := make([]int, 24)
	for hour := range hours {
		hours[hour] = hour
	}
	return hours
}()...)

var generatedProvisioners = []string{"disk.csi.azure.com", "ebs.csi.aws.com", "pd.csi.storage.gke.io", "csi.example.com"}

var generatedSKUs = []string{"", "Premium_LRS", "StandardSSD_LRS", "PremiumV2_LRS", "UltraSSD_LRS"}

var generatedStatuses = []string{"", "", "", "", "", "", "ControllerResizeInProgress", "NodeResizePending", "ControllerResizeInfeasible"}

var generatedTablespaces = []string{"idx", "archive"}

// drawSnapshot draws a cluster of 1–4 instances with data, maybe WAL and
// tablespace volumes, a random but admissible policy, observations fresh
// or stale, resizes in flight, budget already spent, and a random now.
func drawSnapshot(t *rapid.T) Snapshot {
	spec := drawPolicy(t)
	now := drawNow(t, spec.MaintenanceWindows)
	snapshot := Snapshot{Now: now, Policy: spec}

	for index, provisioner := range rapid.SliceOfNDistinct(rapid.SampledFrom(generatedProvisioners), 1, 2, rapid.ID[string]).Draw(t, "provisioners") {
		class := StorageClass{
			Name: fmt.Sprintf("class-%d", index), Provisioner: provisioner,
			AllowVolumeExpansion: rapid.IntRange(0, 9).Draw(t, "expandable") > 0,
		}
		if sku := rapid.SampledFrom(generatedSKUs).Draw(t, "sku"); sku != "" {
			class.Parameters = map[string]string{"skuName": sku}
		}
		snapshot.StorageClasses = append(snapshot.StorageClasses, class)
	}

	instances := rapid.IntRange(1, 4).Draw(t, "instances")
	hasWAL := rapid.Bool().Draw(t, "hasWAL")
	tablespaces := generatedTablespaces[:rapid.IntRange(0, 2).Draw(t, "tablespaces")]
	primary := rapid.IntRange(0, instances-1).Draw(t, "primary")
	for index := range instances {
		instance := fmt.Sprintf("orders-%d", index+1)
		role := v1alpha1.InstanceReplica
		if index == primary {
			role = v1alpha1.InstancePrimary
			snapshot.Primary = instance
		}
		observation := drawObservation(t, instance, role, now, spec.ObservationMaxAge.Duration)
		add := func(volumeRole v1alpha1.VolumeRole, tablespace string) {
			pvc, observed := drawVolume(t, instance, volumeRole, tablespace, snapshot.StorageClasses, now)
			snapshot.PVCs = append(snapshot.PVCs, pvc)
			if observed != nil {
				observation.Status.Volumes = append(observation.Status.Volumes, *observed)
			}
		}
		add(v1alpha1.RoleData, "")
		if hasWAL {
			add(v1alpha1.RoleWAL, "")
		}
		for _, tablespace := range tablespaces {
			add(v1alpha1.RoleTablespace, tablespace)
		}
		if rapid.IntRange(0, 19).Draw(t, "observationMissing") > 0 {
			snapshot.Observations = append(snapshot.Observations, observation)
		}
	}

	// Growths in status.history, naming some PVCs: the per-volume
	// modification limit counts them.
	for range rapid.IntRange(0, 6).Draw(t, "historyRecords") {
		named := rapid.SliceOfNDistinct(rapid.SampledFrom(snapshot.PVCs), 1, 3, func(pvc PVC) string { return pvc.Name }).Draw(t, "historyPVCs")
		record := v1alpha1.GrowthRecord{
			Time: metav1.NewTime(now.Add(-time.Duration(rapid.Int64Range(0, 30*3600).Draw(t, "historyAgeSeconds")) * time.Second)),
			Role: named[0].Role, Kind: v1alpha1.GrowthPlanned, Outcome: v1alpha1.OutcomeSucceeded,
		}
		for _, pvc := range named {
			record.PVCs = append(record.PVCs, pvc.Name)
		}
		snapshot.History = append(snapshot.History, record)
	}

	for range rapid.IntRange(0, 8).Draw(t, "recordedActions") {
		action := v1alpha1.BudgetAction{
			Time: metav1.NewTime(now.Add(-time.Duration(rapid.Int64Range(0, 30*3600).Draw(t, "actionAgeSeconds")) * time.Second)),
			Kind: rapid.SampledFrom([]v1alpha1.GrowthKind{v1alpha1.GrowthPlanned, v1alpha1.GrowthEmergency}).Draw(t, "actionKind"),
			Role: rapid.SampledFrom([]v1alpha1.VolumeRole{v1alpha1.RoleData, v1alpha1.RoleWAL}).Draw(t, "actionRole"),
			To:   quantityOf(gi(rapid.Int64Range(1, 600).Draw(t, "actionToGi"))),
		}
		snapshot.Budget = append(snapshot.Budget, action)
	}
	return snapshot
}

// drawNow draws a time in 2026, often within a day of a change of the
// clocks in the zone of the first maintenance window.
func drawNow(t *rapid.T, windows []v1alpha1.MaintenanceWindow) time.Time {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if len(windows) > 0 && rapid.Bool().Draw(t, "nowNearClockChange") {
		zone, err := time.LoadLocation(windows[0].TimeZone)
		if err != nil {
			t.Fatalf("generated zone %q: %v", windows[0].TimeZone, err)
		}
		var changes []time.Time
		for probe := start.In(zone); ; {
			_, end := probe.ZoneBounds()
			if end.IsZero() || end.Year() > 2026 {
				break
			}
			changes = append(changes, end)
			probe = end
		}
		if len(changes) > 0 {
			change := rapid.SampledFrom(changes).Draw(t, "clockChange")
			return change.Add(time.Duration(rapid.Int64Range(-26*3600, 26*3600).Draw(t, "secondsFromClockChange")) * time.Second).UTC()
		}
	}
	return start.Add(time.Duration(rapid.Int64Range(0, 365*24*3600).Draw(t, "nowSeconds")) * time.Second)
}

func drawPolicy(t *rapid.T) v1alpha1.StorageAutoscalePolicySpec {
	spec := v1alpha1.StorageAutoscalePolicySpec{
		ClusterRef: v1alpha1.ClusterReference{Name: "orders"},
		Mode:       rapid.SampledFrom([]v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeEnforce, v1alpha1.ModeEnforce, v1alpha1.ModeDryRun}).Draw(t, "mode"),
		Provider: rapid.SampledFrom([]v1alpha1.Provider{
			v1alpha1.ProviderAuto, v1alpha1.ProviderAzureDisk, v1alpha1.ProviderAWSEBS, v1alpha1.ProviderGCPPD, v1alpha1.ProviderGeneric,
		}).Draw(t, "provider"),
		Sizing:            rapid.SampledFrom([]v1alpha1.Sizing{v1alpha1.SizingUniform, v1alpha1.SizingPerInstance}).Draw(t, "sizing"),
		ObservationMaxAge: metav1.Duration{Duration: time.Duration(rapid.IntRange(10, 600).Draw(t, "maxAgeSeconds")) * time.Second},
		Volumes: v1alpha1.VolumesSpec{
			Data: drawVolumePolicy(t, "data"),
		},
		WALSafety: v1alpha1.WALSafetySpec{
			RequireArchiveHealthy: new(rapid.Bool().Draw(t, "requireArchiveHealthy")),
			BlockEmergencyGrowth:  rapid.IntRange(0, 4).Draw(t, "blockEmergency") == 0,
		},
	}
	if rapid.Bool().Draw(t, "slotRetentionCheck") {
		spec.WALSafety.MaxInactiveSlotRetention = quantityOf(gi(rapid.Int64Range(1, 50).Draw(t, "maxSlotRetentionGi")))
	}
	wal := drawVolumePolicy(t, "wal")
	spec.Volumes.WAL = &wal
	tablespaceDefault := drawVolumePolicy(t, "tablespaces")
	spec.Volumes.Tablespaces = &v1alpha1.TablespacesSpec{Default: &tablespaceDefault}
	if rapid.Bool().Draw(t, "tablespaceOverride") {
		spec.Volumes.Tablespaces.ByName = map[string]v1alpha1.VolumePolicy{"idx": drawVolumePolicy(t, "idx")}
	}
	for range rapid.IntRange(0, 2).Draw(t, "windows") {
		hour := rapid.SampledFrom(generatedWindowHours).Draw(t, "windowHour")
		spec.MaintenanceWindows = append(spec.MaintenanceWindows, v1alpha1.MaintenanceWindow{
			Schedule: fmt.Sprintf("%d %d * * *", rapid.IntRange(0, 59).Draw(t, "windowMinute"), hour),
			Duration: metav1.Duration{Duration: time.Duration(rapid.IntRange(1, 24*60).Draw(t, "windowMinutes")) * time.Minute},
			TimeZone: rapid.SampledFrom(generatedZones).Draw(t, "windowZone"),
		})
	}
	maxActions := int32(rapid.IntRange(1, 48).Draw(t, "maxActionsPerDay"))
	spec.Budget = v1alpha1.BudgetSpec{
		MaxActionsPerDay: maxActions,
		EmergencyReserve: new(int32(rapid.IntRange(0, int(maxActions)).Draw(t, "emergencyReserve"))),
	}
	spec.Default()
	return spec
}

func drawVolumePolicy(t *rapid.T, label string) v1alpha1.VolumePolicy {
	triggerPercent := int32(rapid.IntRange(50, 97).Draw(t, label+"TriggerPercent"))
	triggerInodesPercent := int32(rapid.IntRange(50, 98).Draw(t, label+"InodesPercent"))
	rule := v1alpha1.VolumePolicy{
		Enabled: new(rapid.IntRange(0, 9).Draw(t, label+"Enabled") > 0),
		Limit:   quantityPtr(quantityOf(gi(rapid.Int64Range(1, 600).Draw(t, label+"LimitGi")))),
		Trigger: v1alpha1.Trigger{
			UsedPercent:       triggerPercent,
			InodesUsedPercent: triggerInodesPercent,
		},
		Critical: v1alpha1.CriticalThreshold{
			UsedPercent:       int32(rapid.IntRange(int(triggerPercent)+1, 99).Draw(t, label+"CriticalPercent")),
			InodesUsedPercent: int32(rapid.IntRange(int(triggerInodesPercent)+1, 99).Draw(t, label+"CriticalInodesPercent")),
		},
		TargetFreePercent: int32(rapid.IntRange(1, 60).Draw(t, label+"TargetFree")),
		Step: v1alpha1.Step{
			Percent: int32(rapid.IntRange(1, 200).Draw(t, label+"StepPercent")),
			Min:     quantityOf(rapid.Int64Range(1, 20*gibibyte).Draw(t, label+"StepMin")),
			Max:     quantityOf(rapid.Int64Range(0, 50*gibibyte).Draw(t, label+"StepMax")),
		},
		Cooldown: metav1.Duration{Duration: time.Duration(rapid.IntRange(1, 12*60).Draw(t, label+"CooldownMinutes")) * time.Minute},
		Forecast: v1alpha1.Forecast{Horizon: metav1.Duration{Duration: time.Duration(rapid.IntRange(0, 48).Draw(t, label+"HorizonHours")) * time.Hour}},
	}
	if rapid.Bool().Draw(t, label+"HasMinFree") {
		rule.Trigger.MinFree = quantityOf(rapid.Int64Range(1, 10*gibibyte).Draw(t, label+"MinFree"))
		rule.Critical.MinFree = quantityOf(rapid.Int64Range(1, 2*gibibyte).Draw(t, label+"CriticalMinFree"))
	}
	return rule
}

func drawObservation(t *rapid.T, instance string, role v1alpha1.InstanceRole, now time.Time, maxAge time.Duration) Observation {
	age := time.Duration(rapid.Int64Range(-5, int64(maxAge/time.Second)*2).Draw(t, "observationAgeSeconds")) * time.Second
	observedAt := metav1.NewMicroTime(now.Add(-age))
	status := v1alpha1.StorageObservationStatus{ObservedAt: &observedAt, Role: role}
	status.Postgres.Reachable = rapid.IntRange(0, 5).Draw(t, "reachable") > 0
	if status.Postgres.Reachable {
		status.Postgres.Archiving = &v1alpha1.ArchivingObservation{Enabled: true, Healthy: rapid.IntRange(0, 4).Draw(t, "archiveHealthy") > 0}
		status.Postgres.Slots = []v1alpha1.SlotObservation{{
			Name: rapid.SampledFrom([]string{"debezium", "_cnpg_orders_2"}).Draw(t, "slotName"), Type: "physical",
			RetainedBytes: rapid.Int64Range(0, 60*gibibyte).Draw(t, "slotRetained"),
		}}
	}
	return Observation{Instance: instance, Status: status}
}

func drawVolume(t *rapid.T, instance string, role v1alpha1.VolumeRole, tablespace string, classes []StorageClass, now time.Time) (PVC, *v1alpha1.ObservedVolume) {
	capacityBytes := gi(rapid.Int64Range(1, 600).Draw(t, "capacityGi"))
	requestBytes := capacityBytes
	pvc := PVC{
		Name: pvcName(instance, role, tablespace), Instance: instance, Role: role, Tablespace: tablespace,
		StorageClass:            rapid.SampledFrom(classes).Draw(t, "class").Name,
		Capacity:                quantityOf(capacityBytes),
		AllocatedResourceStatus: rapid.SampledFrom(generatedStatuses).Draw(t, "allocatedStatus"),
	}
	if rapid.IntRange(0, 9).Draw(t, "requestAhead") == 0 {
		requestBytes += gi(rapid.Int64Range(1, 20).Draw(t, "requestAheadGi"))
	}
	if rapid.IntRange(0, 19).Draw(t, "unbound") == 0 {
		pvc.Capacity = resource.Quantity{}
	}
	pvc.Request = quantityOf(requestBytes)
	if rapid.Bool().Draw(t, "grownBefore") {
		pvc.LastGrowth = now.Add(-time.Duration(rapid.Int64Range(0, 24*3600).Draw(t, "lastGrowthAgeSeconds")) * time.Second)
	}
	if rapid.IntRange(0, 19).Draw(t, "notObserved") == 0 {
		return pvc, nil
	}
	filesystemBytes := int64(float64(capacityBytes) * rapid.Float64Range(0.8, 1.0).Draw(t, "overhead"))
	usedShare := rapid.SampledFrom([]float64{0, 0.5, 0.79, 0.8, 0.9, 0.95, 0.99, 1}).Draw(t, "usedShareBase")
	usedShare = min(1, usedShare+rapid.Float64Range(0, 0.05).Draw(t, "usedShareJitter"))
	available := int64(float64(filesystemBytes) * (1 - usedShare))
	inodesTotal := int64(1_000_000)
	return pvc, &v1alpha1.ObservedVolume{
		Name: pvc.Name, Role: role, Tablespace: tablespace, PVC: pvc.Name,
		CapacityBytes: filesystemBytes, UsedBytes: filesystemBytes - available, AvailableBytes: available,
		InodesTotal: inodesTotal, InodesFree: rapid.Int64Range(0, inodesTotal).Draw(t, "inodesFree"),
		FillRateBytesPerSecond: rapid.Int64Range(-1<<20, 50<<20).Draw(t, "fillRate"),
	}
}
