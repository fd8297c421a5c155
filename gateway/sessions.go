package gateway

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/imprint-iot/imprint"
)

// invalidationMemory is how long an invalidation is remembered, to refuse a
// connection that was decided before it and would register after it.
const invalidationMemory = time.Minute

// sessions is the registry of live MQTT sessions: by client for the
// decisions of every packet, by certificate (CA ID and serial) for the kill
// switch, by connection for the end of each.
type sessions struct {
	byClient sync.Map // *mqtt.Client -> *session

	mu          sync.Mutex
	byCert      map[string]map[*session]struct{} // "caID serial"
	byConn      map[*Conn]*session
	invalidated map[string]time.Time // "caID serial" -> when, for invalidationMemory
}

func newSessions() *sessions {
	return &sessions{byCert: map[string]map[*session]struct{}{}, byConn: map[*Conn]*session{},
		invalidated: map[string]time.Time{}}
}

func certKey(caID, serial string) string { return caID + " " + serial }

// add registers s, decided from a start at started. Returns Aborted if
// the certificate's standing changed since: decide it again.
func (r *sessions) add(s *session, started time.Time) error {
	key := certKey(s.conn.CAID, s.conn.Serial)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range []string{key, certKey(s.conn.CAID, "*"), allKey} {
		if at, ok := r.invalidated[k]; ok && !at.Before(started) {
			return imprint.Errorf(imprint.Aborted, "the standing of certificate %s changed while it connected: connect again",
				s.conn.CertificateID)
		}
	}
	if r.byCert[key] == nil {
		r.byCert[key] = map[*session]struct{}{}
	}
	r.byCert[key][s] = struct{}{}
	if c, ok := s.client.Net.Conn.(*Conn); ok {
		s.netConn = c
		r.byConn[c] = s
	}
	r.byClient.Store(s.client, s)
	return nil
}

// of returns the session of a client, or nil.
func (r *sessions) of(cl *mqtt.Client) *session {
	s, ok := r.byClient.Load(cl)
	if !ok {
		return nil
	}
	return s.(*session)
}

// remove forgets the session of a client, if any.
func (r *sessions) remove(cl *mqtt.Client) {
	if s := r.of(cl); s != nil {
		r.mu.Lock()
		r.drop(s)
		r.mu.Unlock()
	}
}

// removeConn forgets the session of a connection, if any.
func (r *sessions) removeConn(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.byConn[c]; ok {
		r.drop(s)
	}
}

// drop forgets s. r.mu is held.
func (r *sessions) drop(s *session) {
	key := certKey(s.conn.CAID, s.conn.Serial)
	if set := r.byCert[key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(r.byCert, key)
		}
	}
	if s.netConn != nil {
		delete(r.byConn, s.netConn)
	}
	r.byClient.CompareAndDelete(s.client, s)
}

// allKey marks an invalidation of every certificate.
const allKey = "*"

// ofCertificate returns the sessions of a certificate, and remembers that
// its standing changed.
func (r *sessions) ofCertificate(caID, serial string) []*session {
	key := certKey(caID, serial)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remember(key)
	var out []*session
	for s := range r.byCert[key] {
		out = append(out, s)
	}
	return out
}

// ofCA returns the sessions of the certificates of a CA ("" for every CA),
// and remembers that some of their standings changed.
func (r *sessions) ofCA(caID string) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*session
	if caID == "" {
		r.remember(allKey)
	} else {
		r.remember(certKey(caID, "*"))
	}
	for _, s := range r.byConn {
		if caID == "" || s.conn.CAID == caID {
			out = append(out, s)
		}
	}
	return out
}

// remember notes an invalidation under key, and forgets old ones. r.mu is
// held.
func (r *sessions) remember(key string) {
	now := time.Now()
	for k, at := range r.invalidated {
		if now.Sub(at) > invalidationMemory {
			delete(r.invalidated, k)
		}
	}
	r.invalidated[key] = now
}

// removeSession forgets s, if it is still registered.
func (r *sessions) removeSession(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byConn[s.netConn] == s {
		r.drop(s)
	}
}

// len returns how many sessions are live.
func (r *sessions) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byConn)
}
