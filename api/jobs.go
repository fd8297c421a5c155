package api

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

// RevocationJobStore runs bulk revocations.
type RevocationJobStore interface {
	RunRevocationJob(ctx context.Context, id, owner string, deadline time.Time) (*imprint.RevocationJob, error)
	OrphanedRevocationJobs(ctx context.Context) ([]string, error)
}

// Revocations finishes bulk revocations in the background: those a request
// handed over, and those whose replica died (found by their lapsed lease).
type Revocations struct {
	store   RevocationJobStore
	log     *slog.Logger
	owner   string
	ctx     context.Context
	mu      sync.Mutex
	running map[string]bool
}

// NewRevocations returns a runner whose jobs stop with ctx.
func NewRevocations(ctx context.Context, store RevocationJobStore, log *slog.Logger) *Revocations {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return &Revocations{store: store, log: log, owner: host + "-" + hex.EncodeToString(b), ctx: ctx,
		running: map[string]bool{}}
}

// Owner names this replica as the holder of job leases.
func (j *Revocations) Owner() string { return j.owner }

// Resume works on a job in the background until it is done.
func (j *Revocations) Resume(id string) {
	j.mu.Lock()
	if j.running[id] {
		j.mu.Unlock()
		return
	}
	j.running[id] = true
	j.mu.Unlock()
	go func() {
		defer func() {
			j.mu.Lock()
			delete(j.running, id)
			j.mu.Unlock()
		}()
		for j.ctx.Err() == nil {
			job, err := j.store.RunRevocationJob(j.ctx, id, j.owner, time.Now().Add(10*time.Second))
			switch {
			case imprint.ErrorKind(err) == imprint.Conflict:
				return // another replica has it; Run takes it over if that one dies
			case err != nil:
				j.log.Warn("bulk revocation", "job", id, "err", err)
				return
			case job.Status != imprint.JobRunning:
				j.log.Info("bulk revocation done", "job", id, "status", job.Status, "revoked", job.Revoked)
				return
			}
		}
	}()
}

// Run resumes orphaned jobs every lease period until ctx ends.
func (j *Revocations) Run(ctx context.Context) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		ids, err := j.store.OrphanedRevocationJobs(ctx)
		if err != nil && ctx.Err() == nil {
			j.log.Warn("look for orphaned revocation jobs", "err", err)
		}
		for _, id := range ids {
			j.Resume(id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
