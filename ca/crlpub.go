package ca

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
)

// CRLStore is what CRL publishing needs from the database.
type CRLStore interface {
	PublishCRL(ctx context.Context, caID string, validity time.Duration, sign imprint.CRLSigner) (*imprint.CRL, error)
	LatestCRL(ctx context.Context, caID string, delta bool) (*imprint.CRL, error)
	DirtyCRLs(ctx context.Context) ([]string, error)
}

// CRLOptions shape CRL publishing. Zero fields take the defaults.
type CRLOptions struct {
	// Validity is the time from thisUpdate to nextUpdate (default 24 h).
	Validity time.Duration
	// RebuildAfter is the age at which a CRL is rebuilt even with no change
	// (default half the validity).
	RebuildAfter time.Duration
	// Now is the publisher's clock (default time.Now), which tells a CRL's
	// age.
	Now func() time.Time
}

// CRLPublisher publishes each issuing CA's CRLs (RFC 5280): within a moment
// of any change of a certificate's standing, coalescing bursts, and at least
// every RebuildAfter. Replicas share the work through the store: one at a
// time per CA, and no change is ever left off. It serves the latest CRLs from
// memory.
type CRLPublisher struct {
	auth  *Authority
	store CRLStore
	opts  CRLOptions
	log   *slog.Logger
	kick  chan struct{}

	mu    sync.RWMutex
	cache map[crlKey]*imprint.CRL
}

type crlKey struct {
	caID  string
	delta bool
}

// coalesce is how long the publisher waits after a change for more of them.
const coalesce = 50 * time.Millisecond

// NewCRLPublisher returns a publisher; Run makes it work.
func NewCRLPublisher(a *Authority, store CRLStore, opts CRLOptions, log *slog.Logger) *CRLPublisher {
	if opts.Validity <= 0 {
		opts.Validity = 24 * time.Hour
	}
	if opts.RebuildAfter <= 0 || opts.RebuildAfter > opts.Validity {
		opts.RebuildAfter = opts.Validity / 2
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &CRLPublisher{auth: a, store: store, opts: opts, log: log, kick: make(chan struct{}, 1),
		cache: map[crlKey]*imprint.CRL{}}
}

// Notify takes the store's notifications: a change of standing wakes the
// publisher; a CRL published elsewhere replaces the cached one. An empty
// payload (after a reconnection) means anything may have been missed.
func (p *CRLPublisher) Notify(channel, payload string) {
	switch channel {
	case imprint.ChannelRevocations:
		p.wake()
	case imprint.ChannelCRLs:
		p.mu.Lock()
		if payload == "" {
			clear(p.cache)
		} else {
			delete(p.cache, crlKey{payload, false})
			delete(p.cache, crlKey{payload, true})
		}
		p.mu.Unlock()
		if payload == "" {
			p.wake()
		}
	}
}

func (p *CRLPublisher) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends.
func (p *CRLPublisher) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	p.publishStale(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
			select { // let a burst of changes gather
			case <-ctx.Done():
				return
			case <-time.After(coalesce):
			}
		case <-tick.C:
			p.publishStale(ctx)
		}
		if p.publishDirty(ctx) {
			time.AfterFunc(100*time.Millisecond, p.wake)
		}
	}
}

// publishDirty publishes the CRLs marked out of date, and reports whether any
// is left (held by another replica, or failed).
func (p *CRLPublisher) publishDirty(ctx context.Context) (again bool) {
	ids, err := p.store.DirtyCRLs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("read out-of-date CRLs", "err", err)
		}
		return true
	}
	for _, id := range ids {
		if !p.publish(ctx, id) {
			again = true
		}
	}
	return again
}

// publishStale publishes the CRLs of issuing CAs that have none or an old one.
func (p *CRLPublisher) publishStale(ctx context.Context) {
	for _, c := range p.auth.CAs() {
		if c.Role != imprint.CAIssuing {
			continue
		}
		latest, err := p.CRL(ctx, c.ID, false)
		if err == nil && p.opts.Now().Sub(latest.ThisUpdate) < p.opts.RebuildAfter {
			continue
		}
		if err != nil && imprint.ErrorKind(err) != imprint.NotFound {
			continue
		}
		p.publish(ctx, c.ID)
	}
}

// publish builds and stores one CA's CRLs, and reports whether it did.
func (p *CRLPublisher) publish(ctx context.Context, caID string) bool {
	start := time.Now()
	sign := func(t imprint.CRLTemplate, entries imprint.CRLEntries) ([]byte, error) {
		return p.auth.SignCRL(caID, t, entries)
	}
	crl, err := p.store.PublishCRL(ctx, caID, p.opts.Validity, sign)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			p.log.Warn("publish CRL", "ca", caID, "err", err)
		}
		return false
	case crl == nil:
		return false // another replica is publishing it
	}
	p.mu.Lock()
	p.cache[crlKey{caID, false}] = crl
	delete(p.cache, crlKey{caID, true})
	p.mu.Unlock()
	p.log.Info("published CRL", "ca", caID, "number", crl.Number, "entries", crl.Entries,
		"bytes", len(crl.DER), "took", time.Since(start).Round(time.Millisecond))
	return true
}

// CRL returns the latest full or delta CRL of a CA. Returns NotFound if none
// is published yet.
func (p *CRLPublisher) CRL(ctx context.Context, caID string, delta bool) (*imprint.CRL, error) {
	k := crlKey{caID, delta}
	p.mu.RLock()
	c, ok := p.cache[k]
	p.mu.RUnlock()
	if ok {
		return c, nil
	}
	c, err := p.store.LatestCRL(ctx, caID, delta)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cache[k] = c
	p.mu.Unlock()
	return c, nil
}
