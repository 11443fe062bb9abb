package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
)

func TestRestSamplesAndTable(t *testing.T) {
	summary := `{"pods": [
	  {"podRef": {"name": "idle-1", "namespace": "bench-rest"}, "containers": [
	    {"name": "postgres", "cpu": {"usageNanoCores": 90000000}, "memory": {"rssBytes": 1}},
	    {"name": "` + admission.SidecarName + `", "cpu": {"usageNanoCores": 2000000}, "memory": {"rssBytes": 20971520, "workingSetBytes": 25165824}}]},
	  {"podRef": {"name": "idle-2", "namespace": "bench-rest"}, "containers": [
	    {"name": "` + admission.SidecarName + `", "cpu": {"usageNanoCores": 4000000}, "memory": {"rssBytes": 31457280}}]},
	  {"podRef": {"name": "other-1", "namespace": "elsewhere"}, "containers": [
	    {"name": "` + admission.SidecarName + `", "cpu": {"usageNanoCores": 99000000}}]},
	  {"podRef": {"name": "cnpg-storage-autoscaler-abc", "namespace": "pgstorage-system"}, "containers": [
	    {"name": "controller", "cpu": {}, "memory": {"rssBytes": 52428800}}]}
	]}`
	var s kubeletSummary
	if err := json.Unmarshal([]byte(summary), &s); err != nil {
		t.Fatal(err)
	}
	samples := restSamples(s, "bench-rest", "pgstorage-system")
	if len(samples) != 3 {
		t.Fatalf("%d samples, want the two probes of the namespace and the controller: %+v", len(samples), samples)
	}
	table := restTable(samples)
	for _, row := range []string{
		"| controller (per replica) | 1 | 1 | 0.0 m | 0.0 m | 50.0 MiB | 50.0 MiB | 0.0 MiB |",
		"| probe sidecar (per instance pod) | 2 | 2 | 3.0 m | 4.0 m | 25.0 MiB | 30.0 MiB | 24.0 MiB |",
	} {
		if !strings.Contains(table, row) {
			t.Errorf("table lacks %q:\n%s", row, table)
		}
	}
}
