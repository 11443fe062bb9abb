package ledger

// Delta is what changed since the previous entry, each list in the order
// of the current run.
type Delta struct {
	// Regressions passed in the previous entry and failed now.
	Regressions []string
	// Fixed failed in the previous entry and passed now.
	Fixed []string
	// StillFailing failed in the previous entry and fail now.
	StillFailing []string
	// NewFailures fail now and were not run (skipped, pending or absent)
	// in the previous entry: not regressions, but not to be lost either.
	NewFailures []string
}

// Compare sets a run against the outcomes of the previous entry.
func Compare(previous map[string]Outcome, current []SpecResult) Delta {
	var delta Delta
	for _, spec := range current {
		before, known := previous[spec.Name]
		switch {
		case spec.Outcome == Failed && known && before == Passed:
			delta.Regressions = append(delta.Regressions, spec.Name)
		case spec.Outcome == Failed && known && before == Failed:
			delta.StillFailing = append(delta.StillFailing, spec.Name)
		case spec.Outcome == Failed:
			delta.NewFailures = append(delta.NewFailures, spec.Name)
		case spec.Outcome == Passed && known && before == Failed:
			delta.Fixed = append(delta.Fixed, spec.Name)
		}
	}
	return delta
}
