package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/imprint-iot/imprint"
)

// Group commit. Issuing requests hand their certificates to a few writer
// goroutines; each writer takes whatever is queued (up to maxGroupRows) and
// writes it in one transaction with COPY, so that many concurrent requests
// share one commit. A request waits for its own commit before it answers: no
// certificate leaves Imprint unrecorded.

const (
	maxGroupRows  = 2000
	flushTimeout  = 30 * time.Second
	writerBacklog = 4096
)

type writeUnit struct {
	certs []imprint.Certificate
	actor imprint.Actor
	idem  *imprint.IdempotentResponse
	done  chan error
}

func (u *writeUnit) rows() int            { return len(u.certs) }
func (u *writeUnit) finished() chan error { return u.done }

// groupUnit is a unit of work a groupQueue commits with others: rows tells
// its size, and its channel takes its outcome, once.
type groupUnit interface {
	rows() int
	finished() chan error
}

// groupQueue hands units to a few goroutines, each of which takes whatever
// is queued (up to max rows) and commits it as one group. A unit is
// answered on its channel when its group is done.
type groupQueue[U groupUnit] struct {
	queue  chan U
	max    int
	commit func(group []U)
	wg     sync.WaitGroup
	mu     sync.RWMutex // guards closed and the closing of queue
	closed bool
}

func newGroupQueue[U groupUnit](goroutines, max int, commit func([]U)) *groupQueue[U] {
	q := &groupQueue[U]{queue: make(chan U, writerBacklog), max: max, commit: commit}
	q.wg.Add(goroutines)
	for range goroutines {
		go q.loop()
	}
	return q
}

func (q *groupQueue[U]) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// submit queues u and waits for its outcome. If ctx ends first, submit
// returns Unavailable; u may still be committed.
func (q *groupQueue[U]) submit(ctx context.Context, u U) error {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return imprint.Errorf(imprint.Unavailable, "the store is closed")
	}
	select {
	case q.queue <- u:
		q.mu.RUnlock()
	case <-ctx.Done():
		q.mu.RUnlock()
		return &imprint.Error{Kind: imprint.Unavailable, Message: "request cancelled", Err: ctx.Err()}
	}
	select {
	case err := <-u.finished():
		return err
	case <-ctx.Done():
		return &imprint.Error{Kind: imprint.Unavailable, Message: "request cancelled", Err: ctx.Err()}
	}
}

func (q *groupQueue[U]) loop() {
	defer q.wg.Done()
	for u := range q.queue {
		group := []U{u}
		rows := u.rows()
	drain:
		for rows < q.max {
			select {
			case next, ok := <-q.queue:
				if !ok {
					break drain
				}
				group = append(group, next)
				rows += next.rows()
			default:
				break drain
			}
		}
		q.commit(group)
	}
}

// certWriter is the group commit of issued certificates.
type certWriter struct {
	db *DB
	q  *groupQueue[*writeUnit]
}

func newCertWriter(db *DB, n int) *certWriter {
	w := &certWriter{db: db}
	w.q = newGroupQueue(n, maxGroupRows, w.commit)
	return w
}

func (w *certWriter) close() { w.q.close() }

// write queues u and waits until it is committed or has failed. If ctx ends
// first, write returns Unavailable; the rows may still be committed, and
// are then recorded but were never handed out.
func (w *certWriter) write(ctx context.Context, u *writeUnit) error {
	u.done = make(chan error, 1)
	return w.q.submit(ctx, u)
}

// commit writes group in one transaction. If that fails and the group holds
// more than one unit, each unit is retried alone, so that one bad unit (a
// duplicate) fails only itself.
func (w *certWriter) commit(group []*writeUnit) {
	err := w.flush(group)
	if err == nil || len(group) == 1 {
		for _, u := range group {
			u.done <- err
		}
		return
	}
	for _, u := range group {
		u.done <- w.flush([]*writeUnit{u})
	}
}

func (w *certWriter) flush(group []*writeUnit) error {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	certs := flatten(group)
	if len(certs) <= maxInsertRows && !hasIdempotent(group) {
		// The common case of a few certificates from concurrent requests:
		// one statement, its own transaction, one round trip.
		return mapError(insertCertificates(ctx, w.db.pool, certs))
	}
	return w.db.inTx(ctx, func(tx pgx.Tx) error {
		if err := copyCertificates(ctx, tx, certs); err != nil {
			return err
		}
		if err := copyIssueEvents(ctx, tx, certs); err != nil {
			return err
		}
		return completeIdempotent(ctx, tx, idempotentResponses(group))
	})
}

func hasIdempotent(group []*writeUnit) bool {
	for _, u := range group {
		if u.idem != nil {
			return true
		}
	}
	return false
}

func idempotentResponses(group []*writeUnit) []*imprint.IdempotentResponse {
	var rs []*imprint.IdempotentResponse
	for _, u := range group {
		if u.idem != nil {
			rs = append(rs, u.idem)
		}
	}
	return rs
}

// execer is a pool, a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// maxInsertRows is the largest group written with one INSERT of arrays; larger
// ones go through COPY, which is faster per row but costs more round trips.
const maxInsertRows = 64

// insertCertificates records certs and their audit events in one statement.
func insertCertificates(ctx context.Context, db execer, certs []actedCert) error {
	n := len(certs)
	var (
		ids, serials, caIDs, subjects, cns, keyAlgs, statuses = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		sans                                                  = make([]string, n) // text[] literals: Postgres has no arrays of arrays of varying length
		notBefore, notAfter, created                          = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		ders                                                  = make([][]byte, n)
		tokens, names, roles, data                            = make([]*string, n), make([]string, n), make([]string, n), make([]string, n)
	)
	for i, ac := range certs {
		c, a := ac.cert, ac.actor
		ids[i], serials[i], caIDs[i], subjects[i], cns[i] = c.ID, c.Serial, c.CAID, c.Subject, c.CommonName
		keyAlgs[i], statuses[i], ders[i] = string(c.KeyAlgorithm), string(c.Status), c.DER
		notBefore[i], notAfter[i], created[i] = c.NotBefore, c.NotAfter, c.CreatedAt
		sans[i] = textArrayLiteral(c.SANs)
		if a.TokenID != "" {
			tokens[i] = &ac.actor.TokenID
		}
		names[i], roles[i] = a.Name, string(a.Role)
		d, err := json.Marshal(issuedEventData{Serial: c.Serial, CAID: c.CAID, CommonName: c.CommonName})
		if err != nil {
			return err
		}
		data[i] = string(d)
	}
	_, err := db.Exec(ctx, `
		WITH c AS (
			INSERT INTO certificates (id, serial, ca_id, subject, common_name, sans, key_algorithm,
			                          not_before, not_after, status, der, created_at, updated_at)
			SELECT id, serial, ca_id, subject, cn, sans::text[], alg, nb, na, status, der, created, created
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			            $8::timestamptz[], $9::timestamptz[], $10::text[], $11::bytea[], $12::timestamptz[])
			     AS v(id, serial, ca_id, subject, cn, sans, alg, nb, na, status, der, created)
		)
		INSERT INTO audit_events (type, resource_type, resource_id, actor_token, actor_name, actor_role, data, created_at)
		SELECT 'certificate.issued', 'certificate', id, token, name, role, data::jsonb, created
		FROM unnest($1::text[], $13::text[], $14::text[], $15::text[], $16::text[], $12::timestamptz[])
		     AS e(id, token, name, role, data, created)`,
		ids, serials, caIDs, subjects, cns, sans, keyAlgs, notBefore, notAfter, statuses, ders, created,
		tokens, names, roles, data)
	if err != nil {
		return fmt.Errorf("insert %d certificates: %w", n, err)
	}
	return nil
}

// textArrayLiteral encodes ss as a Postgres text[] literal.
func textArrayLiteral(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var certificateCopyColumns = []string{"id", "serial", "ca_id", "subject", "common_name", "sans",
	"key_algorithm", "not_before", "not_after", "status", "der", "created_at", "updated_at"}

func copyCertificates(ctx context.Context, tx pgx.Tx, certs []actedCert) error {
	if len(certs) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"certificates"}, certificateCopyColumns,
		pgx.CopyFromSlice(len(certs), func(i int) ([]any, error) {
			c := certs[i].cert
			sans := c.SANs
			if sans == nil {
				sans = []string{}
			}
			return []any{c.ID, c.Serial, c.CAID, c.Subject, c.CommonName, sans, string(c.KeyAlgorithm),
				c.NotBefore, c.NotAfter, string(c.Status), c.DER, c.CreatedAt, c.CreatedAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy %d certificates: %w", len(certs), err)
	}
	return nil
}

var eventCopyColumns = []string{"type", "resource_type", "resource_id", "actor_token", "actor_name",
	"actor_role", "data", "created_at"}

type issuedEventData struct {
	Serial     string `json:"serial"`
	CAID       string `json:"caId"`
	CommonName string `json:"commonName"`
}

func copyIssueEvents(ctx context.Context, tx pgx.Tx, certs []actedCert) error {
	if len(certs) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, eventCopyColumns,
		pgx.CopyFromSlice(len(certs), func(i int) ([]any, error) {
			c, a := certs[i].cert, certs[i].actor
			data, err := json.Marshal(issuedEventData{Serial: c.Serial, CAID: c.CAID, CommonName: c.CommonName})
			if err != nil {
				return nil, err
			}
			return []any{imprint.EventCertificateIssued, "certificate", c.ID, nullable(a.TokenID),
				a.Name, string(a.Role), string(data), c.CreatedAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy %d audit events: %w", len(certs), err)
	}
	return nil
}

type actedCert struct {
	cert  *imprint.Certificate
	actor imprint.Actor
}

func flatten(group []*writeUnit) []actedCert {
	n := 0
	for _, u := range group {
		n += len(u.certs)
	}
	out := make([]actedCert, 0, n)
	for _, u := range group {
		for i := range u.certs {
			out = append(out, actedCert{&u.certs[i], u.actor})
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
