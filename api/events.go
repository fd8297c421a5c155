package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/imprint-iot/imprint"
)

// EventStore reads the audit log.
type EventStore interface {
	Events(ctx context.Context, f imprint.EventFilter) ([]imprint.Event, imprint.EventCursor, error)
}

// EventSource hands out live events for the event stream (an *events.Hub).
type EventSource interface {
	// Subscribe returns the events written from now on and the function
	// that ends the subscription.
	Subscribe() (events <-chan imprint.Event, cancel func())
}

// handleListEvents: GET /v1/events, filtered by type, resource and time.
func (s *server) handleListEvents(w http.ResponseWriter, r *http.Request) error {
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
		return err
	}
	events, next, err := s.auditLog.Events(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Events     []imprint.Event `json:"events"`
		NextCursor string          `json:"nextCursor,omitempty"`
	}{Events: events}
	if out.Events == nil {
		out.Events = []imprint.Event{}
	}
	if next != (imprint.EventCursor{}) {
		out.NextCursor = imprint.EncodeCursor("events", strconv.FormatUint(next.TxID, 10), strconv.FormatInt(next.ID, 10))
	}
	encode(w, http.StatusOK, out)
	return nil
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

// handleEventStream: GET /v1/events/stream, server-sent events of the audit
// log from now on (optionally only some types: ?type=a&type=b).
func (s *server) handleEventStream(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "type")
	if err != nil {
		return err
	}
	types := q["type"]
	for _, t := range types {
		if !slices.Contains(imprint.EventTypes, t) {
			return imprint.Errorf(imprint.Invalid, "unknown event type %q", t)
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return imprint.Errorf(imprint.Internal, "streaming unsupported")
	}
	// A stream outlives the server's write timeout.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.log.Debug("clear write deadline", "err", err)
	}
	ch, cancel := s.events.Subscribe()
	defer cancel()
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
			return nil
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case e := <-ch:
			if len(types) > 0 && !slices.Contains(types, e.Type) {
				continue
			}
			data, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data)
		}
		flusher.Flush()
	}
}
