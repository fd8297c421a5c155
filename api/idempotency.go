package api

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// MaxIdempotencyKey is the longest Idempotency-Key header accepted.
const MaxIdempotencyKey = 255

// readIdempotent reads the body of an issuing request and its
// Idempotency-Key, if it has one (nil otherwise): the key hashed, under the
// caller's token, with the hash of the method, path and body, so that only
// the same request gets the first one's answer.
func readIdempotent(w http.ResponseWriter, r *http.Request) ([]byte, *provisioning.Idempotency, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return body, nil, nil
	}
	if len(key) > MaxIdempotencyKey || !printableASCII(key) {
		return nil, nil, imprint.Errorf(imprint.Invalid, "Idempotency-Key must be 1 to %d printable ASCII characters", MaxIdempotencyKey)
	}
	keyHash := sha256.Sum256([]byte(key))
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(body)
	return body, &provisioning.Idempotency{TokenID: imprint.ActorFromContext(r.Context()).TokenID,
		KeyHash: keyHash[:], RequestHash: h.Sum(nil)}, nil
}

// writeOutcome answers with what an issuing flow answered, replayed or not,
// and counts what it issued.
func (s *server) writeOutcome(w http.ResponseWriter, out *provisioning.Outcome) {
	if out.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	for _, c := range out.Issued {
		s.metrics.issued.WithLabelValues(c.CAID).Inc()
	}
	writeJSON(w, out.Status, out.Body)
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
