package plan

import (
	"slices"
	"strings"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// providerProfile is what a storage provider imposes on a growth.
type providerProfile struct {
	name v1alpha1.Provider
	// sizeTiers are billing tier boundaries, ascending; a size between two
	// is billed as the upper one, so rounding up to it costs nothing.
	sizeTiers []int64
	// maxBytes is the largest disk the provider makes; zero when the
	// planner knows of no cap.
	maxBytes int64
	// modificationsPerDay is how many modifications of one volume the
	// provider accepts in a rolling 24h; zero when it sets no such limit.
	// Even emergency growth is bound by it: the provider would refuse.
	modificationsPerDay int
}

// awsEBSModificationsPerDay: "After you initiate a volume modification, you
// must wait for that modification to reach the completed state before you
// can initiate another modification for the same volume. You can modify a
// volume up to four times within a rolling 24-hour period" (Amazon EC2 API
// Reference, ModifyVolume; Amazon EBS User Guide, "Requirements for EBS
// volume modifications"). This replaced the former fixed six hours between
// two modifications. "Previous modification complete" is the in-flight
// gate: a PVC whose last growth has not finished is never grown again. The
// planner sees completion through the PVC; an EBS volume still optimizing
// after the CSI driver reported the resize done would refuse a new
// modification, and the driver's error then holds the PVC in that gate.
const awsEBSModificationsPerDay = 4

// azureDiskMaxBytes: the largest Azure managed disk (Premium SSD P80,
// Standard SSD E80, Standard HDD S80) is 32,767 GiB, one GiB short of
// 32 TiB (Azure managed disk types, disk size tables:
// learn.microsoft.com/azure/virtual-machines/disks-types).
const azureDiskMaxBytes = 32767 * gibibyte

// azureDiskTiers are the Azure managed disk size tiers shared by Premium
// SSD (P1–P80), Standard SSD (E1–E80) and Standard HDD (S4–S80; below 32 GiB
// all are billed as S4, so these boundaries are cost-neutral there too);
// the top tier ends at the largest disk, 32,767 GiB.
var azureDiskTiers = []int64{
	4 * gibibyte, 8 * gibibyte, 16 * gibibyte, 32 * gibibyte, 64 * gibibyte,
	128 * gibibyte, 256 * gibibyte, 512 * gibibyte,
	1 * tebibyte, 2 * tebibyte, 4 * tebibyte, 8 * tebibyte, 16 * tebibyte, azureDiskMaxBytes,
}

// azureDefaultSKU is what the Azure Disk CSI driver provisions when the
// StorageClass names no skuName.
const azureDefaultSKU = "standardssd_lrs"

// azureTieredSKUs are billed by size tier; PremiumV2_LRS and UltraSSD_LRS
// are billed per GiB and round to 1 GiB like any other disk.
var azureTieredSKUs = map[string]bool{
	"premium_lrs":     true,
	"premium_zrs":     true,
	"standardssd_lrs": true,
	"standardssd_zrs": true,
	"standard_lrs":    true,
}

// resolveProvider picks the provider for a PVC: the policy's, or with auto
// the one its StorageClass provisioner names.
func resolveProvider(policy v1alpha1.Provider, class *StorageClass) providerProfile {
	name := policy
	if name == "" || name == v1alpha1.ProviderAuto {
		name = v1alpha1.ProviderGeneric
		if class != nil {
			switch class.Provisioner {
			case "disk.csi.azure.com":
				name = v1alpha1.ProviderAzureDisk
			case "ebs.csi.aws.com":
				name = v1alpha1.ProviderAWSEBS
			case "pd.csi.storage.gke.io":
				name = v1alpha1.ProviderGCPPD
			}
		}
	}
	switch name {
	case v1alpha1.ProviderAzureDisk:
		profile := providerProfile{name: name}
		if azureTieredSKUs[azureSKU(class)] {
			profile.sizeTiers = azureDiskTiers
			profile.maxBytes = azureDiskMaxBytes
		}
		return profile
	case v1alpha1.ProviderAWSEBS:
		return providerProfile{name: name, modificationsPerDay: awsEBSModificationsPerDay}
	case v1alpha1.ProviderGCPPD:
		// Persistent Disk documents no rule beyond generic's: a disk can
		// only grow, sizes are whole GiB, and no limit on how often a disk
		// may be resized (cloud.google.com/compute/docs/disks/resize-persistent-disk,
		// "Increase the size of a Persistent Disk volume"). It keeps its
		// name so that status says which provider was recognised.
		return providerProfile{name: name}
	}
	return providerProfile{name: v1alpha1.ProviderGeneric}
}

// azureSKU reads skuName; the Azure driver matches parameter keys without
// regard to case.
func azureSKU(class *StorageClass) string {
	if class == nil {
		return azureDefaultSKU
	}
	keys := make([]string, 0, len(class.Parameters))
	for key := range class.Parameters {
		keys = append(keys, key)
	}
	// Sorted so that a class with both skuName and skuname resolves the same
	// way every time.
	slices.Sort(keys)
	for _, key := range keys {
		if strings.EqualFold(key, "skuName") {
			return strings.ToLower(class.Parameters[key])
		}
	}
	return azureDefaultSKU
}

// roundSize rounds a request up to what the provider allocates: whole GiB,
// and for tier-billed disks up to the tier boundary; never past the
// largest disk the provider makes.
func (p providerProfile) roundSize(size int64) int64 {
	size = roundUpBytes(size, gibibyte)
	for _, tier := range p.sizeTiers {
		if size <= tier {
			return tier
		}
	}
	if p.maxBytes > 0 {
		return min(size, p.maxBytes)
	}
	return size
}
