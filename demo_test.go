package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoRefusesTakenAddress runs make demo's script against an address
// another process listens on, and one the server cannot listen on: it must
// fail at once, naming the address and the cause, and never send its
// bursts to a stranger.
func TestDemoRefusesTakenAddress(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // never accepts: the kernel completes connections to it
	tests := []struct {
		name, addr, wantErr string
	}{
		{"taken", ln.Addr().String(), ln.Addr().String() + " is already in use"},
		{"bad port", "127.0.0.1:99999", "for flag -http: the port must be from 0 to 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "scripts/demo-server.sh", binary)
			cmd.Env = append(os.Environ(), "DEMO_ADDR="+tt.addr)
			// On timeout, end the script's whole process group: a curl it
			// started would otherwise hold its output open.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			cmd.WaitDelay = time.Second
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("DEMO_ADDR=%s scripts/demo-server.sh: %v, want exit status 1; stderr:\n%s", tt.addr, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q, want it to say %q", stderr.String(), tt.wantErr)
			}
			if stdout.Len() > 0 {
				t.Errorf("the demo ran its bursts:\n%s", stdout.String())
			}
		})
	}
}
