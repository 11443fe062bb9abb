package probe_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/probe"
)

// XFS is what most CSI drivers format PostgreSQL volumes with. It has no
// root-reserved blocks (its own reserve pool is already left out of
// f_bfree), so used is exactly what df calls used; and it allocates inodes
// on demand, so its inode total moves as blocks are used.

// mountXFS makes a sparse file of sizeMiB, an XFS on it, and loop-mounts it.
// mkfs.xfs refuses filesystems under 300 MB.
func mountXFS(t *testing.T, sizeMiB int) (mountPoint, image string) {
	t.Helper()
	requireTool(t, "mkfs.xfs", "xfsprogs")
	requireTool(t, "xfs_info", "xfsprogs")
	return mountLoop(t, sizeMiB, "xfs.img", "mkfs.xfs", "-q", "-f")
}

func TestXFSFiguresMatchDf(t *testing.T) {
	mountPoint, _ := mountXFS(t, 320)
	got, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	const block = 4096
	dfSize, dfUsed, dfAvail := dfBytes(t, mountPoint)
	if !within(got.CapacityBytes, dfSize, block) || !within(got.AvailableBytes, dfAvail, block) {
		t.Errorf("capacity %d available %d, df says %d and %d", got.CapacityBytes, got.AvailableBytes, dfSize, dfAvail)
	}
	// No root-only blocks: our used is df's used.
	if !within(got.UsedBytes, dfUsed, block) {
		t.Errorf("used %d, df says %d (XFS has no root-reserved blocks)", got.UsedBytes, dfUsed)
	}
	// The internal log is not capacity (64 MiB of the 320 with current
	// xfsprogs): statfs counts the data section less the log, exactly.
	dataBlocks, logBlocks, blockSize := xfsGeometry(t, mountPoint)
	if want := (dataBlocks - logBlocks) * blockSize; got.CapacityBytes != want {
		t.Errorf("capacity %d, xfs_info says %d data blocks less %d log blocks of %d bytes = %d",
			got.CapacityBytes, dataBlocks, logBlocks, blockSize, want)
	}
	if got.UsedBytes+got.AvailableBytes != got.CapacityBytes {
		t.Errorf("used %d + available %d != capacity %d", got.UsedBytes, got.AvailableBytes, got.CapacityBytes)
	}
}

func TestXFSUsedFollowsWrites(t *testing.T) {
	mountPoint, image := mountXFS(t, 320)
	before, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	const written = 64 * mib
	// Closing the file trims XFS's speculative preallocation past its end,
	// so what stays allocated is what was written (and its extent blocks).
	writeFile(t, filepath.Join(mountPoint, "payload"), written)
	after, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	if moved := after.UsedBytes - before.UsedBytes; !within(moved, written, 64*1024) {
		t.Errorf("used moved by %d bytes after writing %d", moved, written)
	}
	if after.CapacityBytes != before.CapacityBytes {
		t.Errorf("capacity changed from %d to %d", before.CapacityBytes, after.CapacityBytes)
	}

	if err := os.Remove(filepath.Join(mountPoint, "payload")); err != nil {
		t.Fatal(err)
	}
	// XFS frees an unlinked file's blocks in background inode inactivation
	// (Linux 5.19 and later): statfs right after a large delete may still
	// count them (neither syncfs nor a wait makes it certain here), so the
	// sidecar sees the space come back a probe or so later. Unmounting
	// finishes that work; the reading after mounting again is certain.
	run(t, "umount", mountPoint)
	run(t, "mount", "-o", "loop", image, mountPoint)
	freed, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	if !within(freed.UsedBytes, before.UsedBytes, 64*1024) {
		t.Errorf("used %d after removing the file, %d before writing it", freed.UsedBytes, before.UsedBytes)
	}
}

// The controller and the write decision use total-free as inodes used; on
// XFS that is exact even though the total itself moves.
func TestXFSInodesUsedFollowFileCreation(t *testing.T) {
	mountPoint, _ := mountXFS(t, 320)
	before, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	const files = 100 // more than one 64-inode chunk: XFS must allocate inodes
	for i := range files {
		writeFile(t, filepath.Join(mountPoint, fmt.Sprintf("f%d", i)), 0)
	}
	after, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	usedBefore := before.InodesTotal - before.InodesFree
	usedAfter := after.InodesTotal - after.InodesFree
	if usedAfter-usedBefore != files {
		t.Errorf("creating %d files moved inodes used from %d to %d (total %d -> %d, free %d -> %d)",
			files, usedBefore, usedAfter, before.InodesTotal, after.InodesTotal, before.InodesFree, after.InodesFree)
	}
}

// xfsGeometry reads the data section's and the internal log's size in
// blocks, and the block size, from xfs_info.
func xfsGeometry(t *testing.T, mountPoint string) (dataBlocks, logBlocks, blockSize int64) {
	t.Helper()
	info := run(t, "xfs_info", mountPoint)
	field := func(pattern string) int64 {
		m := regexp.MustCompile(pattern).FindStringSubmatch(info)
		if m == nil {
			t.Fatalf("xfs_info output lacks %s:\n%s", pattern, info)
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return field(`(?m)^data\s+=\s+bsize=\d+\s+blocks=(\d+)`),
		field(`(?m)^log\s+=internal log\s+bsize=\d+\s+blocks=(\d+)`),
		field(`(?m)^data\s+=\s+bsize=(\d+)`)
}
