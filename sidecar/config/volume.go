// Package config holds the sidecar's configuration and the textual contract
// through which the admission webhook describes the pod's PostgreSQL volumes.
//
// It parses and validates; it must not touch the filesystem, PostgreSQL or
// the API server, so the webhook's author can rely on it alone.
package config

import (
	"fmt"
	"path"
	"strings"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Volume is one PostgreSQL volume mounted into the sidecar.
type Volume struct {
	// Name is the pod volume's name: pgdata, pg-wal or the tablespace's volume.
	Name string
	Role v1alpha1.VolumeRole
	// PVC is the claim behind the volume (the controller grows it by name).
	PVC string
	// MountPath is where the sidecar sees the volume.
	MountPath string
	// Tablespace is the tablespace's name, for role=tablespace only.
	Tablespace string
}

// VolumeSyntax documents the one accepted form of a volume, for --help.
const VolumeSyntax = "name=<pod volume>,role=data|wal|tablespace,pvc=<claim>,path=<mount path>[,tablespace=<name>]"

// ParseVolume reads one volume in VolumeSyntax. Keys may come in any order;
// each must appear once; unknown keys are refused so that a typo in the
// webhook fails loudly instead of silently dropping a volume.
func ParseVolume(spec string) (Volume, error) {
	var v Volume
	seen := map[string]bool{}
	for _, field := range strings.Split(strings.TrimSpace(spec), ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || value == "" {
			return Volume{}, fmt.Errorf("volume %q: field %q is not key=value (want %s)", spec, field, VolumeSyntax)
		}
		if seen[key] {
			return Volume{}, fmt.Errorf("volume %q: %s given twice", spec, key)
		}
		seen[key] = true
		switch key {
		case "name":
			v.Name = value
		case "role":
			v.Role = v1alpha1.VolumeRole(value)
		case "pvc":
			v.PVC = value
		case "path":
			v.MountPath = value
		case "tablespace":
			v.Tablespace = value
		default:
			return Volume{}, fmt.Errorf("volume %q: unknown key %q (want %s)", spec, key, VolumeSyntax)
		}
	}
	if err := v.validate(); err != nil {
		return Volume{}, fmt.Errorf("volume %q: %w", spec, err)
	}
	return v, nil
}

func (v Volume) validate() error {
	switch {
	case v.Name == "":
		return fmt.Errorf("name is required")
	case v.PVC == "":
		return fmt.Errorf("pvc is required")
	case v.MountPath == "" || !path.IsAbs(v.MountPath):
		return fmt.Errorf("path must be an absolute mount path, got %q", v.MountPath)
	}
	switch v.Role {
	case v1alpha1.RoleData, v1alpha1.RoleWAL:
		if v.Tablespace != "" {
			return fmt.Errorf("tablespace is only valid with role=tablespace")
		}
	case v1alpha1.RoleTablespace:
		if v.Tablespace == "" {
			return fmt.Errorf("role=tablespace needs tablespace=<name>")
		}
	default:
		return fmt.Errorf("role must be data, wal or tablespace, got %q", v.Role)
	}
	return nil
}

// String is the VolumeSyntax form, so a parsed volume round-trips.
func (v Volume) String() string {
	s := fmt.Sprintf("name=%s,role=%s,pvc=%s,path=%s", v.Name, v.Role, v.PVC, v.MountPath)
	if v.Tablespace != "" {
		s += ",tablespace=" + v.Tablespace
	}
	return s
}

// ParseVolumeList reads the environment form: volumes separated by ';' or
// newlines (a volume itself contains commas). Empty entries are ignored.
func ParseVolumeList(list string) ([]Volume, error) {
	var volumes []Volume
	for _, entry := range strings.FieldsFunc(list, func(r rune) bool { return r == ';' || r == '\n' }) {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		v, err := ParseVolume(entry)
		if err != nil {
			return nil, err
		}
		volumes = append(volumes, v)
	}
	return volumes, nil
}

// FormatVolumeList is the environment form ParseVolumeList reads: the
// admission webhook writes it into the sidecar's PGSTORAGE_VOLUMES.
func FormatVolumeList(volumes []Volume) string {
	entries := make([]string, len(volumes))
	for i, v := range volumes {
		entries[i] = v.String()
	}
	return strings.Join(entries, ";")
}

// CheckVolumes refuses an empty list and duplicate names or paths: the
// observation's volumes are a map keyed by name.
func CheckVolumes(volumes []Volume) error {
	if len(volumes) == 0 {
		return fmt.Errorf("no volume configured: give at least --volume %s", VolumeSyntax)
	}
	names, paths := map[string]bool{}, map[string]bool{}
	for _, v := range volumes {
		if names[v.Name] {
			return fmt.Errorf("volume name %q configured twice", v.Name)
		}
		if paths[v.MountPath] {
			return fmt.Errorf("mount path %q configured twice", v.MountPath)
		}
		names[v.Name], paths[v.MountPath] = true, true
	}
	return nil
}
