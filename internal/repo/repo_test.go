package repo

import (
	"path/filepath"
	"testing"
)

func TestRootPassesByTheToolsModules(t *testing.T) {
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// A tools module has a go.mod of its own: Root must not stop there.
	t.Chdir(filepath.Join(want, "e2e", "tools", "helm"))
	got, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Root() = %s, want %s", got, want)
	}
}

func TestRootOutsideTheRepository(t *testing.T) {
	t.Chdir(t.TempDir())
	if dir, err := Root(); err == nil {
		t.Fatalf("Root() = %s outside the repository, want an error", dir)
	}
}
