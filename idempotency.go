package imprint

// IdempotentResponse is the stored response of an issuing request sent with an
// Idempotency-Key header. It is completed in the transaction that records the
// request's certificates, so a retry gets exactly what the first request got.
type IdempotentResponse struct {
	TokenID    string
	KeyHash    []byte // SHA-256 of the Idempotency-Key header
	StatusCode int
	Body       []byte
}

// IdempotentRecord is what an earlier request with the same Idempotency-Key
// left behind.
type IdempotentRecord struct {
	RequestHash []byte // SHA-256 of the earlier request
	Completed   bool   // false while the first request is still being served
	StatusCode  int
	Body        []byte
}
