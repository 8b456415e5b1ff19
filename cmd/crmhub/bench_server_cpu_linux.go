//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100
// on every Linux architecture Go runs on.
const clockTicks = 100

// serverCPU is the CPU time a local database server has used so far: its
// process pid (PostgreSQL's postmaster) with the children it has reaped,
// and its live children (PostgreSQL's backends and workers). A hub
// process's own CPU leaves out the work it hands the server, which on
// PostgreSQL is where most of a store's work runs.
func serverCPU(pid int) (time.Duration, error) {
	own, _, err := procTimes(pid, true)
	if err != nil {
		return 0, fmt.Errorf("server process %d: %w", pid, err)
	}
	total := own
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	for _, p := range paths {
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || child == pid {
			continue
		}
		t, parent, err := procTimes(child, true)
		if err != nil || parent != pid {
			continue // gone since the listing, or not the server's
		}
		total += t
	}
	return total, nil
}

// procTimes reads a process's user and system time from /proc, with its
// reaped children's when children is set, and its parent's pid.
func procTimes(pid int, children bool) (time.Duration, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	t, ppid, err := parseProcStat(string(b), children)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return t, ppid, nil
}

// parseProcStat reads the times and the parent's pid from the text of a
// /proc/<pid>/stat (proc(5)).
func parseProcStat(s string, children bool) (time.Duration, int, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start past its last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("%d fields", len(f)+2)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("ppid: %w", err)
	}
	n := 2
	if children {
		n = 4
	}
	var ticks int64
	for _, v := range f[11 : 11+n] {
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("times: %w", err)
		}
		ticks += t
	}
	return time.Duration(ticks) * time.Second / clockTicks, ppid, nil
}
