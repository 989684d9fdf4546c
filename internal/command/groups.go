package command

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
)

// errExiting is why Run starts nothing once KillAll has run.
var errExiting = errors.New("the server is exiting")

// groups is the registry of the process groups a Command started that may
// still have members. Each attempt's command leads a group of its own (its
// pid is the group's id); the group enters the registry as its leader starts
// and leaves it once kill(2) finds no process in it, zombies included, so
// that its id can no longer be another's. A group outlives its leader for as
// long as anything the leader started stays in it, which is why the id, not
// the leader, is what is killed.
//
// The registry is also what lets a reaper (Supervise) tell the leaders, whose
// exit statuses os/exec waits for, from the orphans it must reap itself.
type groups struct {
	// starting is held for reading across each Start and its registration,
	// for writing by whoever must see every leader already started: a
	// reaper about to reap a child it does not know (a leader may be a
	// zombie before its Start returns), and KillAll.
	starting sync.RWMutex
	closed   bool // set by killAll under starting: no Start after it

	mu sync.Mutex
	// running counts, by group id, the attempts whose leader os/exec has not
	// yet reaped (more than 1 only if an id is reused while an attempt
	// that held it is between its Wait and ended).
	running map[int]int
	// lingering holds the groups whose leader was reaped that may still have
	// members: SIGKILLed, not yet known empty.
	lingering map[int]struct{}

	supervised atomic.Bool // Supervise runs: each ended reaps too
	reaping    atomic.Bool // a reap is in progress

	// sup, set by Supervise before the first start, is told of every group
	// as it enters the registry and as it leaves it, under mu; nil without
	// a supervisor. supPID is its pid until it has been reaped, 0 after:
	// a child the reaper leaves to the goroutine that waits for it.
	sup    *supervisor
	supPID int
}

// KillAll sends SIGKILL to every process group a Run of c started that may
// still have members, the groups of running attempts and those whose leader
// has exited alike, and makes every later Run fail at once without starting
// anything. The server calls it on its way out (through Supervise's end),
// whatever the reason: a drain done, given up or cut short by a second
// signal, or an error after commands started, so that no process of a job
// outlives the server (the attempt is not recorded as finished, and with
// -journal it runs again at the next start). It returns how many groups it
// signaled. A nil c has none.
func (c *Command) KillAll() int {
	if c == nil {
		return 0
	}
	return c.groups.killAll()
}

func newGroups() *groups {
	return &groups{running: map[int]int{}, lingering: map[int]struct{}{}}
}

// start starts cmd, whose SysProcAttr sets Setpgid, and registers its group.
// Once killAll has run it starts nothing and returns errExiting.
func (g *groups) start(cmd *exec.Cmd) error {
	g.starting.RLock()
	defer g.starting.RUnlock()
	if g.closed {
		return errExiting
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	g.mu.Lock()
	g.running[cmd.Process.Pid]++
	g.sup.add(cmd.Process.Pid)
	g.mu.Unlock()
	return nil
}

// ended records that os/exec has reaped the leader of group pgid. It
// SIGKILLs whatever the command left in its group (a job's processes do not
// outlive its attempt) and, if anything was, keeps the group as lingering
// until it is known empty. (If nothing was, the id was free from the
// leader's reaping to this SIGKILL: another group could take it only if the
// kernel's pids wrapped around onto it within those microseconds.)
func (g *groups) ended(pgid int) {
	g.mu.Lock()
	if g.running[pgid]--; g.running[pgid] <= 0 {
		delete(g.running, pgid)
	}
	g.sweepLocked()
	switch {
	case killGroup(pgid, syscall.SIGKILL) != os.ErrProcessDone:
		g.lingering[pgid] = struct{}{} // dying: forgotten once reaped
	case g.running[pgid] == 0:
		delete(g.lingering, pgid)
		g.sup.forget(pgid)
	}
	g.mu.Unlock()
	if g.supervised.Load() {
		g.reap() // the orphans of attempts ended before: this one's are dying
	}
}

// sweepLocked forgets the lingering groups that have no process left,
// zombies included: their ids are free to be reused. g.mu is held.
func (g *groups) sweepLocked() {
	for pgid := range g.lingering {
		if _, ok := g.running[pgid]; ok {
			continue // reused by a new attempt: its entry is the running one
		}
		if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
			delete(g.lingering, pgid)
			g.sup.forget(pgid)
		}
	}
}

// killAll makes every later start fail, then SIGKILLs every registered
// group, running or lingering. It returns how many groups it signaled.
func (g *groups) killAll() int {
	g.starting.Lock()
	g.closed = true // every Start in flight has registered its group
	g.starting.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for pgid := range g.running {
		if killGroup(pgid, syscall.SIGKILL) == nil {
			n++
		}
	}
	for pgid := range g.lingering {
		if _, ok := g.running[pgid]; !ok && killGroup(pgid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// live returns how many groups may still have members, after sweeping the
// lingering ones.
func (g *groups) live() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweepLocked()
	n := len(g.running)
	for pgid := range g.lingering {
		if _, ok := g.running[pgid]; !ok {
			n++
		}
	}
	return n
}
