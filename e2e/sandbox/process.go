package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one supervised host program: a binary, its arguments, a log
// file and a readiness check. It runs in a session of its own so that it
// outlives the `sandbox up` that started it.
type process struct {
	name  string
	bin   string
	args  []string
	env   []string
	ready func(ctx context.Context) error
}

// start launches p, records it in the state file and waits until it is
// ready, showing the tail of its log when it is not.
func (s *Sandbox) start(ctx context.Context, p process) error {
	if err := os.MkdirAll(filepath.Dir(s.layout.logFile(p.name)), 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.layout.logFile(p.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	pid := cmd.Process.Pid
	// Reap it in the background so a process that dies early is seen as
	// dead rather than as a zombie that still answers to kill(pid, 0).
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	s.state.Processes = append(s.state.Processes, processRecord{Name: p.name, PID: pid, Exe: p.bin})
	if err := saveState(s.layout, s.state); err != nil {
		return err
	}
	if p.ready == nil {
		return nil
	}
	readyCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	err = poll(readyCtx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("%s exited: %v\n%s", p.name, err, tail(s.layout.logFile(p.name), 20))
		default:
		}
		return p.ready(ctx) == nil, nil
	})
	if err != nil {
		lastErr := p.ready(ctx)
		return fmt.Errorf("%s not ready: %w (last check: %v)\n%s", p.name, err, lastErr, tail(s.layout.logFile(p.name), 20))
	}
	return nil
}

// poll calls check every interval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, check func(context.Context) (bool, error)) error {
	for {
		done, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// stopProcess sends SIGTERM, waits up to grace, then SIGKILLs.
func stopProcess(pid int, grace time.Duration) {
	if pid <= 1 || !alive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 40 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the command name in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// processesMatching lists running processes whose executable lies under one
// of dirs, or whose command line mentions one of marks: how `down` finds
// what a crashed `up` left behind without trusting any memory.
func processesMatching(dirs []string, marks []string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if matches(exe, string(cmdline), dirs, marks) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func matches(exe, cmdline string, dirs, marks []string) bool {
	for _, d := range dirs {
		if exe != "" && strings.HasPrefix(exe, d+string(os.PathSeparator)) {
			return true
		}
	}
	for _, m := range marks {
		if strings.Contains(cmdline, m) {
			return true
		}
	}
	return false
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- last lines of " + path + ":\n" + strings.Join(lines, "\n")
}
