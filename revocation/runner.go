// Package revocation finishes bulk revocation jobs in the background: those
// a request handed over, and those whose replica died (found by their lapsed
// lease).
package revocation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
)

// Store is what the runner needs from the database.
type Store interface {
	// RunRevocationJob claims the job for owner (returning Conflict if
	// another owner's lease holds it), works on it until deadline, and
	// returns it.
	RunRevocationJob(ctx context.Context, id, owner string, deadline time.Time) (*imprint.RevocationJob, error)
	// OrphanedRevocationJobs returns the running jobs whose lease lapsed.
	OrphanedRevocationJobs(ctx context.Context) ([]string, error)
}

// Timing of the runner.
const (
	// slice is how long one call of RunRevocationJob works before the
	// runner calls again, renewing the lease.
	slice = 10 * time.Second
	// orphanScan is how often Run looks for jobs whose lease lapsed.
	orphanScan = 15 * time.Second
)

// Runner finishes bulk revocations in the background. Resume hands it a job;
// Run works on the jobs handed over and on orphaned ones, until its context
// ends.
type Runner struct {
	store Store
	log   *slog.Logger
	owner string
	wake  chan struct{}

	mu      sync.Mutex
	queued  []string        // handed over, not yet started by Run
	running map[string]bool // queued or being worked on
}

// NewRunner returns a runner that holds job leases under a name of its own
// (the host name and a random suffix); Run makes it work.
func NewRunner(store Store, log *slog.Logger) *Runner {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return &Runner{store: store, log: log, owner: host + "-" + hex.EncodeToString(b),
		wake: make(chan struct{}, 1), running: map[string]bool{}}
}

// Owner names this replica as the holder of job leases.
func (r *Runner) Owner() string { return r.owner }

// Resume hands the job id to Run, which works on it until it is done (or
// another replica holds it). It never blocks: a job handed over before Run
// starts waits for it, and one already queued or running is not queued
// again.
func (r *Runner) Resume(id string) {
	r.mu.Lock()
	if !r.running[id] {
		r.running[id] = true
		r.queued = append(r.queued, id)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works on the jobs Resume hands over, and every orphanScan resumes the
// jobs whose lease lapsed, until ctx ends. It returns once every job it
// started has stopped. Call it once.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(orphanScan)
	defer t.Stop()
	r.resumeOrphans(ctx)
	for {
		for _, id := range r.take() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.work(ctx, id)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
			r.resumeOrphans(ctx)
		}
	}
}

// take returns the queued jobs and empties the queue.
func (r *Runner) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.queued
	r.queued = nil
	return ids
}

// resumeOrphans queues the jobs whose lease lapsed.
func (r *Runner) resumeOrphans(ctx context.Context) {
	ids, err := r.store.OrphanedRevocationJobs(ctx)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("look for orphaned revocation jobs", "err", err)
	}
	for _, id := range ids {
		r.Resume(id)
	}
}

// work runs the job id a slice at a time until it is done, another replica
// holds it, it fails, or ctx ends.
func (r *Runner) work(ctx context.Context, id string) {
	defer func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
	}()
	for ctx.Err() == nil {
		job, err := r.store.RunRevocationJob(ctx, id, r.owner, time.Now().Add(slice))
		switch {
		case imprint.ErrorKind(err) == imprint.Conflict:
			return // another replica has it; Run takes it over if that one dies
		case err != nil:
			r.log.Warn("bulk revocation", "job", id, "err", err)
			return
		case job.Status != imprint.JobRunning:
			r.log.Info("bulk revocation done", "job", id, "status", job.Status, "revoked", job.Revoked)
			return
		}
	}
}
