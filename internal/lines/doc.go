// Package lines writes whole lines to the server's standard output and
// standard error, so that a reader that stalls or goes away never holds up
// the server: Writer puts the workers' lines on standard output by group
// commit, outside every lock, and lets a worker stop waiting when its context
// ends; Log carries the log's lines to standard error through a bounded queue,
// dropping and counting what does not fit, so that its callers never wait.
package lines
