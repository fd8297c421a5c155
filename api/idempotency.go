package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"

	"github.com/imprint-iot/imprint"
)

// MaxIdempotencyKey is the longest Idempotency-Key header accepted.
const MaxIdempotencyKey = 255

// beginIdempotent reads the body of an issuing request and claims its
// Idempotency-Key, if it has one. It returns the body and the response to
// complete when the request succeeds (nil without a key), or done=true once it
// has answered the request itself: with an error for a body it cannot read,
// with the stored response of an earlier identical request, or with an error
// for a key reused with another body or still in flight.
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
	reqHash := h.Sum(nil)
	rec, err := s.store.ClaimIdempotencyKey(r.Context(), actor.TokenID, keyHash[:], reqHash)
	switch {
	case err != nil:
		s.writeError(w, r, err)
		return nil, nil, true
	case rec == nil:
		return body, &imprint.IdempotentResponse{TokenID: actor.TokenID, KeyHash: keyHash[:]}, false
	case !bytes.Equal(rec.RequestHash, reqHash):
		s.writeError(w, r, imprint.Errorf(imprint.Conflict,
			"this Idempotency-Key was already used with a different request"))
	case !rec.Completed:
		s.writeError(w, r, imprint.Errorf(imprint.Conflict,
			"a request with this Idempotency-Key is still being processed; retry later"))
	default:
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.StatusCode)
		w.Write(rec.Body)
		w.Write([]byte{'\n'})
	}
	return nil, nil, true
}

// abandon answers err and releases the request's Idempotency-Key, so that a
// corrected retry may use it: nothing was issued.
func (s *server) abandon(w http.ResponseWriter, r *http.Request, idem *imprint.IdempotentResponse, err error) {
	if idem != nil {
		if rerr := s.store.ReleaseIdempotencyKey(r.Context(), idem.TokenID, idem.KeyHash); rerr != nil {
			s.log.WarnContext(r.Context(), "release idempotency key", "err", rerr)
		}
	}
	s.writeError(w, r, err)
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
