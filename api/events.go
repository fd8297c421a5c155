package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
)

// EventStore reads the audit log.
type EventStore interface {
	Events(ctx context.Context, f imprint.EventFilter) ([]imprint.Event, imprint.EventCursor, error)
	EventsSince(ctx context.Context, cur imprint.EventCursor, types []string, limit int) ([]imprint.Event, imprint.EventCursor, error)
	EventsHead(ctx context.Context) (imprint.EventCursor, error)
}

// eventJSON is an audit event as the API, the event stream and webhooks show it.
type eventJSON struct {
	ID           int64           `json:"id"`
	Type         string          `json:"type"`
	ResourceType string          `json:"resourceType"`
	ResourceID   string          `json:"resourceId"`
	Actor        actorJSON       `json:"actor"`
	Data         json.RawMessage `json:"data,omitempty"`
	CreatedAt    time.Time       `json:"createdAt"`
}

type actorJSON struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func eventOf(e *imprint.Event) eventJSON {
	return eventJSON{ID: e.ID, Type: e.Type, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
		Actor: actorJSON{Name: e.Actor.Name, Role: string(e.Actor.Role)}, Data: e.Data, CreatedAt: e.CreatedAt.UTC()}
}

// handleListEvents: GET /v1/events, filtered by type, resource and time.
func (s *server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "type", "resourceType", "resourceId", "after", "before", "cursor", "limit")
	f := imprint.EventFilter{Type: q.Get("type"), ResourceType: q.Get("resourceType"), ResourceID: q.Get("resourceId")}
	if err == nil && f.Type != "" && !slices.Contains(imprint.EventTypes, f.Type) {
		err = imprint.Errorf(imprint.Invalid, "unknown event type %q (want one of %v)", f.Type, imprint.EventTypes)
	}
	if err == nil {
		f.After, err = timeParam(q.Get("after"), "after")
	}
	if err == nil {
		f.Before, err = timeParam(q.Get("before"), "before")
	}
	if v := q.Get("cursor"); v != "" && err == nil {
		f.Cursor, err = parseEventCursor(v)
	}
	if err == nil {
		f.Limit, err = limitParam(q)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	events, next, err := s.store.Events(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Events     []eventJSON `json:"events"`
		NextCursor string      `json:"nextCursor,omitempty"`
	}{Events: make([]eventJSON, len(events))}
	for i := range events {
		out.Events[i] = eventOf(&events[i])
	}
	if next != (imprint.EventCursor{}) {
		out.NextCursor = imprint.EncodeCursor("events", strconv.FormatUint(next.TxID, 10), strconv.FormatInt(next.ID, 10))
	}
	encode(w, http.StatusOK, out)
}

// parseEventCursor reads the cursor of event pages: a transaction and an
// event ID.
func parseEventCursor(v string) (imprint.EventCursor, error) {
	parts, err := imprint.DecodeCursor("events", v, 2)
	if err != nil {
		return imprint.EventCursor{}, err
	}
	txid, err1 := strconv.ParseUint(parts[0], 10, 64)
	eid, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || eid < 0 {
		return imprint.EventCursor{}, imprint.Errorf(imprint.Invalid, "cursor is malformed: pass the nextCursor of the previous page of this listing")
	}
	return imprint.EventCursor{TxID: txid, ID: eid}, nil
}

// EventHub reads the audit log as it grows and fans it out to the
// subscribers of the event stream. It reads only while someone listens.
type EventHub struct {
	store EventStore
	log   *slog.Logger
	mu    sync.Mutex
	subs  map[chan imprint.Event]struct{}
	wake  chan struct{}
}

// NewEventHub returns a hub; Run makes it read.
func NewEventHub(store EventStore, log *slog.Logger) *EventHub {
	return &EventHub{store: store, log: log, subs: map[chan imprint.Event]struct{}{}, wake: make(chan struct{}, 1)}
}

// eventPoll is how often the hub reads the log while anyone listens.
const eventPoll = 200 * time.Millisecond

// Run reads the log until ctx ends.
func (h *EventHub) Run(ctx context.Context) {
	var cur imprint.EventCursor
	listening := false
	for {
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		switch {
		case n == 0:
			listening = false
		case !listening:
			var err error
			if cur, err = h.store.EventsHead(ctx); err == nil {
				listening = true
			}
		default:
			cur = h.readFrom(ctx, cur)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-time.After(eventPoll):
		}
	}
}

func (h *EventHub) readFrom(ctx context.Context, cur imprint.EventCursor) imprint.EventCursor {
	for {
		events, next, err := h.store.EventsSince(ctx, cur, nil, 500)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read events for the stream", "err", err)
			}
			return cur
		}
		h.mu.Lock()
		for _, e := range events {
			for sub := range h.subs {
				select {
				case sub <- e:
				default: // a subscriber that does not keep up loses events, not the hub
				}
			}
		}
		h.mu.Unlock()
		cur = next
		if len(events) < 500 {
			return cur
		}
	}
}

func (h *EventHub) subscribe() chan imprint.Event {
	ch := make(chan imprint.Event, 1024)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return ch
}

func (h *EventHub) unsubscribe(ch chan imprint.Event) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

// handleEventStream: GET /v1/events/stream, server-sent events of the audit
// log from now on (optionally only some types: ?type=a&type=b).
func (s *server) handleEventStream(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "type")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	types := q["type"]
	for _, t := range types {
		if !slices.Contains(imprint.EventTypes, t) {
			s.writeError(w, r, imprint.Errorf(imprint.Invalid, "unknown event type %q", t))
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, imprint.Errorf(imprint.Internal, "streaming unsupported"))
		return
	}
	// A stream outlives the server's write timeout.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.log.Debug("clear write deadline", "err", err)
	}
	ch := s.events.subscribe()
	defer s.events.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": imprint event stream\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case e := <-ch:
			if len(types) > 0 && !slices.Contains(types, e.Type) {
				continue
			}
			data, _ := json.Marshal(eventOf(&e))
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data)
		}
		flusher.Flush()
	}
}
