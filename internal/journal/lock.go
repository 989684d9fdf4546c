package journal

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes the exclusive lock on dir's LOCK file without waiting.
// The lock belongs to the returned open file: closing it releases the lock.
// flock locks belong to an open file description, so a second lockDir on the
// same directory fails even within one process.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(path(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("journal %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("journal %s: lock: %w", dir, err)
	}
	return f, nil
}
