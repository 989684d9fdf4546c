// Package metrics counts what happens to the server's jobs and to their
// attempts, in counters that are atomics and in histograms of durations, and
// writes the counts in the Prometheus text format. It reads nothing of the
// server: the /metrics handler writes the server's gauges beside them with
// Family and Sample.
package metrics
