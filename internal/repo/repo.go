// Package repo finds this repository's root on disk.
//
// Every build of this project is -trimpath (the images, the tools, the tests:
// one set of flags, so CI compiles each package once), so a binary cannot
// find its sources from its own file names: it walks up from the working
// directory instead, as `go` itself finds go.mod.
package repo

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Module is this repository's module path. The tools modules under
// e2e/tools have go.mod files of their own, which Root passes by.
const Module = "github.com/pgstorage/cnpg-storage-autoscaler"

// Root walks up from the working directory to the directory whose go.mod
// declares Module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the cnpg-storage-autoscaler repository (no go.mod of " + Module + " above the working directory)")
		}
		dir = parent
	}
}

func declaresModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(name) == Module
		}
	}
	return false
}
