package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// state is what `up` started, written to disk after every change so that
// `down` can clean up after a crash of `up` itself.
type state struct {
	Processes []processRecord `json:"processes"`
}

type processRecord struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Exe  string `json:"exe"`
}

// has reports whether up started a process of that name.
func (s state) has(name string) bool {
	for _, p := range s.Processes {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (l Layout) stateFile() string { return filepath.Join(l.Root, "state.json") }

func loadState(l Layout) (state, error) {
	var s state
	data, err := os.ReadFile(l.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("parse state %s: %w", l.stateFile(), err)
	}
	return s, nil
}

func saveState(l Layout, s state) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return os.Rename(tmp, l.stateFile())
}
