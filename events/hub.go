// Package events fans the audit log out, as it grows, to live subscribers
// such as the API's event stream.
package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
)

// Store is what the hub needs from the database: the audit log read as an
// outbox.
type Store interface {
	EventsSince(ctx context.Context, cur imprint.EventCursor, types []string, limit int) ([]imprint.Event, imprint.EventCursor, error)
	EventsHead(ctx context.Context) (imprint.EventCursor, error)
}

// Hub reads the audit log as it grows and fans it out to its subscribers. It
// reads the events themselves only while someone listens.
type Hub struct {
	store Store
	log   *slog.Logger
	mu    sync.Mutex
	subs  map[chan imprint.Event]struct{}
	wake  chan struct{}
	ready chan struct{} // closed once Run has read the log's head
}

// NewHub returns a hub; Run makes it read.
func NewHub(store Store, log *slog.Logger) *Hub {
	return &Hub{store: store, log: log, subs: map[chan imprint.Event]struct{}{}, wake: make(chan struct{}, 1),
		ready: make(chan struct{})}
}

// poll is how often the hub reads the log while anyone listens.
const poll = 200 * time.Millisecond

// readBatch is how many events the hub asks the store for at once.
const readBatch = 500

// SubscriberBuffer is how many events a subscriber may fall behind by before
// it loses events.
const SubscriberBuffer = 1024

// Run reads the log until ctx ends. While no one listens it only keeps the
// position of the log's head (one small query a poll), so that a new
// subscriber is sent every event written since it subscribed, even one
// written before the hub's next read: it starts from that position.
func (h *Hub) Run(ctx context.Context) {
	var (
		cur   imprint.EventCursor
		known bool // cur is a position read from the log, not the zero one
	)
	for {
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		if n == 0 || !known {
			if head, err := h.store.EventsHead(ctx); err == nil {
				if !known {
					close(h.ready)
				}
				cur, known = head, true
			} else if ctx.Err() == nil {
				h.log.Warn("read the head of the event log", "err", err)
			}
		} else {
			cur = h.readFrom(ctx, cur)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-time.After(poll):
		}
	}
}

func (h *Hub) readFrom(ctx context.Context, cur imprint.EventCursor) imprint.EventCursor {
	for {
		events, next, err := h.store.EventsSince(ctx, cur, nil, readBatch)
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
		if len(events) < readBatch {
			return cur
		}
	}
}

// Ready is closed once Run has read the position of the log's head: from
// then on a subscriber misses nothing written after it subscribed.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Subscribe returns a channel of the events written from now on (and
// possibly some of the moments before: the hub starts from the head of the
// log as it last read it, at most a poll ago), and
// the function that ends the subscription. Events come in the order of the
// log; a subscriber more than SubscriberBuffer events behind loses the
// newer ones. The channel is never closed: stop reading it once cancel is
// called.
func (h *Hub) Subscribe() (events <-chan imprint.Event, cancel func()) {
	ch := make(chan imprint.Event, SubscriberBuffer)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}
