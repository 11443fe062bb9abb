package v1alpha1

// RuleFor returns the rule that governs the volumes of one role (a
// tablespace's by name, else the tablespaces' default) and the field path
// that spells it, for reasons. rule is nil when the policy has none; path
// then names where it would go. An unknown role has neither.
func (v *VolumesSpec) RuleFor(role VolumeRole, tablespace string) (path string, rule *VolumePolicy) {
	switch role {
	case RoleData:
		return "spec.volumes.data", &v.Data
	case RoleWAL:
		return "spec.volumes.wal", v.WAL
	case RoleTablespace:
		if v.Tablespaces == nil {
			return "spec.volumes.tablespaces", nil
		}
		if byName, found := v.Tablespaces.ByName[tablespace]; found {
			return "spec.volumes.tablespaces.byName." + tablespace, &byName
		}
		return "spec.volumes.tablespaces.default", v.Tablespaces.Default
	}
	return "", nil
}

// Governs reports whether policy p, rather than other, governs a CNPG
// Cluster that both name: the older one by creation time, then the first
// by name. The webhooks and the controller choose by it alike; the other
// policies of the cluster are in conflict and do nothing.
func (p *StorageAutoscalePolicy) Governs(other *StorageAutoscalePolicy) bool {
	if !p.CreationTimestamp.Equal(&other.CreationTimestamp) {
		return p.CreationTimestamp.Before(&other.CreationTimestamp)
	}
	return p.Name < other.Name
}
