package postgres

import (
	"context"
	"time"
)

// Listen calls handle for every notification on the given channels until ctx
// ends, on a connection of its own, reconnecting after failures. Notifications
// sent while it is disconnected are lost, so after every (re)connection it
// calls handle with an empty payload on each channel: the signal to resync.
func (db *DB) Listen(ctx context.Context, handle func(channel, payload string), channels ...string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, handle, channels)
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("notification listener disconnected; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, handle func(channel, payload string), channels []string) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack() // never returned to the pool: it stays in LISTEN
	defer conn.Close(context.Background())
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, `LISTEN `+quoteIdent(ch)); err != nil {
			return err
		}
	}
	for _, ch := range channels {
		handle(ch, "")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		handle(n.Channel, n.Payload)
	}
}

func quoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}

// Notify sends a notification on channel now, outside any transaction.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	_, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return mapError(err)
}
