//go:build images

// Package images checks the image archives `make images` writes under
// bin/images (run it with `make test-images`, which builds them first). It
// reads the archives as a container runtime would: the OCI index of each
// image must hold linux/amd64 and linux/arm64, each with a static binary of
// the right machine as its entrypoint and a non-root user; the single-arch
// docker-archive must carry the image's name for `ctr images import`.
//
// Missing archives are a failure, not a skip: this test exists to prove them.
package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// wantPlatforms are the architectures of every image (DESIGN §2).
var wantPlatforms = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

const nonRootUser = "65532:65532"

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type index struct {
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

type imageConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Config       struct {
		User       string   `json:"User"`
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
	} `json:"config"`
}

// archive is a tar file read into memory by entry name (images are small).
type archive map[string][]byte

func readTar(t *testing.T, r io.Reader) archive {
	t.Helper()
	files := archive{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = data
	}
}

func openArchive(t *testing.T, path string) archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v: run `make images` (or `make test-images`, which builds them first)", err)
	}
	defer f.Close()
	return readTar(t, f)
}

func (a archive) blob(t *testing.T, digest string) []byte {
	t.Helper()
	data, ok := a["blobs/"+strings.Replace(digest, ":", "/", 1)]
	if !ok {
		t.Fatalf("blob %s is not in the archive", digest)
	}
	return data
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

// builtImages reads bin/images/images.env: the names `make images` built.
func builtImages(t *testing.T, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "images.env"))
	if err != nil {
		t.Fatalf("%v: run `make images`", err)
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"IMAGE_TAG", "CONTROLLER_IMAGE", "SIDECAR_IMAGE"} {
		if env[k] == "" {
			t.Fatalf("images.env lacks %s: %v", k, env)
		}
	}
	return env
}

// checkBinary finds the entrypoint in the image's layers and checks it is a
// static ELF executable for the machine.
func checkBinary(t *testing.T, layers [][]byte, gzipped bool, path string, machine elf.Machine) {
	t.Helper()
	var found []byte
	for _, layer := range layers {
		var r io.Reader = bytes.NewReader(layer)
		if gzipped {
			gz, err := gzip.NewReader(r)
			if err != nil {
				t.Fatalf("layer: %v", err)
			}
			r = gz
		}
		if data, ok := readTar(t, r)[strings.TrimPrefix(path, "/")]; ok {
			found = data
		}
	}
	if found == nil {
		t.Fatalf("entrypoint %s is not in the image's layers", path)
	}
	exe, err := elf.NewFile(bytes.NewReader(found))
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", path, err)
	}
	if exe.Machine != machine {
		t.Errorf("%s is built for %s, want %s", path, exe.Machine, machine)
	}
	for _, p := range exe.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%s): build with CGO_ENABLED=0", path, p.Type)
		}
	}
}

func checkConfig(t *testing.T, cfg imageConfig, arch, binary string) {
	t.Helper()
	if cfg.OS != "linux" || cfg.Architecture != arch {
		t.Errorf("config is %s/%s, want linux/%s", cfg.OS, cfg.Architecture, arch)
	}
	if cfg.Config.User != nonRootUser {
		t.Errorf("user %q, want %q (non-root)", cfg.Config.User, nonRootUser)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/" + binary}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/%s] and no cmd", cfg.Config.Entrypoint, cfg.Config.Cmd, binary)
	}
}

func TestImageArchives(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "bin", "images")
	env := builtImages(t, dir)
	for _, binary := range []string{"controller", "sidecar"} {
		name := env[strings.ToUpper(binary)+"_IMAGE"]
		if !strings.HasSuffix(name, ":"+env["IMAGE_TAG"]) {
			t.Errorf("%s is not tagged %s", name, env["IMAGE_TAG"])
		}
		base := filepath.Join(dir, "cnpg-storage-autoscaler-"+binary)

		t.Run(binary+" OCI index", func(t *testing.T) {
			oci := openArchive(t, base+".oci.tar")
			if !strings.Contains(string(oci["oci-layout"]), `"imageLayoutVersion"`) {
				t.Fatal("not an OCI image layout: no oci-layout file")
			}
			top := decode[index](t, oci["index.json"])
			if len(top.Manifests) != 1 || top.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != name {
				t.Fatalf("index.json should name one image %s: %+v", name, top.Manifests)
			}
			descriptors := []descriptor{top.Manifests[0]}
			if strings.HasSuffix(top.Manifests[0].MediaType, "index.v1+json") {
				descriptors = decode[index](t, oci.blob(t, top.Manifests[0].Digest)).Manifests
			}
			seen := map[string]bool{}
			for _, d := range descriptors {
				if d.Platform == nil || d.Platform.OS != "linux" {
					t.Errorf("manifest %s has platform %+v", d.Digest, d.Platform)
					continue
				}
				arch := d.Platform.Architecture
				machine, wanted := wantPlatforms[arch]
				if !wanted || seen[arch] {
					t.Errorf("unexpected or repeated platform linux/%s", arch)
					continue
				}
				seen[arch] = true
				m := decode[manifest](t, oci.blob(t, d.Digest))
				checkConfig(t, decode[imageConfig](t, oci.blob(t, m.Config.Digest)), arch, binary)
				var layers [][]byte
				for _, l := range m.Layers {
					layers = append(layers, oci.blob(t, l.Digest))
				}
				checkBinary(t, layers, true, "/"+binary, machine)
			}
			for arch := range wantPlatforms {
				if !seen[arch] {
					t.Errorf("the index lacks linux/%s", arch)
				}
			}
		})

		t.Run(binary+" docker-archive", func(t *testing.T) {
			docker := openArchive(t, base+".docker.tar")
			entries := decode[[]struct {
				Config   string
				RepoTags []string
				Layers   []string
			}](t, docker["manifest.json"])
			if len(entries) != 1 || !slices.Equal(entries[0].RepoTags, []string{name}) {
				t.Fatalf("manifest.json should name one image %s: %+v", name, entries)
			}
			arch := goruntime.GOARCH
			checkConfig(t, decode[imageConfig](t, docker[entries[0].Config]), arch, binary)
			var layers [][]byte
			for _, l := range entries[0].Layers {
				data, ok := docker[l]
				if !ok {
					t.Fatalf("layer %s is missing", l)
				}
				layers = append(layers, data)
			}
			checkBinary(t, layers, false, "/"+binary, wantPlatforms[arch])
		})
	}
	t.Logf("checked %s and %s", env["CONTROLLER_IMAGE"], env["SIDECAR_IMAGE"])
}
