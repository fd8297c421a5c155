package provisioning_test

import (
	"crypto/x509/pkix"
	"slices"
	"sync"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// heard records the certificates whose standing the engine announced.
type heard struct {
	mu      sync.Mutex
	serials []string
}

func (h *heard) Invalidate(caID, serial string) {
	h.mu.Lock()
	h.serials = append(h.serials, serial)
	h.mu.Unlock()
}

// TestRevokeThing revokes a thing's certificates at once: those not revoked
// yet are, each announced to the standing listeners, and one transaction
// records them all.
func TestRevokeThing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := &heard{}
	engine := f.newEngine(provisioning.Config{Standing: []provisioning.StandingListener{h}})
	a, b, gone := f.issue(pkix.Name{CommonName: "lamp-1"}), f.issue(pkix.Name{CommonName: "lamp-1"}), f.issue(pkix.Name{CommonName: "lamp-1"})
	other := f.issue(pkix.Name{CommonName: "lamp-2"})
	if err := f.db.CreateThing(ctx, &imprint.Thing{Name: "lamp-1"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*imprint.Certificate{a, b, gone} {
		if err := f.db.AttachPrincipal(ctx, "lamp-1", c.ID, false, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.db.RevokeCertificate(ctx, gone.ID, imprint.ReasonSuperseded, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	admin := imprint.Actor{Name: "admin", Role: imprint.RoleAdmin}
	revoked, err := engine.RevokeThing(ctx, admin, "lamp-1", imprint.ReasonKeyCompromise)
	if err != nil {
		t.Fatal(err)
	}
	var serials []string
	for _, c := range revoked {
		if c.Status != imprint.CertificateRevoked || c.Revocation.Reason != imprint.ReasonKeyCompromise {
			t.Errorf("certificate %s after RevokeThing = %s %+v", c.ID, c.Status, c.Revocation)
		}
		serials = append(serials, c.Serial)
	}
	want := []string{a.Serial, b.Serial}
	slices.Sort(want)
	slices.Sort(serials)
	h.mu.Lock()
	got := slices.Sorted(slices.Values(h.serials))
	h.mu.Unlock()
	if !slices.Equal(serials, want) || !slices.Equal(got, want) {
		t.Errorf("revoked %v and announced %v, want %v (the one revoked before is left alone)", serials, got, want)
	}
	if c, _ := f.db.Certificate(ctx, other.ID); c.Status != imprint.CertificateActive {
		t.Errorf("a certificate of another thing is %s, want ACTIVE", c.Status)
	}
	if n := f.count(`SELECT count(DISTINCT txid) FROM audit_events WHERE type = 'certificate.revoked' AND data->>'thing' = 'lamp-1'`); n != 1 {
		t.Errorf("the thing's revocations came from %d transactions, want 1", n)
	}
	if again, err := engine.RevokeThing(ctx, admin, "lamp-1", imprint.ReasonKeyCompromise); err != nil || len(again) != 0 {
		t.Errorf("RevokeThing() again = %d certificates, %v; want none, no error", len(again), err)
	}
	if _, err := engine.RevokeThing(ctx, admin, "nope", imprint.ReasonKeyCompromise); imprint.ErrorKind(err) != imprint.NotFound {
		t.Errorf("RevokeThing(unknown) = %v, want NotFound", err)
	}
}
