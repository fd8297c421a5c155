package events_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/events"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// mustToken creates a token, which writes a token.created event, and returns
// the token's ID (the event's resource).
func mustToken(tb testing.TB, db *postgres.DB, name string) string {
	tb.Helper()
	tok, _, err := imprint.NewToken(name, imprint.RoleAuditor)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateToken(context.Background(), tok, imprint.SystemActor); err != nil {
		tb.Fatal(err)
	}
	return tok.ID
}

// next returns the next event of ch, failing tb if none comes in time.
func next(tb testing.TB, ch <-chan imprint.Event, within time.Duration) (imprint.Event, bool) {
	tb.Helper()
	select {
	case e := <-ch:
		return e, true
	case <-time.After(within):
		return imprint.Event{}, false
	}
}

// TestHubFansOutNewEvents checks that every subscriber gets the events
// written while it listens, in the order of the log, and that a cancelled
// subscription gets no more.
func TestHubFansOutNewEvents(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	hub := events.NewHub(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-hub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the hub did not read the head of the log")
	}
	one, cancelOne := hub.Subscribe()
	defer cancelOne()
	two, cancelTwo := hub.Subscribe()

	// Nothing is missed between Subscribe and the hub's next read of the
	// log: the first event written after subscribing comes through.
	first := mustToken(t, db, "first")
	for name, ch := range map[string]<-chan imprint.Event{"one": one, "two": two} {
		if e, ok := next(t, ch, 10*time.Second); !ok || e.ResourceID != first {
			t.Fatalf("subscriber %s: first event = %+v, %v; want the token %s created right after subscribing", name, e, ok, first)
		}
	}
	warm := map[string]bool{}
	want := []string{mustToken(t, db, "a"), mustToken(t, db, "b"), mustToken(t, db, "c")}
	for name, ch := range map[string]<-chan imprint.Event{"one": one, "two": two} {
		var got []string
		for len(got) < len(want) {
			e, ok := next(t, ch, 10*time.Second)
			if !ok {
				t.Fatalf("subscriber %s got %q, then nothing; want %q", name, got, want)
			}
			if e.Type != imprint.EventTokenCreated {
				t.Errorf("subscriber %s got a %s event, want only %s", name, e.Type, imprint.EventTokenCreated)
			}
			if !warm[e.ResourceID] {
				got = append(got, e.ResourceID)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("subscriber %s got %q, want %q in this order", name, got, want)
				break
			}
		}
	}

	cancelTwo()
	last := mustToken(t, db, "d")
	if e, ok := next(t, one, 10*time.Second); !ok || e.ResourceID != last {
		t.Fatalf("subscriber one got %+v (%v), want the event of token %s", e, ok, last)
	}
	// The hub hands an event to all its subscribers at once: one has it, so
	// two would have it by now had it still been subscribed.
	select {
	case e := <-two:
		t.Errorf("cancelled subscriber got %+v", e)
	default:
	}
}
