package command

// The operating system's side of running a command (command.go): its
// pipes, its process group, and how it ended, in words a user can act on.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// exitError returns nil if the process exited with status 0, else an error
// saying how it ended: "exit status 3", "killed by SIGKILL".
//
// An exit with ExitNoRetry returns an error whose NoRetry method reports true.
func exitError(ps *os.ProcessState) error {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return errors.New(ps.String())
	case ws.Signaled():
		return errors.New("killed by " + signalName(ws.Signal()))
	case ws.ExitStatus() == ExitNoRetry:
		return errNoRetry
	case ws.ExitStatus() != 0:
		return errors.New("exit status " + strconv.Itoa(ws.ExitStatus()))
	}
	return nil
}

// killGroup sends sig to every process of the group that pgid leads. A group
// with no process left is not an error.
func killGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// pipeHolds is the most a pipe surely holds, in bytes: PIPE_BUF, 4 KiB,
// all a pipe gets once its user has used up pipe-user-pages-soft.
const pipeHolds = 4 << 10

// inputReader returns the read end of a pipe that holds line, then end of
// file. The write never blocks: line is shorter than pipeHolds, and a
// longer one is refused here (Run gives a longer one through exec's copier).
// Neither end is registered with Go's poller: the command reads the pipe,
// not the server.
func inputReader(line []byte) (*os.File, error) {
	if len(line) >= pipeHolds {
		return nil, fmt.Errorf("standard input is %d bytes long; too long for a pipe of %d", len(line), pipeHolds)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	_, err := syscall.Write(p[1], line)
	syscall.Close(p[1])
	if err != nil {
		syscall.Close(p[0])
		return nil, os.NewSyscallError("write", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), nil
}

// outputPipe returns a pipe for the command's output. Only its read end is
// registered with Go's poller, so that closing it ends a Read in progress;
// the write end is the command's alone.
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}

// startError returns the error for a command that could not be started:
// "cannot start: PATH: REASON".
func startError(path string, err error) error {
	var pe *fs.PathError
	var ee *exec.Error
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &ee):
		err = ee.Err
	}
	return fmt.Errorf("cannot start: %s: %w", path, err)
}

// signalName returns the conventional name of sig, such as "SIGTERM".
func signalName(sig syscall.Signal) string {
	names := [...]string{
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
		syscall.SIGILL: "SIGILL", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS",
		syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1",
		syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2", syscall.SIGPIPE: "SIGPIPE",
		syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	}
	if int(sig) < len(names) && names[sig] != "" {
		return names[sig]
	}
	return "signal " + strconv.Itoa(int(sig))
}

// ExitNoRetry is the exit status by which a command says its job failed and
// must not be tried again: 65, EX_DATAERR of sysexits.h, "the input data was
// incorrect", since a retry would get the same input. (75, EX_TEMPFAIL, says
// the opposite: try again later.)
const ExitNoRetry = 65

// noRetryError is the error of an attempt that exited with ExitNoRetry.
type noRetryError struct{}

func (noRetryError) Error() string { return "exit status 65 (EX_DATAERR: failed, not to be retried)" }

// NoRetry reports true: the job fails at once, whatever its retries. Callers
// test for an interface{ NoRetry() bool } with errors.As.
func (noRetryError) NoRetry() bool { return true }

var errNoRetry error = noRetryError{}
