package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
)

type parsed struct {
	settings config.Sidecar
	level    string
}

func TestParseFlags(t *testing.T) {
	baseEnv := map[string]string{
		"POD_NAME": "orders-1", "POD_NAMESPACE": "shop", "POD_UID": "uid-1", "CLUSTER_NAME": "orders",
		"PGSTORAGE_VOLUMES": "name=pgdata,role=data,pvc=orders-1,path=/var/lib/postgresql/data;" +
			"name=pg-wal,role=wal,pvc=orders-1-wal,path=/var/lib/postgresql/wal",
	}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range baseEnv {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(t *testing.T, got parsed)
		wantErr string
	}{
		{
			name: "the environment alone configures a pod, with CNPG's defaults", env: baseEnv,
			check: func(t *testing.T, got parsed) {
				s := got.settings
				if s.PodName != "orders-1" || s.PodNamespace != "shop" || s.PodUID != "uid-1" || s.Cluster != "orders" {
					t.Errorf("identity %+v", s)
				}
				if len(s.Volumes) != 2 || s.Volumes[1].Role != v1alpha1.RoleWAL || s.Volumes[1].PVC != "orders-1-wal" {
					t.Errorf("volumes %+v", s.Volumes)
				}
				if s.SocketDir != "/controller/run" || s.PGPort != 5432 ||
					s.Interval != 10*time.Second || s.FastInterval != 2*time.Second || s.DiskInterval != 100*time.Millisecond || s.Heartbeat != time.Minute || s.MetricsAddr != ":9188" {
					t.Errorf("defaults %+v", s)
				}
			},
		},
		{
			name: "there is no --pg-user: the sidecar never connects as another role", env: baseEnv,
			args: []string{"--pg-user", "postgres"}, wantErr: "flag provided but not defined: -pg-user",
		},
		{
			name: "PGSTORAGE_PG_USER is ignored: it changes no setting",
			env:  with("PGSTORAGE_PG_USER", "postgres"),
			check: func(t *testing.T, got parsed) {
				without, _, err := parseFlags(nil, func(k string) string { return baseEnv[k] })
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.settings, without) {
					t.Errorf("PGSTORAGE_PG_USER changed the settings:\n%+v\nwithout it:\n%+v", got.settings, without)
				}
			},
		},
		{
			name: "--volume flags replace the environment's list", env: baseEnv,
			args: []string{"--volume", "name=idx,role=tablespace,pvc=orders-1-tbs-idx,path=/var/lib/postgresql/tablespaces/idx,tablespace=idx"},
			check: func(t *testing.T, got parsed) {
				if v := got.settings.Volumes; len(v) != 1 || v[0].Tablespace != "idx" {
					t.Errorf("volumes %+v", v)
				}
			},
		},
		{
			name: "a flag wins over its environment variable", env: with("PGSTORAGE_INTERVAL", "30s"), args: []string{"--interval", "20s"},
			check: func(t *testing.T, got parsed) {
				if got.settings.Interval != 20*time.Second {
					t.Errorf("interval %s", got.settings.Interval)
				}
			},
		},
		{name: "a missing pod UID is named", env: with("POD_UID", ""), wantErr: "--pod-uid (POD_UID) is required"},
		{name: "no volume is refused", env: with("PGSTORAGE_VOLUMES", ""), wantErr: "no volume configured"},
		{name: "a volume with an unknown key is refused", env: with("PGSTORAGE_VOLUMES", "name=a,role=data,pvc=p,path=/d,size=1"), wantErr: `unknown key "size"`},
		{name: "a tablespace volume needs its tablespace", args: []string{"--volume", "name=a,role=tablespace,pvc=p,path=/t"}, env: baseEnv, wantErr: "needs tablespace="},
		{name: "two volumes of one name are refused", env: with("PGSTORAGE_VOLUMES", "name=a,role=data,pvc=p,path=/d;name=a,role=wal,pvc=q,path=/w"), wantErr: `volume name "a" configured twice`},
		{name: "a bad duration in the environment is named", env: with("PGSTORAGE_HEARTBEAT", "soon"), wantErr: "PGSTORAGE_HEARTBEAT"},
		{name: "a heartbeat shorter than the interval is refused", env: with("PGSTORAGE_HEARTBEAT", "5s"), wantErr: "--heartbeat"},
		{name: "a disk interval longer than the fast interval is refused", env: with("PGSTORAGE_DISK_INTERVAL", "3s"), wantErr: "--disk-interval (3s) must be positive and at most --fast-interval (2s)"},
		{name: "an unknown log level is refused", env: with("PGSTORAGE_LOG_LEVEL", "loud"), wantErr: "--log-level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, level, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, parsed{settings: s, level: level.String()})
		})
	}
}
