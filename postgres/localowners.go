package postgres

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The owners file lists the Imprint processes that use a private server, one
// "pid start-time" line each (start-time from /proc, so that a reused pid
// does not pass for the process that died; "-" where there is no /proc).
// Changes to it, and starting and stopping the server, happen under an
// exclusive lock on the lock file beside it.

// lock takes the lock of l's directory, waiting for it, and returns its
// release. The kernel releases it if the process dies.
func (l *Local) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(l.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the private PostgreSQL's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the private PostgreSQL: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (l *Local) ownersFile() string { return filepath.Join(l.dir, "owners") }

// liveOwners returns the lines of the owners file whose processes live.
func (l *Local) liveOwners() []string {
	b, err := os.ReadFile(l.ownersFile())
	if err != nil {
		return nil
	}
	var live []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && ownerAlive(line) {
			live = append(live, line)
		}
	}
	return live
}

// addOwner records l as a user of the server, beside the live owners.
func (l *Local) addOwner(owners []string) error {
	pid := os.Getpid()
	start := processStart(pid)
	if start == "" {
		start = "-"
	}
	l.owner = strconv.Itoa(pid) + " " + start
	return l.writeOwners(append(owners, l.owner))
}

// removeOwner takes l off the owners file and returns the live owners left.
func (l *Local) removeOwner() ([]string, error) {
	owners := l.liveOwners()
	for i, o := range owners {
		if o == l.owner {
			owners = append(owners[:i], owners[i+1:]...)
			break
		}
	}
	l.owner = ""
	if len(owners) == 0 {
		if err := os.Remove(l.ownersFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	return owners, l.writeOwners(owners)
}

func (l *Local) writeOwners(owners []string) error {
	if err := os.WriteFile(l.ownersFile(), []byte(strings.Join(owners, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the private PostgreSQL's users: %w", err)
	}
	return nil
}

// ownerAlive reports whether the process an owners line names still runs.
// A zombie (killed, not yet reaped) does not.
func ownerAlive(line string) bool {
	pidText, start, _ := strings.Cut(line, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, now := procStat(pid)
	if state == "Z" || state == "X" {
		return false
	}
	return start == "-" || start == "" || now == "" || now == start
}

// processStart returns the start time of process pid in clock ticks since
// boot, or "" where it cannot be read.
func processStart(pid int) string {
	_, start := procStat(pid)
	return start
}

// procStat returns the state (field 3 of /proc/<pid>/stat) and start time
// (field 22) of process pid, or "" for what cannot be read.
func procStat(pid int) (state, start string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", ""
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", ""
	}
	return f[0], f[19]
}
