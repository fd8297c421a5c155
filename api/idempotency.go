package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/imprint-iot/imprint"
)

// MaxIdempotencyKey is the longest Idempotency-Key header accepted.
const MaxIdempotencyKey = 255

// inflightKeys holds the Idempotency-Keys of the requests this process is
// serving. Nothing of a key is written to the database before its request
// commits, so this is what turns away a concurrent retry to the same
// replica; it dies with the process, and so never outlives its request. The
// zero value is empty and ready.
type inflightKeys struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func inflightKey(tokenID string, keyHash []byte) string {
	return tokenID + "\x00" + string(keyHash)
}

// claim marks the key in flight; false if it already is.
func (f *inflightKeys) claim(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.keys[k]; ok {
		return false
	}
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	f.keys[k] = struct{}{}
	return true
}

// done ends the request that claimed idem's key; a nil idem is a request
// without one.
func (f *inflightKeys) done(idem *imprint.IdempotentResponse) {
	if idem == nil {
		return
	}
	f.mu.Lock()
	delete(f.keys, inflightKey(idem.TokenID, idem.KeyHash))
	f.mu.Unlock()
}

// beginIdempotent reads the body of an issuing request and, if it has an
// Idempotency-Key, looks for the recorded response of an earlier request with
// the key. It returns the body and the response to record when the request
// succeeds (nil without a key), or done=true once it has answered the request
// itself: with an error for a body it cannot read, with the recorded response
// of an earlier identical request, or with an error for a key used with
// another body or by a request this process is still serving. The caller
// must call s.inflight.done(idem) when it has answered.
//
// A key is taken only by a committed response (see CertificateStore): a
// request that failed, whatever the cause, leaves it free.
func (s *server) beginIdempotent(w http.ResponseWriter, r *http.Request) (body []byte, idem *imprint.IdempotentResponse, done bool) {
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, nil, true
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return body, nil, false
	}
	if len(key) > MaxIdempotencyKey || !printableASCII(key) {
		s.writeError(w, r, imprint.Errorf(imprint.Invalid,
			"Idempotency-Key must be 1 to %d printable ASCII characters", MaxIdempotencyKey))
		return nil, nil, true
	}
	actor := imprint.ActorFromContext(r.Context())
	keyHash := sha256.Sum256([]byte(key))
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(body)
	idem = &imprint.IdempotentResponse{TokenID: actor.TokenID, KeyHash: keyHash[:], RequestHash: h.Sum(nil)}
	if !s.inflight.claim(inflightKey(idem.TokenID, idem.KeyHash)) {
		s.writeError(w, r, imprint.Errorf(imprint.Conflict,
			"a request with this Idempotency-Key is still being processed; retry later"))
		return nil, nil, true
	}
	if s.replayed(w, r, idem, nil) {
		s.inflight.done(idem)
		return nil, nil, true
	}
	return body, idem, false
}

// replayed answers the request from the response recorded for idem's key, if
// there is one, and reports whether it answered. cause, if not nil, is the
// error that sent the caller here (its commit lost to another request with
// the key); it is the answer when the record cannot be read.
func (s *server) replayed(w http.ResponseWriter, r *http.Request, idem *imprint.IdempotentResponse, cause error) bool {
	rec, err := s.store.IdempotentRecord(r.Context(), idem.TokenID, idem.KeyHash)
	switch {
	case err != nil:
		if cause != nil {
			err = cause
		}
		s.writeError(w, r, err)
	case rec == nil:
		if cause == nil {
			return false
		}
		s.writeError(w, r, cause)
	case !bytes.Equal(rec.RequestHash, idem.RequestHash):
		s.writeError(w, r, imprint.Errorf(imprint.Conflict,
			"this Idempotency-Key was already used with a different request"))
	default:
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.StatusCode)
		w.Write(rec.Body)
		w.Write([]byte{'\n'})
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// mustJSON encodes v, which is one of our own response types and cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
