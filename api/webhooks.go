package api

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
)

// WebhookStore keeps webhooks and their deliveries.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *imprint.Webhook, actor imprint.Actor) error
	Webhook(ctx context.Context, id string) (*imprint.Webhook, error)
	Webhooks(ctx context.Context) ([]*imprint.Webhook, error)
	DeleteWebhook(ctx context.Context, id string, actor imprint.Actor) error
	Deliveries(ctx context.Context, webhookID string, limit int) ([]imprint.Delivery, error)
}

// SecretBox seals webhook secrets for storage (AES-256-GCM), so that the
// database alone does not give them away.
type SecretBox struct{ aead cipher.AEAD }

// NewSecretBox returns a box under a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plain.
func (b *SecretBox) Seal(plain string) string {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawStdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, []byte(plain), nil))
}

// Open decrypts what Seal made.
func (b *SecretBox) Open(sealed string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("malformed sealed secret")
	}
	plain, err := b.aead.Open(nil, raw[:b.aead.NonceSize()], raw[b.aead.NonceSize():], nil)
	return string(plain), err
}

type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

// validate checks the request; plain HTTP URLs are refused unless allowed,
// and so are hosts the guard knows it would refuse (guard.CheckHost).
func (q *webhookRequest) validate(allowHTTP bool, guard *outbound.Guard) error {
	u, err := url.Parse(q.URL)
	switch {
	case q.URL == "" || len(q.URL) > 2048 || err != nil || u.Host == "" || !printable(q.URL):
		return imprint.Errorf(imprint.Invalid, "url must be an absolute URL of at most 2048 characters")
	case u.Scheme != "https" && !(u.Scheme == "http" && allowHTTP):
		return imprint.Errorf(imprint.Invalid, "url must be https (plain http is allowed only with IMPRINT_WEBHOOK_ALLOW_HTTP)")
	case u.User != nil:
		return imprint.Errorf(imprint.Invalid, "url must not hold credentials; deliveries are signed with the secret")
	case u.Hostname() == "":
		return imprint.Errorf(imprint.Invalid, "url must name a host")
	}
	if err := guard.CheckHost(u.Hostname()); err != nil {
		return err
	}
	switch {
	case len(q.Secret) < 16 || len(q.Secret) > 256:
		return imprint.Errorf(imprint.Invalid, "secret must be 16 to 256 characters")
	case len(q.Events) == 0 || len(q.Events) > len(imprint.EventTypes):
		return imprint.Errorf(imprint.Invalid, "events must name at least one event type, or \"*\" for all")
	}
	for _, e := range q.Events {
		if e != "*" && !slices.Contains(imprint.EventTypes, e) {
			return imprint.Errorf(imprint.Invalid, "events: unknown event type %q (want \"*\" or one of %v)", e, imprint.EventTypes)
		}
	}
	return nil
}

type webhookJSON struct {
	WebhookID string    `json:"webhookId"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"createdAt"`
}

func webhookOf(w *imprint.Webhook) webhookJSON {
	return webhookJSON{WebhookID: w.ID, URL: w.URL, Events: w.EventTypes, Enabled: w.Enabled, CreatedAt: w.CreatedAt.UTC()}
}

// handleCreateWebhook: POST /v1/webhooks, {url, events, secret}.
func (s *server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decode[webhookRequest](body)
	if err == nil {
		err = req.validate(s.webhookHTTP, s.outbound)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := make([]byte, 12)
	rand.Read(id)
	hook := &imprint.Webhook{ID: "wh_" + hex.EncodeToString(id), URL: req.URL, EventTypes: req.Events,
		SealedSecret: s.secrets.Seal(req.Secret), Enabled: true}
	if err := s.store.CreateWebhook(r.Context(), hook, imprint.ActorFromContext(r.Context())); err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusCreated, webhookOf(hook))
}

// handleListWebhooks: GET /v1/webhooks.
func (s *server) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	hooks, err := s.store.Webhooks(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Webhooks []webhookJSON `json:"webhooks"`
	}{Webhooks: make([]webhookJSON, len(hooks))}
	for i, h := range hooks {
		out.Webhooks[i] = webhookOf(h)
	}
	encode(w, http.StatusOK, out)
}

// handleDeleteWebhook: DELETE /v1/webhooks/{id}.
func (s *server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathParam(r, "id")
	if err == nil {
		err = s.store.DeleteWebhook(r.Context(), id, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleListDeliveries: GET /v1/webhooks/{id}/deliveries, the latest first.
func (s *server) handleListDeliveries(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	id, err := pathParam(r, "id")
	if err == nil {
		_, err = s.store.Webhook(r.Context(), id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ds, err := s.store.Deliveries(r.Context(), id, 100)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type deliveryJSON struct {
		DeliveryID  int64      `json:"deliveryId"`
		EventID     int64      `json:"eventId"`
		EventType   string     `json:"eventType"`
		Status      string     `json:"status"`
		Attempts    int        `json:"attempts"`
		NextAttempt *time.Time `json:"nextAttempt,omitempty"`
		LastStatus  int        `json:"lastStatus,omitempty"`
		LastError   string     `json:"lastError,omitempty"`
		DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
	}
	out := struct {
		Deliveries []deliveryJSON `json:"deliveries"`
	}{Deliveries: make([]deliveryJSON, len(ds))}
	for i, d := range ds {
		j := deliveryJSON{DeliveryID: d.ID, EventID: d.Event.ID, EventType: d.Event.Type, Status: d.Status,
			Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: deliveryError(d)}
		if d.Status == imprint.DeliveryPending {
			t := d.NextAttempt.UTC()
			j.NextAttempt = &t
		}
		if !d.DeliveredAt.IsZero() {
			t := d.DeliveredAt.UTC()
			j.DeliveredAt = &t
		}
		out.Deliveries[i] = j
	}
	encode(w, http.StatusOK, out)
}

// deliveryError is a delivery's last error as readers see it: a category
// (outbound.Category), or a message of the dispatcher's own. Errors recorded
// before deliveries recorded categories (raw dial errors) show as their
// category, so that no address or port reaches a reader.
func deliveryError(d imprint.Delivery) string {
	switch {
	case d.LastError == "" || outbound.IsCategory(d.LastError) || d.LastError == errSecretUnreadable || d.LastError == errInvalidURL:
		return d.LastError
	case d.LastStatus != 0:
		return outbound.StatusCategory(d.LastStatus)
	}
	return outbound.CategoryConnection
}

// The dispatcher's own delivery errors, beside outbound's categories.
const (
	errSecretUnreadable = "cannot open the webhook's secret (was the CA passphrase changed?)"
	errInvalidURL       = "invalid URL"
)

// DeliveryStore is what the webhook dispatcher needs.
type DeliveryStore interface {
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

// Dispatcher delivers webhook events: queued from the audit log (the outbox)
// in the transaction order, POSTed with an HMAC-SHA256 signature, retried with
// exponential backoff, each outcome recorded.
type Dispatcher struct {
	store   DeliveryStore
	secrets *SecretBox
	client  *http.Client
	log     *slog.Logger
	wake    chan struct{}
}

// NewDispatcher returns a dispatcher that delivers with client, which
// should be an outbound.Guard's (the server's one guard, with the allow list
// of IMPRINT_OUTBOUND_ALLOW); nil is a guard's with no allow list: public
// addresses only.
func NewDispatcher(store DeliveryStore, secrets *SecretBox, client *http.Client, log *slog.Logger) *Dispatcher {
	if client == nil {
		client = outbound.New(nil).Client(outbound.ClientOptions{Timeout: deliveryTimeout})
	}
	return &Dispatcher{store: store, secrets: secrets, client: client, log: log, wake: make(chan struct{}, 1)}
}

// Notify wakes the dispatcher (on any change that writes events).
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

// SignatureHeader carries a delivery's signature: "t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" under the webhook's secret>".
const SignatureHeader = "Imprint-Signature"

// Sign returns the signature header value of body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
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
	body, _ := json.Marshal(eventOf(&del.Event))
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
