package command

// The server's end of its supervisor: the one process, started with the
// server, that outlives it to kill its commands' process groups (see
// supervisorMain for the other end).

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The hidden mode that makes the binary a supervisor: argv is exactly
// supervisorArg0 and the environment holds supervisorEnv=supervisorValue.
// Neither is a flag: nobody types them, and the usage never shows them.
const (
	supervisorArg0  = "workqueue-supervisor"
	supervisorEnv   = "WORKQUEUE_SUPERVISOR"
	supervisorValue = "kill-groups-on-eof"
)

// supervisorReady is the line a supervisor writes on its standard output
// once it reads its registrations; supervisorWait bounds how long
// startSupervisor waits for it (an exec of the binary, loaded from disk on a
// busy machine, takes milliseconds; a binary that does not know the mode
// never writes it).
const (
	supervisorReady = "ready\n"
	supervisorWait  = 10 * time.Second
)

// supervisorPipe is the size asked for the supervisor's pipe (F_SETPIPE_SZ),
// 1 MiB: the most an unprivileged process may ask by default
// (/proc/sys/fs/pipe-max-size). supervisorStall is how long a registration
// waits for room in a full pipe before the supervisor is given up as lost:
// it is full only if the supervisor has stopped reading.
const (
	supervisorPipe  = 1 << 20
	supervisorStall = time.Second
	fSetPipeSz      = 1031 // F_SETPIPE_SZ, from linux/fcntl.h
)

// supervisor is the server's end of its supervisor process. The supervisor
// reads, on its standard input, a line "+PGID" as each attempt's group is
// started and "-PGID" as the server forgets the group (known empty, its id
// free to be reused); at end of file, which the kernel gives it when the
// server exits or dies, whatever the cause, kill -9 included, it SIGKILLs
// every group it was told of and not told to forget, then exits.
type supervisor struct {
	proc *os.Process
	// fd is the pipe's write end, non-blocking, not in Go's poller; -1 once
	// closed. The registry's mu guards it: every send and the close.
	fd   int
	warn func(error)
	lost atomic.Bool // set once a write failed: the supervisor is killed, not trusted
	// exited is closed once the supervisor has exited and been reaped by
	// the goroutine that waits for it, which then calls its gone func.
	exited chan struct{}
}

// startSupervisor starts the supervisor: this binary again, in the hidden
// mode, in a process group of its own (a terminal's ^C, sent to the
// server's group, must not reach it), with no environment but the mode's,
// no Pdeathsig (it must outlive the server), and only the read end of its
// pipe open. warn is called, once, if a registration cannot be written
// later. The supervisor is reaped, whenever it exits, by a goroutine that
// waits for it; a reaper must leave it to that goroutine, as it leaves a
// leader to os/exec: track is called with its pid once it has started, and
// with 0 once it has been reaped.
func startSupervisor(warn func(error), track func(pid int)) (*supervisor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	in := os.NewFile(uintptr(p[0]), "|0")
	defer in.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		syscall.Close(p[1])
		return nil, err
	}
	defer ready.Close()
	cmd := &exec.Cmd{
		Path: exe, Args: []string{supervisorArg0}, Env: []string{supervisorEnv + "=" + supervisorValue},
		Dir: "/", Stdin: in, Stdout: readyW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		syscall.Close(p[1])
		return nil, err
	}
	s := &supervisor{proc: cmd.Process, fd: p[1], warn: warn, exited: make(chan struct{})}
	track(s.proc.Pid)
	go func() {
		defer close(s.exited)
		s.proc.Wait()
		track(0)
	}()
	err = awaitReady(ready)
	if err == nil {
		err = os.NewSyscallError("fcntl", syscall.SetNonblock(s.fd, true))
	}
	if err == nil { // best effort: the default of 64 KiB does too
		syscall.Syscall(syscall.SYS_FCNTL, uintptr(s.fd), fSetPipeSz, supervisorPipe)
	}
	if err != nil {
		s.kill()
		<-s.exited
		syscall.Close(s.fd)
		return nil, fmt.Errorf("%s: %w", exe, err)
	}
	return s, nil
}

// awaitReady waits up to supervisorWait for the ready line on r.
func awaitReady(r *os.File) error {
	r.SetReadDeadline(time.Now().Add(supervisorWait))
	line, err := bufio.NewReader(r).ReadString('\n')
	switch {
	case line == supervisorReady:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no supervisor ready within %v", supervisorWait)
	}
	return fmt.Errorf("not started as a supervisor (it said %q, %v)", line, err)
}

// add tells the supervisor that group pgid was started; forget that it is
// known empty. Callers hold the registry's mu, so that the lines are in the
// order of the registry's changes: a reused id's "+" follows its "-". A nil
// s does nothing.
func (s *supervisor) add(pgid int)    { s.send('+', pgid) }
func (s *supervisor) forget(pgid int) { s.send('-', pgid) }

// send writes one line. The line is far shorter than PIPE_BUF, so it is
// written whole or not at all, and the pipe (1 MiB where the system allows,
// else 64 KiB: 100,000 or 7,000 lines) has room for far more than the
// supervisor leaves unread between two of its reads (supervisorPace). If the
// pipe is full all the same, send waits up to supervisorStall for room. If
// the write fails (the supervisor is gone, or stopped), the supervisor is
// killed, lest it act on a registry it no longer mirrors, and warn is told,
// once.
func (s *supervisor) send(op byte, pgid int) {
	if s == nil || s.fd < 0 || s.lost.Load() {
		return
	}
	line := strconv.AppendInt([]byte{op}, int64(pgid), 10)
	line = append(line, '\n')
	var deadline time.Time
	for {
		_, err := syscall.Write(s.fd, line)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			if deadline.IsZero() {
				deadline = time.Now().Add(supervisorStall)
			}
			if left := time.Until(deadline); left > 0 {
				waitWritable(s.fd, left)
				continue
			}
		}
		if err != nil && s.lost.CompareAndSwap(false, true) {
			s.proc.Kill()
			go s.warn(fmt.Errorf("the supervisor is lost: %w", os.NewSyscallError("write", err)))
		}
		return
	}
}

// closeLocked closes the pipe, which makes the supervisor exit (every
// group it knows is empty by then, or KillAll has signaled it). The
// registry's mu is held.
func (s *supervisor) closeLocked() {
	if s != nil && s.fd >= 0 {
		syscall.Close(s.fd)
		s.fd = -1
	}
}

// await waits up to wait for the supervisor, its pipe closed, to exit,
// then SIGKILLs it, and returns once it is reaped. A nil s returns at once.
func (s *supervisor) await(wait time.Duration) {
	if s == nil {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.kill()
		<-s.exited
	}
}

// kill SIGKILLs the supervisor.
func (s *supervisor) kill() {
	s.lost.Store(true)
	s.proc.Kill()
}

// waitWritable waits up to d for room to write in the pipe fd (ppoll(2)
// for POLLOUT; package syscall has no poll).
func waitWritable(fd int, d time.Duration) {
	const pollOut = 0x4 // POLLOUT
	p := struct {
		fd              int32
		events, revents int16
	}{fd: int32(fd), events: pollOut}
	ts := syscall.NsecToTimespec(int64(d))
	syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
}
