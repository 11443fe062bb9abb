package csidriver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fsckFixed: e2fsck exits 1 when it corrected something, which is success.
func fsckFixed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 1
}

// attach returns the loop device of file, attaching it when needed.
func attach(ctx context.Context, file string) (string, error) {
	if dev, err := loopDeviceOf(ctx, file); err != nil || dev != "" {
		return dev, err
	}
	out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup --find --show %s: %w: %s", file, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// loopDeviceOf returns the loop device backed by file, or "".
func loopDeviceOf(ctx context.Context, file string) (string, error) {
	out, err := exec.CommandContext(ctx, "losetup", "--json", "--list", "--associated", file).Output()
	if err != nil {
		return "", fmt.Errorf("losetup --associated %s: %w", file, err)
	}
	if strings.TrimSpace(string(out)) == "" {
		return "", nil
	}
	var list struct {
		Loopdevices []struct {
			Name string `json:"name"`
		} `json:"loopdevices"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return "", err
	}
	if len(list.Loopdevices) == 0 {
		return "", nil
	}
	return list.Loopdevices[0].Name, nil
}

// mounted reports whether path is a mount point.
func mounted(path string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.ReplaceAll(fields[4], `\040`, " ") == path {
			return true
		}
	}
	return false
}
