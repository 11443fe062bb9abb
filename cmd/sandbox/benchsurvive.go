package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// The survival run (issue #21 item 2): the fastest fill the add-on survives
// at a default policy. For each volume kind and rate, a fresh 1-instance
// cluster; the volume is brought to 75 %, left alone long enough for the
// probe's rates to forget that (the policy in DryRun until then), then
// written at the rate for
// surviveFor or surviveBytes, whichever comes first, through every failed
// write. df in the postgres container is read all along.

const (
	surviveFor   = 2 * time.Minute
	surviveBytes = 4 << 30
	// surviveFrom is how full the volume is when the fill starts.
	surviveFrom = 75
	// surviveSettle is the calm before the fill: longer than the probe's
	// recent-rate spans (60 s), so the prefill is no rate.
	surviveSettle = 70 * time.Second
	// prefillRate brings the volume to surviveFrom: chunks small enough
	// to stop within a few percent of it.
	prefillRate = 32 << 20
	// prefillFinish is where the prefill slows to prefillFinishRate, so it
	// stops within half a point of surviveFrom, not up to three past it.
	prefillFinish     = surviveFrom - 10
	prefillFinishRate = 4 << 20
)

// surviveKinds are the volume kinds the run fills: data with raw files of
// random bytes, WAL through PostgreSQL while a slot holds it.
var surviveKinds = []string{"data", "wal"}

// survival is one fill's outcome.
type survival struct {
	kind    string
	rateMiB int64
	fill    framework.FillOutcome
	// lowestFree is the least free space df showed, and its share of the
	// filesystem then.
	lowestFree      int64
	lowestFreeShare float64
	growths         []v1alpha1.GrowthRecord
	// restarts of the postgres container during the fill; answers: it
	// answered a query at the end.
	restarts     int32
	answers      bool
	finalGi      string
	startPercent float64
}

func (s survival) enospc() bool {
	for _, failure := range s.fill.Failures {
		if strings.Contains(failure, "No space left") || strings.Contains(failure, "could not extend") || strings.Contains(failure, "could not write") {
			return true
		}
	}
	return false
}

func benchSurvive(ctx context.Context, kube *framework.Cluster, image string, out io.Writer, rates []int64, kinds []string) (map[string][]survival, error) {
	results := map[string][]survival{}
	for _, kind := range kinds {
		for _, rate := range rates {
			result, err := surviveOne(ctx, kube, image, out, kind, rate)
			if err != nil {
				return results, fmt.Errorf("%s at %d MiB/s: %w", kind, rate, err)
			}
			results[kind] = append(results[kind], result)
			fmt.Fprintf(out, "   %s\n", strings.Join(survivalCells(result), " | "))
		}
	}
	return results, nil
}

func surviveOne(ctx context.Context, kube *framework.Cluster, image string, out io.Writer, kind string, rateMiB int64) (survival, error) {
	result := survival{kind: kind, rateMiB: rateMiB}
	ns := fmt.Sprintf("bench-survive-%s-%d", kind, rateMiB)
	policy := benchPolicy(ns, "survive", runSurvive)
	// The prefill is a fast fill too, and may be anticipated as one: a
	// session-11 run grew a volume at 62 % because two 32 MiB chunks were
	// written back to back. The policy plans without patching (DryRun,
	// which keeps no history, cooldown or budget) until the volume is calm
	// at surviveFrom.
	policy.Spec.Mode = v1alpha1.ModeDryRun
	primary, cleanup, err := benchCluster(ctx, kube, image, out, ns, 1, policy)
	defer cleanup()
	if err != nil {
		return result, err
	}
	spec := framework.FillSpec{Namespace: ns, Pod: primary, Volume: kind, Raw: kind == "data"}
	prefill := spec
	prefill.RateBytesPerSecond, prefill.UntilPercent = prefillRate, surviveFrom
	if kind == "wal" {
		// PostgreSQL goes on adding segments after the prefill (each
		// checkpoint preallocates up to min_wal_size, 80MB, 8 % of 1Gi):
		// stopping short lets it settle near surviveFrom, not past the
		// trigger.
		prefill.UntilPercent = surviveFrom - 8
	}
	fmt.Fprintf(out, " • bring %s to about %d %%, then %s calm\n", kind, surviveFrom, surviveSettle)
	if kind == "data" {
		fast := prefill
		fast.UntilPercent = prefillFinish
		if err := kube.Fill(ctx, fast, nil); err != nil {
			return result, fmt.Errorf("prefill: %w", err)
		}
		prefill.RateBytesPerSecond = prefillFinishRate
	}
	if err := kube.Fill(ctx, prefill, nil); err != nil {
		return result, fmt.Errorf("prefill: %w", err)
	}
	time.Sleep(surviveSettle)
	if err := enforce(ctx, kube, policy); err != nil {
		return result, err
	}
	restartsBefore, err := postgresRestarts(ctx, kube, ns, primary)
	if err != nil {
		return result, err
	}
	claim := primary
	if kind == "wal" {
		claim = primary + cnpgv1.WalArchiveVolumeSuffix
	}
	if request, _, err := claimSize(ctx, kube, ns, claim); err != nil || request != 1<<30 {
		return result, fmt.Errorf("the %s volume grew before the fill began (request %s): the prefill crossed the trigger", kind, formatBytes(request))
	}
	start, err := kube.VolumeUsage(ctx, ns, primary, kind)
	if err != nil {
		return result, err
	}
	result.startPercent = start.UsedPercent()
	began := time.Now()

	pollCtx, stopPolling := context.WithCancel(ctx)
	var polling sync.WaitGroup
	polling.Add(1)
	go func() {
		defer polling.Done()
		result.lowestFree, result.lowestFreeShare = lowestFree(pollCtx, kube, ns, primary, kind)
	}()
	fmt.Fprintf(out, " • write %s at %d MiB/s for %s or %d GiB\n", kind, rateMiB, surviveFor, surviveBytes>>30)
	spec.RateBytesPerSecond = rateMiB << 20
	result.fill, err = kube.FillFor(ctx, spec, surviveFor, surviveBytes)
	stopPolling()
	polling.Wait()
	if err != nil {
		return result, err
	}

	restartsAfter, _ := postgresRestarts(ctx, kube, ns, primary)
	result.restarts = restartsAfter - restartsBefore
	_, queryErr := kube.PSQL(ctx, ns, primary, "select 1")
	result.answers = queryErr == nil
	current := &v1alpha1.StorageAutoscalePolicy{}
	if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(policy), current); err != nil {
		return result, err
	}
	role := v1alpha1.RoleData
	if kind == "wal" {
		role = v1alpha1.RoleWAL
	}
	for _, growth := range current.Status.History {
		if growth.Role == role && !growth.Time.Time.Before(began.Truncate(time.Second)) {
			result.growths = append(result.growths, growth)
		}
	}
	if request, _, err := claimSize(ctx, kube, ns, claim); err == nil {
		result.finalGi = formatBytes(request)
	}
	return result, nil
}

// enforce switches policy to Enforce and waits until the controller says
// so in its DryRun condition.
func enforce(ctx context.Context, kube *framework.Cluster, policy *v1alpha1.StorageAutoscalePolicy) error {
	patch := client.MergeFrom(policy.DeepCopy())
	policy.Spec.Mode = v1alpha1.ModeEnforce
	if err := kube.Client.Patch(ctx, policy, patch); err != nil {
		return fmt.Errorf("switch policy %s to Enforce: %w", policy.Name, err)
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		current := &v1alpha1.StorageAutoscalePolicy{}
		if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(policy), current); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionFalse(current.Status.Conditions, v1alpha1.ConditionDryRun), nil
	})
}

// lowestFree reads df until ctx ends and returns the least free space it
// saw, and its share of the filesystem then (-1 when df never answered).
func lowestFree(ctx context.Context, kube *framework.Cluster, ns, pod, volume string) (int64, float64) {
	lowest, share := int64(-1), 1.0
	eachUsage(ctx, kube, ns, pod, volume, func(usage framework.Usage) {
		if lowest < 0 || usage.AvailableBytes < lowest {
			lowest, share = usage.AvailableBytes, float64(usage.AvailableBytes)/float64(usage.SizeBytes)
		}
	})
	return lowest, share
}

func postgresRestarts(ctx context.Context, kube *framework.Cluster, ns, pod string) (int32, error) {
	p := &corev1.Pod{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod}, p); err != nil {
		return 0, err
	}
	for _, status := range p.Status.ContainerStatuses {
		if status.Name == "postgres" {
			return status.RestartCount, nil
		}
	}
	return 0, fmt.Errorf("pod %s/%s has no postgres container status", ns, pod)
}

// survivalTable is one volume kind's table.
func survivalTable(rows []survival) string {
	var b strings.Builder
	b.WriteString("| rate asked | written (achieved) | lowest free (df) | growths (kind: from → to, trigger) | failed writes | ENOSPC | PostgreSQL |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(survivalCells(row), " | "))
	}
	return b.String()
}

func survivalCells(row survival) []string {
	achieved := 0.0
	if row.fill.Elapsed > 0 {
		achieved = float64(row.fill.WrittenBytes) / float64(1<<20) / row.fill.Elapsed.Seconds()
	}
	var growths []string
	for _, g := range row.growths {
		growths = append(growths, fmt.Sprintf("%s: %s → %s (%s)", strings.ToLower(string(g.Kind)), g.From.String(), g.To.String(), g.Trigger))
	}
	if len(growths) == 0 {
		growths = []string{"none"}
	}
	lowest := "n/a"
	if row.lowestFree >= 0 {
		lowest = fmt.Sprintf("%s (%.1f %%)", formatBytes(row.lowestFree), 100*row.lowestFreeShare)
	}
	enospc := "no"
	if row.enospc() {
		enospc = "**yes**"
	}
	postgres := "up"
	switch {
	case row.restarts > 0:
		postgres = fmt.Sprintf("**restarted %d×**", row.restarts)
	case !row.answers:
		postgres = "**not answering**"
	}
	return []string{
		fmt.Sprintf("%s %d MiB/s from %.1f %%", row.kind, row.rateMiB, row.startPercent),
		fmt.Sprintf("%s in %s (%.1f MiB/s)", formatBytes(row.fill.WrittenBytes), row.fill.Elapsed.Round(time.Second), achieved),
		lowest,
		strings.Join(growths, "; ") + "; now " + row.finalGi,
		strconv.Itoa(len(row.fill.Failures)),
		enospc,
		postgres,
	}
}

// parseRates reads "1,2,5" as MiB/s.
func parseRates(s string) ([]int64, error) {
	var rates []int64
	for _, field := range strings.Split(s, ",") {
		rate, err := strconv.ParseInt(strings.TrimSpace(field), 10, 64)
		if err != nil || rate < 1 {
			return nil, fmt.Errorf("--survive-rates: %q is not a rate in MiB/s", field)
		}
		rates = append(rates, rate)
	}
	return rates, nil
}

// surviveLimit is the limit of both roles in the survival run: far enough
// that the rate cover at 100 MiB/s (about 40Gi from 1Gi) is not cut.
var surviveLimit = resource.MustParse("64Gi")
