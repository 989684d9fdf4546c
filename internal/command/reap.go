package command

// The server as its commands' reaper: Supervise.

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// exitKillWait bounds how long Supervise's end waits, after KillAll, for
// the killed groups to be gone: SIGKILL takes effect at once, but a process
// in uninterruptible sleep (D state) dies only when its I/O completes.
const exitKillWait = time.Second

// reapEvery is how often Supervise looks for orphans to reap besides the end
// of each attempt: when no attempt ends, an orphan that exits on its own
// stays a zombie at most this long.
const reapEvery = 100 * time.Millisecond

// prctl(2) options, from linux/prctl.h; package syscall lacks them.
const (
	prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER
	prGetChildSubreaper = 37 // PR_GET_CHILD_SUBREAPER
)

// Supervise makes the process the reaper of what its commands orphan,
// starts its supervisor, and returns end, which calls KillAll, waits up to a
// second for the killed groups to be gone, stops the supervisor and stops
// reaping. Call it once, before the first Run; a nil c returns an end that
// does nothing.
//
// The supervisor is this binary again, in a hidden mode (supervisor.go), to
// which every attempt's process group is told as soon as its Start returns
// and which SIGKILLs every group still alive when the server dies, even by
// kill -9: the kernel closes the server's end of their pipe, and the
// supervisor reads end of file. So no process of a command outlives the
// server, its children and theirs included, as long as they stay in the
// command's group. The one window is between the command's execve and the
// write of its group to the supervisor, once its Start has returned: a
// process the command forks within it, if the server dies within it too, is
// not killed (the command itself is, by Pdeathsig). The window is as long
// as the worker's goroutine takes to be scheduled again after the fork:
// microseconds on an idle machine, but milliseconds under load (on a 2-core
// VM at load 8, `date` ran its own code before its registration in 30 % of
// 2,000 starts, by 7.9 ms at the 99th percentile). If the supervisor cannot be
// started, or is lost later, warn is called, once, and the server runs on
// without it: every exit the server controls still kills every group
// (KillAll), and a kill -9 still kills each command itself (Pdeathsig).
// warn must not block; nil is a warn that does nothing.
//
// A process whose parent exits is reparented to the nearest ancestor that
// is a child subreaper, or to PID 1 of its PID namespace; either must reap
// it (wait for it) or it stays a zombie, holding its pid, until the pids or
// the process table run out. In a container without an init the server is
// PID 1, and every process a command leaves behind (a `sleep &` in its
// script, killed with its group when the attempt ends, or a daemon that left
// the group with setsid) becomes its zombie. Supervise therefore reaps
// every child that has exited except the leaders of running attempts, whose
// statuses os/exec waits for: it peeks at a child with waitid(WNOWAIT),
// which leaves it waitable, and reaps only a pid the registry does not know
// as a leader, taking the registry's start lock first so that a leader whose
// Start has not yet returned is known. It does so as each attempt ends (the
// orphans of earlier attempts: those of this one are still dying of their
// SIGKILL), on the worker's goroutine, and every reapEvery for orphans that
// exit while no attempt ends. Not on SIGCHLD: every attempt's exit would
// raise one and wake two goroutines for it (os/signal's and the reaper's),
// where a pass at the attempt's end, on a goroutine already running, costs
// one waitid (BenchmarkCommandTrueSupervised).
//
// Supervise also makes the process a child subreaper
// (PR_SET_CHILD_SUBREAPER), even when it is not PID 1, so that the orphans
// of its commands are its own to reap, wherever it runs: the last member of
// a killed group is then reaped by the server itself, which forgets the
// group at that moment, before its id can be reused by anyone else's, and
// KillAll can never signal a stranger's group; and no outer init that may
// not reap (a shell as PID 1) is left their zombies. end clears the
// attribute again if Supervise set it.
//
// While Supervise runs, the process must start no child except through c:
// the reaper would reap it, and its Wait would fail with ECHILD.
func (c *Command) Supervise(warn func(error)) (end func()) {
	if c == nil {
		return func() {}
	}
	if warn == nil {
		warn = func(error) {}
	}
	g := c.groups
	var was int32
	prctl(prGetChildSubreaper, uintptr(unsafe.Pointer(&was)))
	set := was == 0 && prctl(prSetChildSubreaper, 1) == nil
	sup, err := startSupervisor(warn, g.trackSupervisor)
	if err != nil {
		warn(fmt.Errorf("cannot start the supervisor: %w", err))
	}
	g.sup = sup

	g.supervised.Store(true)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(reapEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				g.reap()
			case <-quit:
				return
			}
		}
	}()
	return func() {
		g.killAll()
		deadline := time.Now().Add(exitKillWait)
		for g.reap(); g.live() > 0 && time.Now().Before(deadline); g.reap() {
			time.Sleep(5 * time.Millisecond)
		}
		g.mu.Lock()
		g.sup.closeLocked()
		g.mu.Unlock()
		g.sup.await(exitKillWait)
		close(quit)
		<-done
		g.supervised.Store(false)
		if set {
			prctl(prSetChildSubreaper, 0)
		}
	}
}

// reap reaps every child that has exited and is not a leader os/exec waits
// for, unless another reap is at it. It stops at the first leader it finds:
// waitid would return that child again until it is reaped, which its Run
// does at once, and then reaps on.
func (g *groups) reap() {
	if !g.reaping.CompareAndSwap(false, true) {
		return // that one goes on until no child is left to reap
	}
	defer g.reaping.Store(false)
	for {
		pid, err := exitedChild()
		if err != nil || pid == 0 {
			return // ECHILD (no child at all), or no child has exited
		}
		if g.leader(pid) {
			return
		}
		// Not a leader it knows, but maybe one whose Start has not yet
		// returned: starting waits for every Start in flight to register.
		g.starting.Lock()
		g.mu.Lock()
		leader := g.waitedLocked(pid)
		if !leader {
			var ws syscall.WaitStatus
			for {
				_, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
				if err != syscall.EINTR {
					break
				}
			}
			g.sweepLocked() // pid may have been a group's last member
		}
		g.mu.Unlock()
		g.starting.Unlock()
		if leader {
			return
		}
	}
}

// leader reports whether pid is a child another goroutine waits for: the
// leader of a group that os/exec will reap, or the supervisor.
func (g *groups) leader(pid int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waitedLocked(pid)
}

// waitedLocked is leader with g.mu held.
func (g *groups) waitedLocked(pid int) bool {
	return g.running[pid] > 0 || (pid == g.supPID && pid != 0)
}

// trackSupervisor records the supervisor's pid as it starts, and 0 once it
// has been reaped: its pid is then free to be reused, by an orphan the
// reaper must reap.
func (g *groups) trackSupervisor(pid int) {
	g.mu.Lock()
	g.supPID = pid
	g.mu.Unlock()
}

// siginfo is the start of Linux's siginfo_t as waitid fills it in for a
// child: si_pid follows three ints, and on 64-bit hosts a padding int (as in
// internal/syscall/unix.SiginfoChild); 128 bytes in all.
type siginfo struct {
	signo, errno, code int32
	_                  [unsafe.Sizeof(uintptr(0))/4 - 1]int32
	pid                int32
	_                  [128 - 4*(3+unsafe.Sizeof(uintptr(0))/4-1) - 4]byte
}

// exitedChild returns the pid of a child of the process that has exited and
// not been reaped, leaving it so (waitid with WNOWAIT), or 0 if there is
// none.
func exitedChild() (int, error) {
	const pAll = 0 // idtype_t P_ALL
	for {
		var info siginfo
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pAll, 0, uintptr(unsafe.Pointer(&info)),
			syscall.WEXITED|syscall.WNOHANG|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return int(info.pid), nil
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}

// prctl calls prctl(2) with option and arg.
func prctl(option int, arg uintptr) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, uintptr(option), arg, 0); e != 0 {
		return os.NewSyscallError("prctl", e)
	}
	return nil
}
