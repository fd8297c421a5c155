package revocation_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
	"github.com/imprint-iot/imprint/revocation"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// mustJob records a bulk revocation of certificates that do not exist: it
// stays RUNNING until someone runs it, which then finds nothing to revoke and
// marks it SUCCEEDED.
func mustJob(tb testing.TB, db *postgres.DB) string {
	tb.Helper()
	job, err := db.CreateRevocationJob(context.Background(), imprint.RevocationSelector{IDs: []string{strings.Repeat("0", 64)}},
		imprint.ReasonKeyCompromise, imprint.SystemActor)
	if err != nil {
		tb.Fatal(err)
	}
	if job.Status != imprint.JobRunning {
		tb.Fatalf("new job status = %s, want %s", job.Status, imprint.JobRunning)
	}
	return job.ID
}

// mustClaim takes the job's lease for owner, so that it is no orphan: only
// owner's runner works on it until the lease (30 s) lapses.
func mustClaim(tb testing.TB, db *postgres.DB, id, owner string) {
	tb.Helper()
	if ok, err := db.ClaimRevocationJob(context.Background(), id, owner); err != nil || !ok {
		tb.Fatalf("ClaimRevocationJob(%s, %s) = %v, %v", id, owner, ok, err)
	}
}

// startRun runs r until the test ends, and checks at the end that Run
// returns once its context is cancelled.
func startRun(tb testing.TB, r *revocation.Runner) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("Run did not return after its context was cancelled")
		}
	})
}

// waitStatus polls the job until its status is want. The deadline is well
// within the job lease, so that a claimed job reaching want was not taken
// over as an orphan.
func waitStatus(tb testing.TB, db *postgres.DB, id, want string) *imprint.RevocationJob {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		job, err := db.RevocationJob(context.Background(), id)
		if err != nil {
			tb.Fatal(err)
		}
		if job.Status == want {
			return job
		}
		if time.Now().After(deadline) {
			tb.Fatalf("job %s status = %s, want %s", id, job.Status, want)
		}
	}
}

// TestResumeHandsTheJobToRun checks that jobs handed over with Resume are
// worked on by Run, whether they come before Run starts or while it runs.
// Their leases are this runner's, so they are no orphans and only Resume
// can have brought them to Run.
func TestResumeHandsTheJobToRun(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	r := revocation.NewRunner(db, discard)
	before := mustJob(t, db)
	mustClaim(t, db, before, r.Owner())
	r.Resume(before)
	r.Resume(before) // once is enough; twice does no harm
	startRun(t, r)
	waitStatus(t, db, before, imprint.JobSucceeded)

	during := mustJob(t, db)
	mustClaim(t, db, during, r.Owner())
	r.Resume(during)
	waitStatus(t, db, during, imprint.JobSucceeded)
}

// TestRunTakesOverOrphans checks that Run finishes jobs nobody holds a lease
// on (their replica died), and leaves alone those another replica holds.
func TestRunTakesOverOrphans(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	held := mustJob(t, db)
	mustClaim(t, db, held, "other-replica")
	orphan := mustJob(t, db)
	r := revocation.NewRunner(db, discard)
	startRun(t, r)
	waitStatus(t, db, orphan, imprint.JobSucceeded)

	// The scan that found the orphan passed over the held job.
	if job, err := db.RevocationJob(context.Background(), held); err != nil || job.Status != imprint.JobRunning {
		t.Errorf("job held by another replica = %+v, %v; want it still RUNNING", job, err)
	}
	if ok, err := db.ClaimRevocationJob(context.Background(), held, r.Owner()); err != nil || ok {
		t.Errorf("claim of the held job by this runner = %v, %v; want it still held by the other replica", ok, err)
	}
}

func TestOwnersDiffer(t *testing.T) {
	t.Parallel()
	a, b := revocation.NewRunner(nil, discard), revocation.NewRunner(nil, discard)
	if a.Owner() == "" || a.Owner() == b.Owner() {
		t.Errorf("owners = %q and %q, want two different names", a.Owner(), b.Owner())
	}
}
