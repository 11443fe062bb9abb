package sandbox

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Images are never pulled: each is built on this machine as a Docker image
// archive (the `docker save` layout, which containerd imports with its name)
// from one layer tar, and imported into the sandbox's containerd.

// imageSpec describes a single-layer image.
type imageSpec struct {
	name       string // repository:tag
	entrypoint []string
	env        []string
	user       string
	workdir    string
}

// imageFile is one file put into an image layer built from host files.
type imageFile struct {
	path   string // inside the image, absolute
	source string // on the host; empty for a directory
	mode   int64
}

// distrolessBase is what a distroless static image carries and our static
// programs may expect: users, a writable /tmp.
func distrolessBase() []imageFile {
	return []imageFile{
		{path: "/etc/", mode: 0o755},
		{path: "/tmp/", mode: 0o1777},
	}
}

const passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
const group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"

// writeFilesLayer writes a layer tar holding files (and /etc/passwd, /etc/group).
func writeFilesLayer(path string, files []imageFile) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	mtime := time.Unix(0, 0)
	for _, file := range append(distrolessBase(), files...) {
		name := file.path[1:]
		if file.source == "" {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: file.mode, Typeflag: tar.TypeDir, ModTime: mtime}); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(file.source)
		if err != nil {
			return err
		}
		if err := writeTarFile(tw, name, file.mode, data, mtime); err != nil {
			return err
		}
	}
	for name, content := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
		if err := writeTarFile(tw, name, 0o644, []byte(content), mtime); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func writeTarFile(tw *tar.Writer, name string, mode int64, data []byte, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// writeImageArchive turns a layer tar into a `docker save` archive at out.
func writeImageArchive(out, layerPath string, spec imageSpec) error {
	layerDigest, err := fileSHA256(layerPath)
	if err != nil {
		return err
	}
	config := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": spec.entrypoint,
			"Env":        spec.env,
			"User":       spec.user,
			"WorkingDir": spec.workdir,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerDigest}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return err
	}
	configSum := sha256.Sum256(configJSON)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{spec.name}, "Layers": []string{layerDigest + "/layer.tar"},
	}})
	if err != nil {
		return err
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	mtime := time.Unix(0, 0)
	if err := writeTarFile(tw, configName, 0o644, configJSON, mtime); err != nil {
		return err
	}
	if err := writeTarFile(tw, "manifest.json", 0o644, manifest, mtime); err != nil {
		return err
	}
	layer, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	defer layer.Close()
	st, err := layer.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: layerDigest + "/layer.tar", Mode: 0o644, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, layer); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// importImage loads an image archive into the sandbox's containerd.
func (s *Sandbox) importImage(ctx context.Context, archive string) error {
	_, err := s.ctr(ctx, "images", "import", archive)
	if err != nil {
		return fmt.Errorf("import %s: %w", filepath.Base(archive), err)
	}
	return nil
}
