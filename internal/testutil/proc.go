package testutil

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// Process is a process as /proc shows it.
type Process struct {
	PID, PPID, PGID int
	State           string // one letter: R, S, D, Z (a zombie), X (dead), ...
}

// ReadProc reads /proc/<pid>/stat: "pid (comm) state ppid pgrp ...". It
// reports false if the process is gone or its stat cannot be read.
func ReadProc(pid int) (Process, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Process{}, false
	}
	i := bytes.LastIndexByte(b, ')') // comm may hold spaces and parentheses
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 3 {
		return Process{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	return Process{PID: pid, PPID: ppid, PGID: pgid, State: f[0]}, true
}

// PollUntil calls cond, every 10 ms, until it returns true or deadline
// passes, and reports whether it returned true. It is for waiting on other
// processes only.
func PollUntil(deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
