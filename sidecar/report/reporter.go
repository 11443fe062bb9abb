package report

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
)

// Outcome says what Report did.
type Outcome string

const (
	Written    Outcome = "written"
	Unchanged  Outcome = "unchanged"
	BackingOff Outcome = "backing_off"
	Failed     Outcome = "failed"
)

// Reporter owns the pod's observation. Not safe for concurrent use: the
// sidecar's single probe loop calls it.
type Reporter struct {
	client  *observations
	id      Identity
	cadence decide.Cadence

	current *v1alpha1.StorageObservation // as the API server last returned it; nil until created or found
	last    *decide.Written
	backoff backoff
}

// New returns a Reporter writing through cfg (its timeout bounds every
// request); it talks to the API server only when Report writes.
func New(cfg *rest.Config, id Identity, cadence decide.Cadence) (*Reporter, error) {
	c, err := newObservations(cfg)
	if err != nil {
		return nil, err
	}
	return &Reporter{client: c, id: id, cadence: cadence}, nil
}

// Report writes status if it is worth writing at now. The reason says why it
// wrote or why not; err is an API server error after which Report backs off.
func (r *Reporter) Report(ctx context.Context, status *v1alpha1.StorageObservationStatus, now time.Time) (Outcome, string, error) {
	write, reason := decide.ShouldWrite(r.last, status, now, r.cadence)
	if !write {
		return Unchanged, "no meaningful change", nil
	}
	if r.backoff.waiting(now) {
		return BackingOff, fmt.Sprintf("%s; waiting until %s after a failed write", reason, r.backoff.retryAt().Format(time.RFC3339)), nil
	}
	if err := r.write(ctx, status); err != nil {
		r.backoff.failed(now)
		return Failed, reason, err
	}
	r.backoff.succeeded()
	r.last = &decide.Written{Status: *status.DeepCopy(), At: now}
	return Written, reason, nil
}

func (r *Reporter) write(ctx context.Context, status *v1alpha1.StorageObservationStatus) error {
	if r.current == nil {
		if err := r.ensure(ctx); err != nil {
			return err
		}
	}
	r.current.Status = *status.DeepCopy()
	updated, err := r.client.updateStatus(ctx, r.current)
	switch {
	case err == nil:
		r.current = updated
		return nil
	case apierrors.IsConflict(err):
		// Someone else touched the object (a label, a controller): take
		// theirs and put our status on top once; a second conflict waits for
		// the backoff.
		theirs, err := r.client.get(ctx, r.key())
		if err != nil {
			r.current = nil
			return fmt.Errorf("re-read observation %s after a conflict: %w", r.key(), err)
		}
		theirs.Status = *status.DeepCopy()
		updated, err := r.client.updateStatus(ctx, theirs)
		if err != nil {
			r.current = nil
			return fmt.Errorf("update observation status %s after a conflict: %w", r.key(), err)
		}
		r.current = updated
		return nil
	default:
		// Deleted, or anything else: start again from the API server's
		// copy on the next attempt.
		r.current = nil
		return fmt.Errorf("update observation status %s: %w", r.key(), err)
	}
}

// ensure creates the observation, or adopts the one this pod already made
// (a restarted sidecar). An observation left by an earlier pod of the same
// name (CNPG reuses instance names) has an immutable spec naming the old
// UID: it is deleted and made anew rather than waiting for the garbage
// collector.
func (r *Reporter) ensure(ctx context.Context) error {
	created, err := r.client.create(ctx, r.id.newObservation())
	if err == nil {
		r.current = created
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create observation %s: %w", r.key(), err)
	}
	existing, err := r.client.get(ctx, r.key())
	if err != nil {
		return fmt.Errorf("read existing observation %s: %w", r.key(), err)
	}
	if existing.Spec.PodUID == r.id.PodUID {
		r.current = existing
		return nil
	}
	if err := r.client.deleteExactly(ctx, r.key(), existing.UID); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete observation %s left by pod UID %s: %w", r.key(), existing.Spec.PodUID, err)
	}
	created, err = r.client.create(ctx, r.id.newObservation())
	if err != nil {
		return fmt.Errorf("create observation %s after removing the previous pod's: %w", r.key(), err)
	}
	r.current = created
	return nil
}

func (r *Reporter) key() types.NamespacedName {
	return types.NamespacedName{Namespace: r.id.Namespace, Name: r.id.PodName}
}
