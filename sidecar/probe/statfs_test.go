package probe_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/probe"
)

// These tests measure real filesystems of a size the test chose: an ext4
// on a loop device (with reserved blocks, which root cannot use here for
// want of CAP_SYS_RESOURCE) and a tmpfs with size=. A missing tool fails the
// test naming the Debian package that provides it.

const mib = 1 << 20

func requireTool(t *testing.T, tool, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("this test needs %s: install the Debian package %s (apt-get install -y %s)", tool, debianPackage, debianPackage)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mountExt4 makes a sparse file of sizeMiB, an ext4 on it with the default 5%
// reserved blocks, and loop-mounts it.
func mountExt4(t *testing.T, sizeMiB int) (mountPoint, image string) {
	t.Helper()
	requireTool(t, "mkfs.ext4", "e2fsprogs")
	requireTool(t, "tune2fs", "e2fsprogs")
	return mountLoop(t, sizeMiB, "ext4.img", "mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "5")
}

// mountLoop makes a sparse file of sizeMiB named name, runs mkfs (its
// arguments, then the file) on it and loop-mounts it. The mount (and with it
// the auto-cleared loop device) goes away when the test ends.
func mountLoop(t *testing.T, sizeMiB int, name string, mkfs ...string) (mountPoint, image string) {
	t.Helper()
	requireTool(t, "losetup", "mount")
	dir := t.TempDir()
	image = filepath.Join(dir, name)
	f, err := os.Create(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMiB) * mib); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, mkfs[0], append(mkfs[1:], image)...)
	mountPoint = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mountPoint, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "loop", image, mountPoint)
	t.Cleanup(func() { run(t, "umount", mountPoint) })
	return mountPoint, image
}

func mountTmpfs(t *testing.T, sizeMiB int) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "tmpfs", dir)
	t.Cleanup(func() { run(t, "umount", dir) })
	return dir
}

// tune2fsField reads one numeric field of `tune2fs -l`.
func tune2fsField(t *testing.T, listing, field string) int64 {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		if value, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil {
				t.Fatalf("tune2fs %s: %v", field, err)
			}
			return n
		}
	}
	t.Fatalf("tune2fs -l has no %q:\n%s", field, listing)
	return 0
}

// dfBytes is coreutils' independent reading: size, used (f_blocks-f_bfree,
// reserved blocks NOT counted) and available.
func dfBytes(t *testing.T, path string) (size, used, avail int64) {
	t.Helper()
	out := run(t, "df", "-B1", "--output=size,used,avail", path)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(fields) != 3 {
		t.Fatalf("unexpected df output:\n%s", out)
	}
	var n [3]int64
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("df field %q: %v", f, err)
		}
		n[i] = v
	}
	return n[0], n[1], n[2]
}

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{0xa5}, size)); err != nil {
		t.Fatal(err)
	}
	// Without fsync ext4's delayed allocation may not have counted the blocks yet.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func within(got, want, tolerance int64) bool {
	d := got - want
	return d >= -tolerance && d <= tolerance
}

func TestExt4ReservedBlocksCountAsUsed(t *testing.T) {
	mountPoint, image := mountExt4(t, 64)
	listing := run(t, "tune2fs", "-l", image)
	blockSize := tune2fsField(t, listing, "Block size")
	reservedBytes := tune2fsField(t, listing, "Reserved block count") * blockSize
	if reservedBytes == 0 {
		t.Fatal("the test filesystem has no reserved blocks: it would prove nothing")
	}

	got, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	dfSize, dfUsed, dfAvail := dfBytes(t, mountPoint)
	if !within(got.CapacityBytes, dfSize, blockSize) {
		t.Errorf("capacity %d, df says %d", got.CapacityBytes, dfSize)
	}
	if !within(got.AvailableBytes, dfAvail, blockSize) {
		t.Errorf("available %d, df says %d", got.AvailableBytes, dfAvail)
	}
	// df's "used" leaves out the reserved blocks; ours must not. ext4 also
	// holds back clusters for its own metadata (s_resv_clusters), so the
	// difference is at least the superblock's reserved count.
	if !within(got.UsedBytes, dfSize-dfAvail, blockSize) {
		t.Errorf("used %d, want capacity minus what a non-root writer may use (%d)", got.UsedBytes, dfSize-dfAvail)
	}
	if got.UsedBytes-dfUsed < reservedBytes {
		t.Errorf("used %d exceeds df's used %d by less than the %d reserved bytes", got.UsedBytes, dfUsed, reservedBytes)
	}
	if got.CapacityBytes > 64*mib || got.CapacityBytes < 48*mib {
		t.Errorf("capacity %d is not close to the 64 MiB the test made", got.CapacityBytes)
	}
	if got.UsedBytes+got.AvailableBytes != got.CapacityBytes {
		t.Errorf("used %d + available %d != capacity %d", got.UsedBytes, got.AvailableBytes, got.CapacityBytes)
	}
}

func TestWritingAFileMovesUsedByWhatWasWritten(t *testing.T) {
	ext4, _ := mountExt4(t, 64)
	for _, fs := range []struct {
		name, path string
		blockSize  int64
	}{
		{"ext4", ext4, 4096},
		{"tmpfs", mountTmpfs(t, 64), int64(os.Getpagesize())},
	} {
		t.Run(fs.name, func(t *testing.T) {
			before, err := probe.Statfs(fs.path)
			if err != nil {
				t.Fatal(err)
			}
			const written = 8 * mib
			writeFile(t, filepath.Join(fs.path, "payload"), written)
			after, err := probe.Statfs(fs.path)
			if err != nil {
				t.Fatal(err)
			}
			if moved := after.UsedBytes - before.UsedBytes; !within(moved, written, fs.blockSize) {
				t.Errorf("used moved by %d bytes after writing %d", moved, written)
			}
			if moved := before.AvailableBytes - after.AvailableBytes; !within(moved, written, fs.blockSize) {
				t.Errorf("available moved by %d bytes after writing %d", moved, written)
			}
			if after.CapacityBytes != before.CapacityBytes {
				t.Errorf("capacity changed from %d to %d", before.CapacityBytes, after.CapacityBytes)
			}
		})
	}
}

func TestTmpfsOfKnownSize(t *testing.T) {
	dir := mountTmpfs(t, 64)
	got, err := probe.Statfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	if !within(got.CapacityBytes, 64*mib, page) {
		t.Errorf("capacity %d, want 64 MiB", got.CapacityBytes)
	}
	if !within(got.UsedBytes, 0, page) || !within(got.AvailableBytes, 64*mib, page) {
		t.Errorf("empty tmpfs: used %d, available %d", got.UsedBytes, got.AvailableBytes)
	}
	if pct := got.UsedPercent(); pct > 0.01 {
		t.Errorf("empty tmpfs is %.2f%% used", pct)
	}
}

func TestInodesFollowFileCreation(t *testing.T) {
	mountPoint, _ := mountExt4(t, 64)
	before, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	if before.InodesTotal == 0 {
		t.Fatal("ext4 reports no inodes")
	}
	const files = 25
	for i := range files {
		writeFile(t, filepath.Join(mountPoint, fmt.Sprintf("f%d", i)), 0)
	}
	after, err := probe.Statfs(mountPoint)
	if err != nil {
		t.Fatal(err)
	}
	if used := before.InodesFree - after.InodesFree; used != files {
		t.Errorf("creating %d files used %d inodes", files, used)
	}
	if after.InodesTotal != before.InodesTotal {
		t.Errorf("inode total changed from %d to %d", before.InodesTotal, after.InodesTotal)
	}
}

func TestMissingPathIsAnError(t *testing.T) {
	_, err := probe.Statfs(filepath.Join(t.TempDir(), "not-mounted"))
	if err == nil || !strings.Contains(err.Error(), "not-mounted") {
		t.Fatalf("statfs of a missing path: got %v, want an error naming the path", err)
	}
}
