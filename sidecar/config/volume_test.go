package config

import (
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// The webhook writes PGSTORAGE_VOLUMES with FormatVolumeList and the sidecar
// reads it with ParseVolumeList: whatever the webhook can describe, the
// sidecar reads back unchanged.
func TestVolumeListRoundTrip(t *testing.T) {
	name := rapid.StringMatching(`[a-z][a-z0-9-]{0,20}`)
	rapid.Check(t, func(t *rapid.T) {
		count := rapid.IntRange(1, 5).Draw(t, "count")
		volumes := make([]Volume, count)
		for i := range volumes {
			v := Volume{
				Name:      name.Draw(t, "name"),
				Role:      rapid.SampledFrom([]v1alpha1.VolumeRole{v1alpha1.RoleData, v1alpha1.RoleWAL, v1alpha1.RoleTablespace}).Draw(t, "role"),
				PVC:       name.Draw(t, "pvc"),
				MountPath: "/var/lib/postgresql/" + name.Draw(t, "path"),
			}
			if v.Role == v1alpha1.RoleTablespace {
				v.Tablespace = name.Draw(t, "tablespace")
			}
			volumes[i] = v
		}
		got, err := ParseVolumeList(FormatVolumeList(volumes))
		if err != nil {
			t.Fatalf("ParseVolumeList(FormatVolumeList(%v)): %v", volumes, err)
		}
		if len(got) != len(volumes) {
			t.Fatalf("round trip gave %d volumes, want %d", len(got), len(volumes))
		}
		for i := range volumes {
			if got[i] != volumes[i] {
				t.Fatalf("volume %d: got %+v, want %+v", i, got[i], volumes[i])
			}
		}
	})
}

func TestParseVolumeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, spec, want string }{
		{"unknown key", "name=pgdata,role=data,pvc=a,path=/d,size=1", `unknown key "size"`},
		{"key twice", "name=pgdata,name=x,role=data,pvc=a,path=/d", "name given twice"},
		{"relative path", "name=pgdata,role=data,pvc=a,path=d", "absolute mount path"},
		{"tablespace without name", "name=t,role=tablespace,pvc=a,path=/t", "needs tablespace=<name>"},
		{"tablespace on data", "name=pgdata,role=data,pvc=a,path=/d,tablespace=x", "only valid with role=tablespace"},
		{"unknown role", "name=pgdata,role=logs,pvc=a,path=/d", "role must be data, wal or tablespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseVolume(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseVolume(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
			}
		})
	}
}
