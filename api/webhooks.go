package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
	"github.com/imprint-iot/imprint/webhooks"
)

// WebhookStore keeps webhooks and their deliveries.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *imprint.Webhook, actor imprint.Actor) error
	Webhook(ctx context.Context, id string) (*imprint.Webhook, error)
	Webhooks(ctx context.Context) ([]*imprint.Webhook, error)
	DeleteWebhook(ctx context.Context, id string, actor imprint.Actor) error
	Deliveries(ctx context.Context, webhookID string, limit int) ([]imprint.Delivery, error)
}

// SecretSealer seals webhook secrets for storage (a *webhooks.SecretBox).
type SecretSealer interface {
	// Seal encrypts a secret; what it returns is safe to store.
	Seal(plain string) string
}

type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

// validate checks the request; plain HTTP URLs are refused unless allowed,
// and so are hosts the guard knows it would refuse (guard.CheckHost).
func (q *webhookRequest) validate(allowHTTP bool, guard *outbound.Guard) error {
	if err := guard.CheckURL(q.URL, allowHTTP); err != nil {
		return err
	}
	if err := outbound.CheckSecret(q.Secret); err != nil {
		return err
	}
	switch {
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
func (s *server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[webhookRequest](w, r)
	if err == nil {
		err = req.validate(s.webhookHTTP, s.outbound)
	}
	if err != nil {
		return err
	}
	id := make([]byte, 12)
	rand.Read(id)
	hook := &imprint.Webhook{ID: "wh_" + hex.EncodeToString(id), URL: req.URL, EventTypes: req.Events,
		SealedSecret: s.secrets.Seal(req.Secret), Enabled: true}
	if err := s.webhooks.CreateWebhook(r.Context(), hook, imprint.ActorFromContext(r.Context())); err != nil {
		return err
	}
	encode(w, http.StatusCreated, webhookOf(hook))
	return nil
}

// handleListWebhooks: GET /v1/webhooks.
func (s *server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	hooks, err := s.webhooks.Webhooks(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Webhooks []webhookJSON `json:"webhooks"`
	}{Webhooks: make([]webhookJSON, len(hooks))}
	for i, h := range hooks {
		out.Webhooks[i] = webhookOf(h)
	}
	encode(w, http.StatusOK, out)
	return nil
}

// handleDeleteWebhook: DELETE /v1/webhooks/{id}.
func (s *server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err == nil {
		err = s.webhooks.DeleteWebhook(r.Context(), id, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleListDeliveries: GET /v1/webhooks/{id}/deliveries, the latest first.
func (s *server) handleListDeliveries(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err == nil {
		_, err = s.webhooks.Webhook(r.Context(), id)
	}
	if err != nil {
		return err
	}
	ds, err := s.webhooks.Deliveries(r.Context(), id, 100)
	if err != nil {
		return err
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
			Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: webhooks.DeliveryError(d)}
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
	return nil
}
