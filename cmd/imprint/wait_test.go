package main

import (
	"testing"
	"time"
)

// waitFor polls check until it says the state it waits for has come, and
// fails the test with check's last description of the state when it has not
// come within the given time. Tests wait for what they assert this way:
// background work (webhook deliveries, CRL publishing, notifications between
// replicas) finishes after the request that caused it has been answered.
func waitFor(tb testing.TB, within time.Duration, check func() (done bool, state string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not reached within %v: %s", within, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
