package imprint

// IdempotentResponse is the stored response of an issuing request sent with an
// Idempotency-Key header. It is recorded in the transaction that records the
// request's certificates, and nothing of the key is stored before: a retry
// gets exactly what the first request got, and a request that did not commit
// leaves its key free.
type IdempotentResponse struct {
	TokenID     string
	KeyHash     []byte // SHA-256 of the Idempotency-Key header
	RequestHash []byte // SHA-256 of the request's method, path and body
	StatusCode  int
	Body        []byte
}

// IdempotentRecord is what an earlier request with the same Idempotency-Key
// left behind: its recorded response.
type IdempotentRecord struct {
	RequestHash []byte // SHA-256 of the earlier request
	StatusCode  int
	Body        []byte
}
