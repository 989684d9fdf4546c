package command

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultKillDelay is how long a command's process group has between SIGTERM
// and SIGKILL (SPEC "(v2) Real work").
const defaultKillDelay = 5 * time.Second

// The variables through which a job reaches its command (SPEC "(v2) Real work").
const (
	envJobID   = "WORKQUEUE_JOB_ID"
	envName    = "WORKQUEUE_NAME"
	envAttempt = "WORKQUEUE_ATTEMPT"
)

// Command is the work of `workqueue -- COMMAND [ARG...]`: every attempt of a
// job runs Path with Args, without a shell, in a process group of its own.
// Build one with New; it is safe for concurrent use by many workers.
//
// The job reaches the command only through its environment and its standard
// input, never through its arguments, so that no name can become an option
// or a shell word:
//   - the environment is the server's own, with WORKQUEUE_JOB_ID,
//     WORKQUEUE_NAME and WORKQUEUE_ATTEMPT (1, 2, ...) set to the job's
//     (any inherited values of these three are dropped);
//   - standard input holds the name followed by one newline, so that a
//     script can `read -r name` (the server rejects names holding control
//     characters, so the first line is the whole name), then end of file.
//
// Standard output and error go together into one pipe, of which Run keeps the
// last OutputLimit bytes; nothing reaches the server's own output.
//
// Stopping: when ctx is canceled or Timeout passes, the whole process group
// gets SIGTERM and, 5 s later, SIGKILL. When the command itself exits,
// whatever it left running in its group is killed at once with SIGKILL: a
// job's processes never outlive its attempt. When the server exits, KillAll
// SIGKILLs every group still alive, and Supervise reaps what the commands
// orphan. If the server dies, even by SIGKILL, the kernel kills the command
// (Pdeathsig), and the supervisor that Supervise starts kills its whole
// group; see Run and Supervise for the limits.
type Command struct {
	Path    string        // the command as given, shown in errors
	Args    []string      // its arguments, after Path
	Timeout time.Duration // longest one attempt may run (-job-timeout); 0 for no limit

	killWait time.Duration // from SIGTERM to SIGKILL of the group; 5 s if 0
	path     string        // Path resolved through $PATH once, by New
	env      []string      // os.Environ() without the job's variables, built once
	groups   *groups       // the process groups of its attempts that may have members
}

// Job is what one attempt of a job tells its command.
type Job struct {
	ID      string // WORKQUEUE_JOB_ID
	Name    string // WORKQUEUE_NAME, and standard input
	Attempt int    // WORKQUEUE_ATTEMPT: 1 for the first run, 2 for the first retry, ...
	// Timeout is the job's own longest attempt (its timeout); 0 for the
	// Command's Timeout (-job-timeout).
	Timeout time.Duration
}

// New returns the Command that runs argv[0] with arguments argv[1:],
// stopping an attempt after timeout (0 for never). It looks argv[0] up in
// $PATH once, now; it returns an error a user can act on if argv is empty or
// argv[0] cannot be found or is not executable.
func New(argv []string, timeout time.Duration) (*Command, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no COMMAND after --")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, startError(argv[0], err)
	}
	return &Command{
		Path:     argv[0],
		Args:     argv[1:],
		Timeout:  timeout,
		killWait: defaultKillDelay,
		path:     path,
		env:      baseEnv(os.Environ()),
		groups:   newGroups(),
	}, nil
}

// baseEnv returns environ without the variables that carry a job, with room
// for them at the end.
func baseEnv(environ []string) []string {
	env := make([]string, 0, len(environ)+3)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if k != envJobID && k != envName && k != envAttempt {
			env = append(env, kv)
		}
	}
	return env
}

// TimeoutError is the error of an attempt stopped because it ran longer than
// Command.Timeout (-job-timeout). Callers tell it apart from other failures
// with errors.As, to count outcome="timeout": for a *TimeoutError, or, not to
// import this package, for an interface{ Timeout() bool } whose Timeout
// reports true, as with net.Error.
type TimeoutError struct {
	Limit time.Duration // the Command.Timeout, or the job's own, that passed
	Ended string        // how the command ended: "killed by SIGTERM", "exit status 143", ...
	Own   bool          // whether Limit was the job's own timeout, not -job-timeout
}

// Error returns, for example, "killed by SIGKILL after -job-timeout 30s", or
// "... after timeout 30s" for a job's own.
func (e *TimeoutError) Error() string {
	if e.Own {
		return e.Ended + " after timeout " + e.Limit.String()
	}
	return e.Ended + " after -job-timeout " + e.Limit.String()
}

// Timeout reports true: the attempt ran out of time.
func (e *TimeoutError) Timeout() bool { return true }

// errTimedOut is the cause of the context that Timeout cancels.
var errTimedOut = errors.New("job timeout")

// Run runs one attempt of job and returns the last OutputLimit bytes of what
// the command wrote to its standard output and error, whether older bytes
// were cut, and the attempt's outcome:
//   - nil when the command exited with status 0;
//   - "exit status N", or "killed by SIGNAME" when a signal ended it;
//   - a *TimeoutError when Timeout passed, whatever the command then did;
//   - context.Cause(ctx) when ctx was canceled while the command ran;
//   - "cannot start: PATH: REASON" when it could not be started, REASON
//     being "the server is exiting" once KillAll has run.
//
// Pdeathsig makes the kernel SIGKILL the command when the OS thread that
// started it exits, which it does when the server dies. Its caveat is that
// thread: Go never ends a thread except one locked with runtime.LockOSThread
// whose goroutine returns still locked. Workers never lock their thread, so
// the thread that forks lives as long as the process and no LockOSThread is
// needed here (TestCommandDiesWithServer checks it). The other limit is the
// kernel's: Pdeathsig reaches only the command itself, not processes it
// started. Those die by the supervisor (Supervise), which SIGKILLs the
// command's group when the server dies; an exit the server controls leaves
// none either: KillAll kills every group first.
func (c *Command) Run(ctx context.Context, job Job) (output []byte, truncated bool, err error) {
	runCtx := ctx
	limit := c.Timeout
	if job.Timeout > 0 {
		limit = job.Timeout
	}
	if limit > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, limit, errTimedOut)
		defer cancel()
	}
	stdin, err := nameReader(job.Name)
	if err != nil {
		return nil, false, err
	}
	outR, outW, err := outputPipe()
	if err != nil {
		stdin.Close()
		return nil, false, err
	}
	var signaled bool // whether Cancel signaled the group; read once Wait has returned
	cmd := c.cmd(runCtx, job, stdin, outW, &signaled)
	err = c.groups.start(cmd)
	outW.Close() // the command holds the only ends of its pipes now
	stdin.Close()
	if err != nil {
		outR.Close()
		return nil, false, startError(c.Path, err)
	}
	tail := newTailBuffer(OutputLimit)
	copied := make(chan struct{}) // closed by the copier at end of output
	go func() {
		defer close(copied)
		tail.ReadFrom(outR)
	}()
	cmd.Wait()                      // the outcome is read from cmd.ProcessState below
	c.groups.ended(cmd.Process.Pid) // SIGKILLs what the command left in its group
	c.awaitOutput(copied, outR)
	output, truncated = tail.Tail()
	err = c.outcome(runCtx, cmd.ProcessState, signaled)
	if te, ok := err.(*TimeoutError); ok {
		te.Limit, te.Own = limit, job.Timeout > 0
	}
	return output, truncated, err
}

// cmd returns the exec.Cmd for one attempt of job: its own process group,
// Pdeathsig, and SIGTERM then SIGKILL when ctx is done.
// Its Cancel sets *signaled once it has signaled the group.
func (c *Command) cmd(ctx context.Context, job Job, stdin, out *os.File, signaled *bool) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.path, c.Args...)
	cmd.Args[0] = c.Path
	cmd.Env = append(c.env[:len(c.env):len(c.env)],
		envJobID+"="+job.ID,
		envName+"="+job.Name,
		envAttempt+"="+strconv.Itoa(job.Attempt))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { // called by exec, before Wait returns
		err := killGroup(cmd.Process.Pid, syscall.SIGTERM)
		*signaled = err == nil
		return err
	}
	cmd.WaitDelay = c.killDelay() // then exec SIGKILLs the command, and Run its group
	return cmd
}

// killDelay returns killWait, or 5 s if it is not positive.
func (c *Command) killDelay() time.Duration {
	if c.killWait <= 0 {
		return defaultKillDelay
	}
	return c.killWait
}

// awaitOutput waits until everything the command wrote has been read: the
// pipe ends once every process holding it has exited, which killGroup has
// seen to. A process that left the group (setsid) may still hold it; such a
// process gets killDelay, then its output is no longer read.
func (c *Command) awaitOutput(copied <-chan struct{}, r *os.File) {
	t := time.NewTimer(c.killDelay())
	defer t.Stop()
	select {
	case <-copied:
	case <-t.C:
		r.Close() // ends the copier's Read
		<-copied
	}
	r.Close()
}

// outcome returns the error of an attempt that ran under runCtx and ended
// as ps says; signaled tells whether runCtx's end signaled it.
func (c *Command) outcome(runCtx context.Context, ps *os.ProcessState, signaled bool) error {
	ended := exitError(ps)
	switch {
	case !signaled:
		return ended
	case context.Cause(runCtx) != errTimedOut:
		return context.Cause(runCtx) // canceled
	case ended == nil:
		return &TimeoutError{Limit: c.Timeout, Ended: "exit status 0"}
	}
	return &TimeoutError{Limit: c.Timeout, Ended: ended.Error()}
}
