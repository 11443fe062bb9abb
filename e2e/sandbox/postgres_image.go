package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The PostgreSQL image: Debian bookworm with Debian's PostgreSQL 15, meeting
// CNPG's image contract (FACTS.md): user postgres with uid/gid 26, the
// PostgreSQL bin directory on PATH, a tag that parses as a version.
// barman-cli-cloud provides barman-cloud-wal-archive, which CNPG runs when a
// backup target is configured: the E2E suite breaks archiving through it.
const (
	postgresMajor    = "15"
	postgresRecipe   = "bookworm-minbase-postgresql-15-locales-all-barman-cli-cloud-v1"
	postgresPackages = "postgresql-15,locales-all,barman-cli-cloud"
)

func (s *Sandbox) postgresImage(version string) sandboxImage {
	img := sandboxImage{
		spec: imageSpec{
			name: imageRepo + "postgresql:" + version,
			env: []string{
				"PATH=/usr/lib/postgresql/" + postgresMajor + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"LANG=C.UTF-8",
			},
			user: "26:26",
		},
		key: "postgresql-" + version + "-" + postgresRecipe,
	}
	img.layer = func(ctx context.Context, path string) error { return s.postgresLayer(ctx, path) }
	return img
}

// postgresLayer debootstraps the rootfs and tars it into one layer.
func (s *Sandbox) postgresLayer(ctx context.Context, path string) error {
	mirror, err := aptMirror()
	if err != nil {
		return err
	}
	rootfs := path + ".rootfs"
	defer os.RemoveAll(rootfs)
	if err := run(ctx, "debootstrap", "--variant=minbase", "--include="+postgresPackages,
		"bookworm", rootfs, mirror); err != nil {
		return fmt.Errorf("debootstrap (Debian package debootstrap): %w", err)
	}
	// Debian's gid 26 is "tape"; CNPG wants postgres at 26:26.
	steps := [][]string{
		{"groupdel", "tape"},
		{"groupmod", "-g", "26", "postgres"},
		{"usermod", "-u", "26", "-g", "26", "postgres"},
	}
	for _, step := range steps {
		if err := run(ctx, "chroot", append([]string{rootfs}, step...)...); err != nil {
			return err
		}
	}
	// Debian's packaging made a default cluster and owns a few paths by the
	// old ids; CNPG creates its own cluster under its own directories.
	for _, dir := range []string{"var/lib/postgresql", "var/run/postgresql", "var/log/postgresql", "etc/postgresql"} {
		_ = run(ctx, "chroot", rootfs, "chown", "-R", "26:26", "/"+dir)
	}
	_ = os.RemoveAll(filepath.Join(rootfs, "var/lib/postgresql", postgresMajor))
	_ = os.RemoveAll(filepath.Join(rootfs, "etc/postgresql", postgresMajor))
	for _, dir := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"} {
		entries, _ := os.ReadDir(filepath.Join(rootfs, dir))
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(rootfs, dir, e.Name()))
		}
	}
	return run(ctx, "tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-cf", path, ".")
}

// postgresVersion is the PostgreSQL version Debian's mirror serves (what
// debootstrap will install): "15.18" for 15.18-0+deb12u1.
func postgresVersion(ctx context.Context) (string, error) {
	out, err := output(ctx, "apt-cache", "show", "--no-all-versions", "postgresql-"+postgresMajor)
	if err != nil {
		return "", fmt.Errorf("ask apt for postgresql-%s (run apt-get update?): %w", postgresMajor, err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Version: "); ok {
			v, _, _ = strings.Cut(v, "-")
			return v, nil
		}
	}
	return "", fmt.Errorf("apt-cache show postgresql-%s: no version", postgresMajor)
}
