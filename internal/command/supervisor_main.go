package command

// The supervisor's own end: the binary re-executed in the hidden mode
// (supervisor.go starts it).

import (
	"bufio"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// init runs the supervisor, and exits, in a process started as one (argv
// exactly supervisorArg0 and supervisorEnv=supervisorValue in the
// environment); in any other it does nothing. It is in init, so that it
// runs before main and its flag parsing, and before TestMain in test
// binaries: every binary that can start a supervisor (any that imports this
// package: the server, and the test binaries whose in-process servers start
// one from os.Executable) is one, and none can recurse into a server.
func init() {
	if len(os.Args) != 1 || os.Args[0] != supervisorArg0 || os.Getenv(supervisorEnv) != supervisorValue {
		return
	}
	os.Exit(supervisorMain(os.Stdin, os.Stdout))
}

// supervisorMain is the supervisor: it writes supervisorReady on ready and
// closes it, then reads lines "+PGID" and "-PGID" from in, keeping the set
// of groups they leave, until end of file or a read error; then it SIGKILLs
// every group in the set and returns 0. A line of another form is ignored.
//
// It ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT: it ends when the server
// does, not when a signal meant for the server's session or a service
// manager's SIGTERM to every process reaches it first.
func supervisorMain(in io.Reader, ready io.WriteCloser) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	runtime.GOMAXPROCS(1)
	if _, err := io.WriteString(ready, supervisorReady); err != nil {
		return 1 // the server is gone already, or gave up on us
	}
	ready.Close()
	killGroups(readGroups(bufio.NewReaderSize(pacedReader{in, supervisorPace}, 64<<10)))
	return 0
}

// supervisorPace is how long the supervisor pauses after each read that
// returned lines, so that a busy server's lines (two an attempt) are read
// many at a time: woken for each, it took about 55 µs of CPU an attempt on
// a 2-core VM, a quarter of the server's own; paced, 6 to 8 µs. It delays
// the kills after the server's death by as much, at most. The pipe holds 64 KiB, about
// 8,000 lines: 10 ms of them at 400,000 attempts a second.
const supervisorPace = 10 * time.Millisecond

// pacedReader is a Reader that pauses for pause after each Read that
// returned without error.
type pacedReader struct {
	r     io.Reader
	pause time.Duration
}

func (p pacedReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == nil {
		time.Sleep(p.pause)
	}
	return n, err
}

// readGroups returns the groups that the lines read from r, up to its end,
// leave registered.
func readGroups(r *bufio.Reader) map[int]struct{} {
	groups := map[int]struct{}{}
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue // no line of ours: skipped up to its end
		}
		if err != nil {
			return groups // EOF: the server has exited, or died
		}
		if len(line) < 3 {
			continue
		}
		pgid, err := strconv.Atoi(string(line[1 : len(line)-1]))
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = struct{}{}
		case '-':
			delete(groups, pgid)
		}
	}
}

// killGroups SIGKILLs every group in groups.
func killGroups(groups map[int]struct{}) {
	for pgid := range groups {
		killGroup(pgid, syscall.SIGKILL)
	}
}
