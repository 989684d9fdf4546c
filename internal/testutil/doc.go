// Package testutil holds helpers for the tests of workqueue and of its
// internal packages. It imports the standard library only, so that the tests
// of any package may import it without a cycle.
package testutil
