package plan

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func defaultRule(t *testing.T, edit func(*v1alpha1.VolumePolicy)) *v1alpha1.VolumePolicy {
	t.Helper()
	rule := v1alpha1.VolumePolicy{Limit: quantityPtr(giQuantity(500))}
	rule.Default()
	if edit != nil {
		edit(&rule)
	}
	return &rule
}

// filesystem is a statfs result of capacityGi with usedPercent used.
func filesystem(capacityGi int64, usedPercent float64) usage {
	capacity := gi(capacityGi)
	available := int64(float64(capacity) * (100 - usedPercent) / 100)
	return usageOf(&v1alpha1.ObservedVolume{CapacityBytes: capacity, AvailableBytes: available, UsedBytes: capacity - available})
}

// latestAt gives figures a latest rate, of a fill that has written
// filledMiB so far, observed ago.
func latestAt(figures usage, bytesPerSecond, filledMiB int64, ago time.Duration) usage {
	figures.latestFillRateBytesPerSecond, figures.latestFillBytes = bytesPerSecond, filledMiB<<20
	return figures.currentAt(ago)
}

// recentAt gives figures a rate sustained over the last 20 s or more,
// observed ago.
func recentAt(figures usage, bytesPerSecond int64, ago time.Duration) usage {
	figures.recentFillRateBytesPerSecond = bytesPerSecond
	return figures.currentAt(ago)
}

func TestTriggers(t *testing.T) {
	cases := []struct {
		name      string
		figures   func() usage
		rule      func(*v1alpha1.VolumePolicy)
		want      want
		wantFired string
	}{
		{name: "below every threshold nothing fires", figures: func() usage { return filesystem(100, 50) }, want: wantNothing},
		{name: "usedPercent at the trigger fires planned growth", figures: func() usage { return filesystem(100, 80) }, want: wantPlanned, wantFired: "usedPercent 80 >= 80"},
		{
			name: "reserved blocks count as used", want: wantPlanned, wantFired: "usedPercent 80 >= 80",
			figures: func() usage {
				// 75 % written plus 5 % reserved for root: PostgreSQL sees 20 % free.
				return usageOf(&v1alpha1.ObservedVolume{CapacityBytes: gi(100), UsedBytes: gi(75), AvailableBytes: gi(20)})
			},
		},
		{
			name: "minFree fires planned growth", want: wantPlanned, wantFired: "free 5Gi < minFree 10Gi",
			figures: func() usage { return filesystem(100, 95-0.0001) }, rule: func(rule *v1alpha1.VolumePolicy) {
				rule.Trigger.UsedPercent, rule.Critical.UsedPercent = 99, 99
				rule.Trigger.MinFree = giQuantity(10)
			},
		},
		{
			name: "inodesUsedPercent fires planned growth", want: wantPlanned, wantFired: "inodesUsedPercent 92 >= 90",
			figures: func() usage {
				figures := filesystem(100, 10)
				figures.inodesTotal, figures.inodesFree = 1000, 80
				return figures
			},
		},
		{
			name: "forecast fires when the fill rate reaches the trigger within the horizon", want: wantPlanned, wantFired: "reached in 5h",
			figures: func() usage {
				figures := filesystem(100, 70)
				figures.fillRateBytesPerSecond = gi(2) / 3600 // 10 Gi to go at 2 Gi/h
				return figures
			},
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Forecast.Horizon = metav1.Duration{Duration: 6 * time.Hour} },
		},
		{
			name: "forecast beyond the horizon does not fire", want: wantNothing,
			figures: func() usage {
				figures := filesystem(100, 70)
				figures.fillRateBytesPerSecond = gi(1) / 3600
				return figures
			},
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Forecast.Horizon = metav1.Duration{Duration: 6 * time.Hour} },
		},
		{
			name: "forecast off ignores the fill rate", want: wantNothing,
			figures: func() usage {
				figures := filesystem(100, 70)
				figures.fillRateBytesPerSecond = gi(100)
				return figures
			},
		},
		{
			// Issue #21: at 100 MiB/s a 1 GiB volume moves 10 % a second;
			// a growth decided at 80 % lands at 90-98 %.
			name: "the latest rate reaching the trigger within 5 s fires planned growth", want: wantPlanned,
			wantFired: "trigger (usedPercent 80) reached in 300ms at 100Mi/s (20Mi written so far), sooner than a growth lands (5s)",
			figures:   func() usage { return latestAt(filesystem(1, 77), 100<<20, 20, 500*time.Millisecond) },
		},
		{
			name: "the latest rate reaching the trigger in more than 5 s does not fire", want: wantNothing,
			figures: func() usage { return latestAt(filesystem(10, 75), 100<<20, 200, 500*time.Millisecond) },
		},
		{
			// 10 % of 1 GiB is 102 MiB, 0.3 s at 300 MiB/s, but more than
			// three times the 30 MiB written.
			name: "one write caught between two measurements is projected no further than three times itself", want: wantNothing,
			figures: func() usage { return latestAt(filesystem(1, 70), 300<<20, 30, 500*time.Millisecond) },
		},
		{
			name: "a latest rate 4 s old is not projected: the fill has stopped since", want: wantNothing,
			figures: func() usage { return latestAt(filesystem(1, 79), 100<<20, 100, 4*time.Second) },
		},
		{
			name: "the latest rate anticipates minFree too", want: wantPlanned, wantFired: "minFree 10Gi) reached in 1s",
			figures: func() usage { return latestAt(filesystem(100, 89), gi(1), 1024, time.Second) },
			rule: func(rule *v1alpha1.VolumePolicy) {
				rule.Trigger.UsedPercent, rule.Critical.UsedPercent = 99, 99
				rule.Trigger.MinFree = giQuantity(10)
			},
		},
		{name: "critical usedPercent fires emergency growth", figures: func() usage { return filesystem(100, 95) }, want: wantEmergency, wantFired: "critical usedPercent 95 >= 95"},
		{
			name: "critical minFree fires emergency growth", want: wantEmergency, wantFired: "free 1Gi < critical minFree 2Gi",
			figures: func() usage { return filesystem(1000, 99.9) },
			rule: func(rule *v1alpha1.VolumePolicy) {
				rule.Critical.UsedPercent = 99
				rule.Critical.UsedPercent = 100 - 0 // off by the CRD's range; minFree decides
				rule.Critical.MinFree = giQuantity(2)
			},
		},
		{
			name: "a full volume is critical whatever the policy says", want: wantEmergency, wantFired: "volume full",
			figures: func() usage { return filesystem(100, 100) },
			rule:    func(rule *v1alpha1.VolumePolicy) { rule.Critical.UsedPercent = 0; rule.Trigger.UsedPercent = 0 },
		},
		{
			name: "critical inodesUsedPercent fires emergency growth", want: wantEmergency, wantFired: "critical inodesUsedPercent 96 >= 95",
			figures: func() usage {
				figures := filesystem(100, 10)
				figures.inodesTotal, figures.inodesFree = 1000, 40
				return figures
			},
		},
		{
			name: "no free inodes is critical whatever the policy says", want: wantEmergency, wantFired: "no free inodes",
			figures: func() usage {
				figures := filesystem(100, 10)
				figures.inodesTotal, figures.inodesFree = 1000, 0
				return figures
			},
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Critical.UsedPercent = 0; rule.Trigger.InodesUsedPercent = 0 },
		},
		{
			name: "a filesystem that reports no inodes is never inode-critical", want: wantNothing,
			figures: func() usage { return filesystem(100, 10) },
		},
		{
			name: "a threshold of 0 is off", want: wantNothing,
			figures: func() usage { return filesystem(100, 99) },
			rule:    func(rule *v1alpha1.VolumePolicy) { rule.Critical.UsedPercent = 0; rule.Trigger.UsedPercent = 0 },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := evaluateTriggers(c.figures(), defaultRule(t, c.rule))
			if got.want != c.want {
				t.Fatalf("want %d, got %d (%s)", c.want, got.want, got.fired)
			}
			if !strings.Contains(got.fired, c.wantFired) {
				t.Fatalf("fired %q, want it to contain %q", got.fired, c.wantFired)
			}
		})
	}
}

// TestCriticalImminent: a held growth goes as an emergency when the
// critical threshold is nearer than a growth lands (30 s), at the cover rate
// or at the latest rate, and the latest rate, 200 ms of evidence, is
// projected no further than three times what its fill has written (issue
// #21's E2E #7: a WAL fill at 12 MiB/s, written a second's worth at a time,
// read as 37.5 MiB/s and grew a WAL volume whose archive was failing at
// 55.6 %, past the WAL safety gate, as an emergency 20 s from 95 %).
func TestCriticalImminent(t *testing.T) {
	critical := defaultRule(t, nil).Critical // 95 %
	cases := []struct {
		name    string
		figures usage
		want    string
	}{
		{
			name:    "the latest rate of a long fill 20 s from the critical threshold",
			figures: latestAt(filesystem(2, 60), 36<<20, 2048, time.Second),
			want:    "critical (usedPercent 95) reached in 19.9s at 36Mi/s",
		},
		{
			name:    "the latest rate of a burst that has written 32 MiB is not projected 717 MiB",
			figures: latestAt(filesystem(2, 60), 36<<20, 32, time.Second),
		},
		{
			name:    "the latest rate of a burst projects three times what it wrote",
			figures: latestAt(filesystem(1, 90), 300<<20, 20, time.Second),
			want:    "critical (usedPercent 95) reached in 200ms at 300Mi/s",
		},
		{
			name:    "the cover rate, sustained over 20 s, projects as far as it takes",
			figures: recentAt(filesystem(2, 60), 36<<20, time.Second),
			want:    "critical (usedPercent 95) reached in 19.9s at 36Mi/s",
		},
		{
			name:    "a sustained fill a minute from the critical threshold waits for it",
			figures: recentAt(filesystem(2, 60), 12<<20, time.Second),
		},
		{
			name:    "an observation 11 s old says nothing of what the volume does now",
			figures: latestAt(filesystem(1, 90), 300<<20, 1024, 11*time.Second),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := criticalImminent(c.figures, critical)
			if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
				t.Fatalf("criticalImminent = %q, want %q", got, c.want)
			}
		})
	}
}

func TestTargetSize(t *testing.T) {
	generic := providerProfile{name: v1alpha1.ProviderGeneric}
	azureTiered := resolveProvider(v1alpha1.ProviderAzureDisk, &StorageClass{Parameters: map[string]string{"skuName": "Premium_LRS"}})
	azurePerGiB := resolveProvider(v1alpha1.ProviderAzureDisk, &StorageClass{Parameters: map[string]string{"skuname": "PremiumV2_LRS"}})
	cases := []struct {
		name      string
		requestGi int64
		// filesystemGi and usedPercent describe statfs; PVC capacity = request.
		filesystemGi float64
		usedPercent  float64
		// fillPerSecond is the sidecar's 10-minute rate, recentFillPerSecond
		// its last minute's.
		fillPerSecond, recentFillPerSecond int64
		provider                           providerProfile
		rule                               func(*v1alpha1.VolumePolicy)
		wantBytes                          int64
	}{
		{name: "step percent of capacity wins when little is used", requestGi: 100, filesystemGi: 100, usedPercent: 50, provider: generic, wantBytes: gi(120)},
		{
			name: "step min bounds a small percentage", requestGi: 10, filesystemGi: 10, usedPercent: 10, provider: generic, wantBytes: gi(15),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Step.Percent, rule.Step.Min = 1, giQuantity(5) },
		},
		{
			name: "step max bounds a large percentage", requestGi: 100, filesystemGi: 100, usedPercent: 10, provider: generic, wantBytes: gi(110),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Step.Percent, rule.Step.Max = 50, giQuantity(10) },
		},
		{
			name: "step max below step min counts as step min", requestGi: 100, filesystemGi: 100, usedPercent: 10, provider: generic, wantBytes: gi(108),
			rule: func(rule *v1alpha1.VolumePolicy) {
				rule.Step.Percent, rule.Step.Min, rule.Step.Max = 50, giQuantity(8), giQuantity(2)
			},
		},
		{
			name: "targetFreePercent wins when the volume is nearly full", requestGi: 100, filesystemGi: 100, usedPercent: 99, provider: generic,
			wantBytes: gi(132), // 99 Gi used must be 75 %: 132 Gi
		},
		{
			name: "the filesystem overhead observed now is added", requestGi: 100, filesystemGi: 90, usedPercent: 100, provider: generic,
			wantBytes: gi(134), // 90 Gi used / 0.75 = 120 Gi filesystem = 133.3 Gi request at 0.9
		},
		{
			name: "forecast cover keeps the volume under the trigger for the horizon", requestGi: 100, filesystemGi: 100, usedPercent: 80, fillPerSecond: mebibyte, provider: generic,
			rule:      func(rule *v1alpha1.VolumePolicy) { rule.Forecast.Horizon = metav1.Duration{Duration: 10 * time.Hour} },
			wantBytes: gi(144), // 80 Gi + 35.2 Gi at the horizon must stay under 80 %: 143.9 Gi
		},
		{
			name: "forecast cover is at most a doubling of the volume", requestGi: 10, filesystemGi: 10, usedPercent: 50, fillPerSecond: mebibyte, provider: generic,
			rule:      func(rule *v1alpha1.VolumePolicy) { rule.Forecast.Horizon = metav1.Duration{Duration: 6 * time.Hour} },
			wantBytes: gi(20), // the horizon asks for 5 Gi + 21.1 Gi under 80 %: 32.6 Gi, bounded at twice 10 Gi
		},
		// Rate sizing, defaults (cooldown 5m, reaction allowance 30s): the
		// growth holds what the measured rate writes in 330s under the trigger.
		{name: "at 1 MiB/s from 1 GiB the step is enough", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: mebibyte, provider: generic, wantBytes: gi(2)},
		{
			name: "at 10 MiB/s from 1 GiB the growth holds 330s of writes under the trigger", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 10 * mebibyte, provider: generic,
			wantBytes: gi(6), // (819 MiB + 3300 MiB) / 0.8 = 5.03 Gi
		},
		{
			name: "at 50 MiB/s from 1 GiB the growth holds 330s of writes under the trigger", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 50 * mebibyte, provider: generic,
			wantBytes: gi(22), // (819 MiB + 16500 MiB) / 0.8 = 21.14 Gi
		},
		{
			name: "at 100 MiB/s from 1 GiB the growth holds 330s of writes under the trigger", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 100 * mebibyte, provider: generic,
			wantBytes: gi(42), // (819 MiB + 33000 MiB) / 0.8 = 41.28 Gi
		},
		{
			name: "aws-ebs has no fixed cooldown: the policy's is the time to hold out", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: mebibyte,
			provider:  providerProfile{name: v1alpha1.ProviderAWSEBS, modificationsPerDay: awsEBSModificationsPerDay},
			wantBytes: gi(2), // (819 MiB + 1 MiB/s × 5m30s) / 0.8 = 1.43 Gi, under the 20 % step's 2 Gi
		},
		{
			name: "a longer policy cooldown is the time to hold out", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: mebibyte, provider: generic,
			rule:      func(rule *v1alpha1.VolumePolicy) { rule.Cooldown = metav1.Duration{Duration: time.Hour} },
			wantBytes: gi(6), // (819 MiB + 3630 MiB) / 0.8 = 5.43 Gi
		},
		{
			name: "step max bounds the rate cover", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 50 * mebibyte, provider: generic,
			rule:      func(rule *v1alpha1.VolumePolicy) { rule.Step.Max = giQuantity(5) },
			wantBytes: gi(6),
		},
		{
			name: "the limit bounds the rate cover", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 100 * mebibyte, provider: generic,
			rule:      func(rule *v1alpha1.VolumePolicy) { rule.Limit = quantityPtr(giQuantity(10)) },
			wantBytes: gi(10),
		},
		{
			name: "an emptying volume gets no rate cover", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: -100 * mebibyte, provider: generic,
			wantBytes: gi(2),
		},
		{
			name: "a default policy, forecast off, still holds 330s of writes under the trigger", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 10 * mebibyte, provider: generic,
			wantBytes: gi(6), // issue #21: the cover is no longer forecast's; the same as with a horizon
		},
		{
			name: "the recent rate covers a fill the 10-minute rate does not see yet", requestGi: 1, filesystemGi: 1, usedPercent: 80, recentFillPerSecond: 10 * mebibyte, provider: generic,
			wantBytes: gi(6), // a fill that started a minute ago reads 0 over ten minutes
		},
		{
			name: "the faster of the two rates is covered", requestGi: 1, filesystemGi: 1, usedPercent: 80, fillPerSecond: 50 * mebibyte, recentFillPerSecond: 10 * mebibyte, provider: generic,
			wantBytes: gi(22),
		},
		{name: "sizes round up to whole GiB", requestGi: 10, filesystemGi: 10, usedPercent: 91, provider: generic, wantBytes: gi(13)},
		{name: "azure tier-billed disks round up to the tier boundary", requestGi: 100, filesystemGi: 100, usedPercent: 50, provider: azureTiered, wantBytes: gi(128)},
		{name: "azure per-GiB disks round to whole GiB", requestGi: 100, filesystemGi: 100, usedPercent: 50, provider: azurePerGiB, wantBytes: gi(120)},
		{
			name: "azure's largest disk is 32,767 GiB: past the 16 TiB tier it rounds to that, not to 32 TiB", requestGi: 20000, filesystemGi: 20000, usedPercent: 50, provider: azureTiered, wantBytes: gi(32767),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Limit = quantityPtr(giQuantity(40000)) },
		},
		{
			name: "azure tier-billed disks never grow past the largest disk (PremiumV2 and Ultra go to 64 TiB)", requestGi: 30000, filesystemGi: 30000, usedPercent: 50, provider: azureTiered, wantBytes: gi(32767),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Limit = quantityPtr(giQuantity(40000)) },
		},
		{
			name: "azure tier rounding is clamped to the limit", requestGi: 100, filesystemGi: 100, usedPercent: 50, provider: azureTiered, wantBytes: gi(125),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Limit = quantityPtr(giQuantity(125)) },
		},
		{
			name: "the target is clamped to the limit", requestGi: 100, filesystemGi: 100, usedPercent: 99, provider: generic, wantBytes: gi(110),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Limit = quantityPtr(giQuantity(110)) },
		},
		{
			name: "never below the current request, even above a lowered limit", requestGi: 100, filesystemGi: 100, usedPercent: 99, provider: generic, wantBytes: gi(100),
			rule: func(rule *v1alpha1.VolumePolicy) { rule.Limit = quantityPtr(giQuantity(80)) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule := defaultRule(t, c.rule)
			figures := filesystem(1, 0)
			figures.capacityBytes = int64(c.filesystemGi * float64(gibibyte))
			figures.availableBytes = int64(float64(figures.capacityBytes) * (100 - c.usedPercent) / 100)
			figures.usedBytes = figures.capacityBytes - figures.availableBytes
			figures.fillRateBytesPerSecond = c.fillPerSecond
			figures.recentFillRateBytesPerSecond = c.recentFillPerSecond
			got := targetRequest(sizing{
				requestBytes: gi(c.requestGi), capacityBytes: gi(c.requestGi), limitBytes: bytesOf(*rule.Limit),
				figures: figures, provider: c.provider,
			}, rule)
			if got != c.wantBytes {
				t.Fatalf("target %s, want %s", formatBytes(got), formatBytes(c.wantBytes))
			}
		})
	}
}

func TestProviderProfile(t *testing.T) {
	cases := []struct {
		name       string
		policy     v1alpha1.Provider
		class      *StorageClass
		wantName   v1alpha1.Provider
		wantPerDay int
		wantTiers  bool
	}{
		{name: "auto follows the Azure Disk provisioner; managed-csi's default SKU is tier-billed", policy: v1alpha1.ProviderAuto, class: &StorageClass{Provisioner: "disk.csi.azure.com"}, wantName: v1alpha1.ProviderAzureDisk, wantTiers: true},
		{name: "auto follows the EBS provisioner, which allows 4 modifications of a volume a day", policy: v1alpha1.ProviderAuto, class: &StorageClass{Provisioner: "ebs.csi.aws.com"}, wantName: v1alpha1.ProviderAWSEBS, wantPerDay: 4},
		{name: "auto follows the GCE PD provisioner", policy: v1alpha1.ProviderAuto, class: &StorageClass{Provisioner: "pd.csi.storage.gke.io"}, wantName: v1alpha1.ProviderGCPPD},
		{name: "auto maps any other provisioner to generic", policy: v1alpha1.ProviderAuto, class: &StorageClass{Provisioner: "rook-ceph.rbd.csi.ceph.com"}, wantName: v1alpha1.ProviderGeneric},
		{name: "an explicit provider wins over the provisioner", policy: v1alpha1.ProviderAWSEBS, class: &StorageClass{Provisioner: "disk.csi.azure.com"}, wantName: v1alpha1.ProviderAWSEBS, wantPerDay: 4},
		{name: "UltraSSD is billed per GiB", policy: v1alpha1.ProviderAzureDisk, class: &StorageClass{Parameters: map[string]string{"skuName": "UltraSSD_LRS"}}, wantName: v1alpha1.ProviderAzureDisk},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := resolveProvider(c.policy, c.class)
			if got.name != c.wantName || got.modificationsPerDay != c.wantPerDay || (len(got.sizeTiers) > 0) != c.wantTiers {
				t.Fatalf("got %s, %d modifications a day, tiers %v", got.name, got.modificationsPerDay, got.sizeTiers != nil)
			}
		})
	}
}

func TestMaintenanceWindows(t *testing.T) {
	window := func(schedule string, duration time.Duration, zone string) v1alpha1.MaintenanceWindow {
		return v1alpha1.MaintenanceWindow{Schedule: schedule, Duration: metav1.Duration{Duration: duration}, TimeZone: zone}
	}
	cases := []struct {
		name         string
		windows      []v1alpha1.MaintenanceWindow
		now          time.Time
		wantOpen     bool
		wantNextOpen time.Time
		wantProblem  string
	}{
		{name: "no windows: always open", now: testNow, wantOpen: true},
		{name: "inside a window: open", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", 2*time.Hour, "UTC")}, now: time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC), wantOpen: true},
		{name: "at the opening minute: open", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", 2*time.Hour, "UTC")}, now: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC), wantOpen: true},
		{
			name: "at the closing minute: closed until the next night", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", 2*time.Hour, "UTC")},
			now: time.Date(2026, 5, 1, 4, 0, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC),
		},
		{
			name: "a window that spans midnight is open after midnight", windows: []v1alpha1.MaintenanceWindow{window("0 23 * * *", 3*time.Hour, "UTC")},
			now: time.Date(2026, 5, 1, 1, 0, 0, 0, time.UTC), wantOpen: true,
		},
		{
			name: "the schedule is read in its time zone", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 5, 1, 0, 30, 0, 0, time.UTC), wantOpen: true, // 02:30 CEST
		},
		{
			name: "the earliest of several windows is the next opening",
			windows: []v1alpha1.MaintenanceWindow{
				window("0 2 * * *", time.Hour, "UTC"), window("30 22 * * 5", time.Hour, "UTC"),
			},
			now: testNow, wantNextOpen: time.Date(2026, 5, 1, 22, 30, 0, 0, time.UTC),
		},
		{
			name: "an unknown time zone never opens and says why", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", time.Hour, "Mars/Olympus")},
			now: testNow, wantProblem: `time zone "Mars/Olympus"`,
		},
		{
			name: "a bad schedule never opens and says why", windows: []v1alpha1.MaintenanceWindow{window("61 2 * * *", time.Hour, "UTC")},
			now: testNow, wantProblem: "schedule:",
		},
		{
			name: "a time zone inside the schedule is refused, not a panic", windows: []v1alpha1.MaintenanceWindow{window("TZ=UTC", time.Hour, "UTC")},
			now: testNow, wantProblem: "set the time zone in timeZone",
		},
		{
			name: "a schedule that never fires never opens", windows: []v1alpha1.MaintenanceWindow{window("0 0 30 2 *", time.Hour, "UTC")},
			now: testNow,
		},
		// Clocks spring forward: a start inside the gap opens when the gap
		// ends (the first valid instant after it), for its full duration.
		{
			name: "Berlin spring forward: 02:00 does not exist, the window opens at 03:00 CEST", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), wantOpen: true, // 03:30 CEST
		},
		{
			name: "Berlin spring forward: before the gap the next opening is its end", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), // 01:30 CET → 03:00 CEST
		},
		{
			name: "Berlin spring forward: the window lasts its duration from the end of the gap", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC), // 04:00 CEST
		},
		{
			name: "Berlin spring forward: 02:30 opens at 03:00 CEST, not at 03:30", windows: []v1alpha1.MaintenanceWindow{window("30 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 3, 29, 1, 10, 0, 0, time.UTC), wantOpen: true, // 03:10 CEST
		},
		{
			name: "New York spring forward: 02:00 EST does not exist, the window opens at 03:00 EDT", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", 2*time.Hour, "America/New_York")},
			now: time.Date(2026, 3, 8, 8, 30, 0, 0, time.UTC), wantOpen: true, // 04:30 EDT
		},
		{
			name: "New York: a window across midnight and the change lasts its elapsed duration", windows: []v1alpha1.MaintenanceWindow{window("0 23 * * *", 4*time.Hour, "America/New_York")},
			now: time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC), wantOpen: true, // 03:30 EDT, 3h30m after 23:00 EST
		},
		{
			name: "New York: ... and closes after four hours, at 04:00 EDT", windows: []v1alpha1.MaintenanceWindow{window("0 23 * * *", 4*time.Hour, "America/New_York")},
			now: time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 3, 9, 3, 0, 0, 0, time.UTC), // 23:00 EDT
		},
		{
			name: "Lord Howe spring forward by 30 minutes: 02:15 opens at 02:30 +11", windows: []v1alpha1.MaintenanceWindow{window("15 2 * * *", time.Hour, "Australia/Lord_Howe")},
			now: time.Date(2026, 10, 3, 15, 40, 0, 0, time.UTC), wantOpen: true, // 02:40 +11
		},
		{
			name: "Lord Howe spring forward: before the gap the next opening is its end", windows: []v1alpha1.MaintenanceWindow{window("15 2 * * *", time.Hour, "Australia/Lord_Howe")},
			now: time.Date(2026, 10, 3, 15, 0, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 10, 3, 15, 30, 0, 0, time.UTC), // 01:30 +1030 → 02:30 +11
		},
		// Clocks fall back: a start in the repeated hour opens once, at its
		// first occurrence, for its full (elapsed) duration.
		{
			name: "Berlin fall back: 02:30 happens twice, the window opens at the first", windows: []v1alpha1.MaintenanceWindow{window("30 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 10, 25, 0, 45, 0, 0, time.UTC), wantOpen: true, // 02:45 CEST
		},
		{
			name: "Berlin fall back: the second 02:30 does not open it again", windows: []v1alpha1.MaintenanceWindow{window("30 2 * * *", time.Hour, "Europe/Berlin")},
			now: time.Date(2026, 10, 25, 1, 40, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC), // 02:40 CET
		},
		{
			name: "Berlin fall back: a duration across the change is elapsed time", windows: []v1alpha1.MaintenanceWindow{window("0 2 * * *", 90*time.Minute, "Europe/Berlin")},
			now: time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 10, 26, 1, 0, 0, 0, time.UTC), // 02:30 CET, 90m after 02:00 CEST
		},
		{
			name: "New York fall back: the second 01:30 does not open it again", windows: []v1alpha1.MaintenanceWindow{window("30 1 * * *", time.Hour, "America/New_York")},
			now: time.Date(2026, 11, 1, 6, 45, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC), // 01:45 EST
		},
		{
			name: "New York fall back: the first 01:30 opens", windows: []v1alpha1.MaintenanceWindow{window("30 1 * * *", time.Hour, "America/New_York")},
			now: time.Date(2026, 11, 1, 5, 45, 0, 0, time.UTC), wantOpen: true, // 01:45 EDT
		},
		{
			name: "Lord Howe fall back by 30 minutes: the second 01:45 does not open it again", windows: []v1alpha1.MaintenanceWindow{window("45 1 * * *", 30*time.Minute, "Australia/Lord_Howe")},
			now: time.Date(2026, 4, 4, 15, 20, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 4, 5, 15, 15, 0, 0, time.UTC), // 01:50 +1030
		},
		{
			name: "Lord Howe fall back: the first 01:45 opens", windows: []v1alpha1.MaintenanceWindow{window("45 1 * * *", 30*time.Minute, "Australia/Lord_Howe")},
			now: time.Date(2026, 4, 4, 14, 50, 0, 0, time.UTC), wantOpen: true, // 01:50 +11
		},
		{
			name: "an hourly window does not open again at the repeated 02:00", windows: []v1alpha1.MaintenanceWindow{window("0 * * * *", 10*time.Minute, "Europe/Berlin")},
			now: time.Date(2026, 10, 25, 1, 5, 0, 0, time.UTC), wantNextOpen: time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC), // 02:05 CET; 02:00 CET repeats 02:00 CEST
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := evaluateWindows(c.windows, c.now)
			if got.open != c.wantOpen {
				t.Fatalf("open = %v, want %v", got.open, c.wantOpen)
			}
			if !got.nextOpen.Equal(c.wantNextOpen) {
				t.Fatalf("next opening %s, want %s", got.nextOpen, c.wantNextOpen)
			}
			problems := strings.Join(got.problems, "; ")
			if (c.wantProblem == "") != (problems == "") || !strings.Contains(problems, c.wantProblem) {
				t.Fatalf("problems %q, want %q", problems, c.wantProblem)
			}
		})
	}
}

func TestClockTimesSayWhichDay(t *testing.T) {
	now := time.Date(2026, 11, 23, 5, 33, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		t    time.Time
		zone *time.Location
		want string
	}{
		{"later today", now.Add(3 * time.Hour), time.UTC, "08:33 UTC"},
		{"earlier today", now.Add(-5 * time.Hour), time.UTC, "00:33 UTC"},
		{"a budget freeing in 23h59m is tomorrow, not earlier today", now.Add(24*time.Hour - time.Minute), time.UTC, "tomorrow 05:32 UTC"},
		{"last night", now.Add(-6 * time.Hour), time.UTC, "yesterday 23:33 UTC"},
		{"further away carries the date", now.Add(50 * time.Hour), time.UTC, "2026-11-25 07:33 UTC"},
		{"the day is the zone's day", now.Add(18 * time.Hour), berlin, "tomorrow 00:33 CET"},
	}
	for _, c := range cases {
		if got := formatClock(c.t, now, c.zone); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAStaleAgeNeverReadsAsTheLimit(t *testing.T) {
	for _, c := range []struct {
		age  time.Duration
		want string
	}{
		{90*time.Second + 400*time.Millisecond, "is 1m31s old (observationMaxAge 1m30s)"},
		{5 * time.Minute, "is 5m old (observationMaxAge 1m30s)"},
	} {
		if got := reasonObservationStale("orders-1", c.age, 90*time.Second); !strings.Contains(got, c.want) {
			t.Errorf("age %s: %q, want it to contain %q", c.age, got, c.want)
		}
	}
}
