package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// The sandbox's images. Names live under localhost/ so that nothing ever
// mistakes them for something a registry could serve.
const (
	imageRepo  = "localhost/pgstorage-sandbox/"
	pauseImage = imageRepo + "pause:3.10"
)

// sandboxImage is one image: its name and how to build its layer.
type sandboxImage struct {
	spec  imageSpec
	key   string // cache key: changes when the inputs change
	layer func(ctx context.Context, path string) error
}

func (s *Sandbox) images(ctx context.Context) ([]sandboxImage, error) {
	cnpgVersion, err := s.layout.moduleVersion(ctx, "cnpg", "github.com/cloudnative-pg/cloudnative-pg")
	if err != nil {
		return nil, err
	}
	corednsVersion, err := s.layout.moduleVersion(ctx, "coredns", "github.com/coredns/coredns")
	if err != nil {
		return nil, err
	}
	pgVersion, err := postgresVersion(ctx)
	if err != nil {
		return nil, err
	}
	s.postgresImageName = imageRepo + "postgresql:" + pgVersion
	s.cnpgImage = imageRepo + "cloudnative-pg:" + strings.TrimPrefix(cnpgVersion, "v")
	s.corednsImage = imageRepo + "coredns:" + strings.TrimPrefix(corednsVersion, "v")
	return []sandboxImage{
		{
			spec: imageSpec{name: pauseImage, entrypoint: []string{"/pause"}, user: "65535:65535"},
			key:  "pause-" + s.tools["kubernetes"],
			layer: func(ctx context.Context, path string) error {
				return s.pauseLayer(ctx, path)
			},
		},
		{
			// CNPG's image contract (its own Dockerfile): /manager, which an
			// init container of every instance pod copies into the pod, and
			// /operator/manager_<arch>, which the operator serves to instances
			// and without which it refuses to report a Cluster's status
			// ("invalid architecture").
			spec: imageSpec{name: s.cnpgImage, entrypoint: []string{"/manager"}, user: "10001:10001", workdir: "/"},
			key:  "cnpg-v2-" + s.tools["cnpg"],
			layer: func(_ context.Context, path string) error {
				manager := filepath.Join(s.tools["cnpg"], "manager")
				return writeFilesLayer(path, []imageFile{
					{path: "/manager", source: manager, mode: 0o755},
					{path: "/operator/", mode: 0o755},
					{path: "/operator/manager_" + runtime.GOARCH, source: manager, mode: 0o755},
				})
			},
		},
		{
			spec: imageSpec{name: s.corednsImage, entrypoint: []string{"/coredns"}, user: "65532:65532"},
			key:  "coredns-" + s.tools["coredns"],
			layer: func(_ context.Context, path string) error {
				return writeFilesLayer(path, []imageFile{{path: "/coredns", source: filepath.Join(s.tools["coredns"], "coredns"), mode: 0o755}})
			},
		},
		s.postgresImage(pgVersion),
	}, nil
}

// ensureImages builds the images that are not cached and imports them all.
func (s *Sandbox) ensureImages(ctx context.Context) error {
	images, err := s.images(ctx)
	if err != nil {
		return err
	}
	for _, img := range images {
		archive, err := s.buildArchive(ctx, img)
		if err != nil {
			return err
		}
		if err := s.importImage(ctx, archive); err != nil {
			return err
		}
	}
	return nil
}

// buildArchive builds an image's archive unless it is cached, and returns
// its path.
func (s *Sandbox) buildArchive(ctx context.Context, img sandboxImage) (string, error) {
	if err := os.MkdirAll(s.layout.imageDir(), 0o755); err != nil {
		return "", err
	}
	archive := filepath.Join(s.layout.imageDir(), sanitize(img.key)+".tar")
	if exists(archive) {
		return archive, nil
	}
	fmt.Fprintf(s.out, "   building image %s\n", img.spec.name)
	layer := archive + ".layer"
	if err := img.layer(ctx, layer); err != nil {
		return "", fmt.Errorf("image %s: %w", img.spec.name, err)
	}
	err := writeImageArchive(archive, layer, img.spec)
	os.Remove(layer)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.spec.name, err)
	}
	return archive, nil
}

// buildToolsBesideThePostgresImage builds the tools and, at the same time,
// the PostgreSQL image, which needs none of them: debootstrap waits on the
// Debian mirror and the disk while the compiler wants the CPU.
func (s *Sandbox) buildToolsBesideThePostgresImage(ctx context.Context) error {
	out := s.out
	s.out = &lockedWriter{w: out}
	defer func() { s.out = out }()
	image := make(chan error, 1)
	go func() {
		version, err := postgresVersion(ctx)
		if err == nil {
			_, err = s.buildArchive(ctx, s.postgresImage(version))
		}
		image <- err
	}()
	return errors.Join(s.buildTools(ctx), <-image)
}

// lockedWriter serialises the progress lines of work done side by side.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pauseLayer compiles Kubernetes' own pause.c, statically.
func (s *Sandbox) pauseLayer(ctx context.Context, path string) error {
	src, err := s.layout.moduleDir(ctx, "kubernetes", "k8s.io/kubernetes")
	if err != nil {
		return err
	}
	bin := path + ".pause"
	defer os.Remove(bin)
	if err := run(ctx, "gcc", "-Os", "-Wall", "-Werror", "-static", "-DVERSION=v3.10-pgstorage-sandbox",
		"-o", bin, filepath.Join(src, "build", "pause", "linux", "pause.c")); err != nil {
		return fmt.Errorf("compile pause.c (needs Debian's gcc and libc6-dev): %w", err)
	}
	return writeFilesLayer(path, []imageFile{{path: "/pause", source: bin, mode: 0o755}})
}

func sanitize(s string) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(s)
}

// aptMirror is the first Debian mirror apt is configured with here.
func aptMirror() (string, error) {
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	sources, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	candidates := append(append([]string{"/etc/apt/sources.list"}, lists...), sources...)
	for _, file := range candidates {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			// One-line format: deb [options] URI suite components
			if fields := strings.Fields(line); len(fields) >= 3 && fields[0] == "deb" {
				for _, field := range fields[1:] {
					if strings.HasPrefix(field, "http") && !strings.Contains(field, "security") {
						f.Close()
						return field, nil
					}
				}
			}
			// deb822 format: URIs: ...
			if rest, ok := strings.CutPrefix(line, "URIs:"); ok {
				for _, uri := range strings.Fields(rest) {
					if !strings.Contains(uri, "security") {
						f.Close()
						return uri, nil
					}
				}
			}
		}
		f.Close()
	}
	return "", fmt.Errorf("no Debian mirror found in /etc/apt/sources.list*")
}
