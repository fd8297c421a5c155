// Package webhooks delivers audit events to the webhooks that subscribe to
// them: queued from the audit log, POSTed through the SSRF-safe client of
// package outbound, signed with HMAC-SHA256 under each webhook's secret,
// retried with backoff. It also seals those secrets for storage.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
)

// Store is what the dispatcher needs from the database: the outbox of
// deliveries.
type Store interface {
	EnqueueDeliveries(ctx context.Context, limit int) (int64, error)
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]imprint.Delivery, error)
	RecordDelivery(ctx context.Context, id int64, out imprint.DeliveryOutcome) error
}

// Delivery policy.
const (
	deliveryTimeout  = 5 * time.Second
	deliveryLease    = time.Minute
	maxDeliveryTries = 12 // about a day with the backoff below
	maxBackoff       = 6 * time.Hour
)

// The dispatcher's own delivery errors, beside outbound's categories.
const (
	errSecretUnreadable = "cannot open the webhook's secret (was the CA passphrase changed?)"
	errInvalidURL       = "invalid URL"
)

// Dispatcher delivers webhook events: queued from the audit log (the outbox)
// in the transaction order, POSTed with an HMAC-SHA256 signature, retried with
// exponential backoff, each outcome recorded.
type Dispatcher struct {
	store   Store
	secrets *SecretBox
	client  *http.Client
	log     *slog.Logger
	wake    chan struct{}
}

// NewDispatcher returns a dispatcher that opens secrets with secrets and
// delivers with client, which should be an outbound.Guard's (the server's one
// guard, with the allow list of IMPRINT_OUTBOUND_ALLOW); nil is a guard's
// with no allow list: public addresses only.
func NewDispatcher(store Store, secrets *SecretBox, client *http.Client, log *slog.Logger) *Dispatcher {
	if client == nil {
		client = outbound.New(nil).Client(outbound.ClientOptions{Timeout: deliveryTimeout})
	}
	return &Dispatcher{store: store, secrets: secrets, client: client, log: log, wake: make(chan struct{}, 1)}
}

// Notify wakes the dispatcher (on any change that writes events). Its
// arguments, a notification's channel and payload, are ignored.
func (d *Dispatcher) Notify(string, string) {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := d.store.EnqueueDeliveries(ctx, 500); err != nil && ctx.Err() == nil {
			d.log.Warn("queue webhook deliveries", "err", err)
		}
		claimed, err := d.store.ClaimDeliveries(ctx, 32, deliveryLease)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("claim webhook deliveries", "err", err)
		}
		var wg sync.WaitGroup
		for _, c := range claimed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := d.attempt(ctx, &c, c.Webhook)
				if err := d.store.RecordDelivery(context.WithoutCancel(ctx), c.ID, out); err != nil {
					d.log.Warn("record webhook delivery", "err", err)
				}
			}()
		}
		wg.Wait()
		if len(claimed) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (d *Dispatcher) attempt(ctx context.Context, del *imprint.Delivery, hook *imprint.Webhook) imprint.DeliveryOutcome {
	tries := del.Attempts + 1
	fail := func(status int, msg string) imprint.DeliveryOutcome {
		if tries >= maxDeliveryTries {
			return imprint.DeliveryOutcome{Status: imprint.DeliveryFailed, HTTPStatus: status, Error: msg, NextAttempt: time.Now()}
		}
		backoff := min(maxBackoff, time.Duration(1<<min(tries, 20))*15*time.Second) // 30 s, 1 min, … 6 h
		backoff += time.Duration(mrand.Int64N(int64(backoff/4) + 1))                // jitter
		return imprint.DeliveryOutcome{Status: imprint.DeliveryPending, HTTPStatus: status, Error: msg, NextAttempt: time.Now().Add(backoff)}
	}
	secret, err := d.secrets.Open(hook.SealedSecret)
	if err != nil {
		return fail(0, errSecretUnreadable)
	}
	body, _ := json.Marshal(&del.Event)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return fail(0, errInvalidURL)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Imprint-Webhooks/1")
	req.Header.Set("Imprint-Event", del.Event.Type)
	req.Header.Set("Imprint-Delivery", strconv.FormatInt(del.ID, 10))
	req.Header.Set(SignatureHeader, Sign(secret, time.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		// The category only: the error itself (addresses, ports, "connection
		// refused") would make the delivery log a port scanner. The operator's
		// log has it.
		category := outbound.Category(err)
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, whose query may hold a credential
		}
		d.log.Info("webhook delivery failed", "webhook", hook.ID, "delivery", del.ID, "category", category, "err", err)
		return fail(0, category)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(resp.StatusCode, outbound.StatusCategory(resp.StatusCode))
	}
	return imprint.DeliveryOutcome{Status: imprint.DeliveryDelivered, HTTPStatus: resp.StatusCode, NextAttempt: time.Now()}
}

// DeliveryError is d's last error as readers see it: a category
// (outbound.Category), or a message of the dispatcher's own. Errors recorded
// before deliveries recorded categories (raw dial errors) show as their
// category, so that no address or port reaches a reader. It is "" if the
// delivery has no error.
func DeliveryError(d imprint.Delivery) string {
	switch {
	case d.LastError == "" || outbound.IsCategory(d.LastError) || d.LastError == errSecretUnreadable || d.LastError == errInvalidURL:
		return d.LastError
	case d.LastStatus != 0:
		return outbound.StatusCategory(d.LastStatus)
	}
	return outbound.CategoryConnection
}
