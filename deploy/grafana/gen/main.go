// Command gen writes the add-on's Grafana dashboard (package
// deploy/grafana/dashboard) to the file it is given; `make manifests` runs
// it as `go run ./deploy/grafana/gen deploy/grafana/cnpg-storage-autoscaler.json`.
package main

import (
	"fmt"
	"os"

	"github.com/pgstorage/cnpg-storage-autoscaler/deploy/grafana/dashboard"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen FILE.json")
		os.Exit(2)
	}
	out, err := dashboard.JSON()
	if err == nil {
		err = os.WriteFile(os.Args[1], out, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}
