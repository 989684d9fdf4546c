// Package command runs one attempt of `-- COMMAND` in a process group of its
// own and keeps the tail of its output.
//
// A job reaches its command only through the environment (WORKQUEUE_JOB_ID,
// WORKQUEUE_NAME, WORKQUEUE_ATTEMPT) and standard input (its name, then a
// newline); see Command. The package knows nothing of jobs beyond Job, the
// three values an attempt passes on.
//
// A Command keeps a registry of the process groups of its attempts that may
// still have members (groups.go): KillAll SIGKILLs them all when the server
// exits, and Supervise (reap.go) makes the server the reaper of what its
// commands orphan, as PID 1 of a container must be, without taking from
// os/exec the exit status of a command it waits for. Supervise also starts
// the supervisor (supervisor.go, supervisor_main.go): this binary again, in
// a hidden mode, told every group, that SIGKILLs the groups it knows when
// the server dies, even by kill -9.
package command
