package provisioning

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"runtime"
	"sync"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// CA is what the engine needs of the certificate authority.
type CA interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error)
	// CanIssue returns why the CA (the default one for "") cannot issue now.
	CanIssue(caID string) error
	CA(id string) (*imprint.CA, error)
	// CAs returns every CA, the root first.
	CAs() []*imprint.CA
	CreateIssuingCA(ctx context.Context, req ca.CreateCARequest) (*imprint.CA, error)
	Reload(ctx context.Context) error
}

// IssuingStore records certificates, and the answers to requests with an
// Idempotency-Key.
type IssuingStore interface {
	// CreateCertificates records certs and their audit events, and idem if
	// not nil, in one transaction. Returns Conflict if an answer is already
	// recorded for idem's key.
	CreateCertificates(ctx context.Context, certs []imprint.Certificate, actor imprint.Actor, idem *imprint.IdempotentResponse) error
	// IdempotentRecord returns the answer recorded for a key, or nil if no
	// request with it has committed.
	IdempotentRecord(ctx context.Context, tokenID string, keyHash []byte) (*imprint.IdempotentRecord, error)
}

// Idempotency names a request that may be retried: its Idempotency-Key
// (hashed) under the caller's token, and the hash of what it asked, so that
// a retry of the same request gets the first one's answer and another
// request under the key is refused.
type Idempotency struct {
	TokenID     string
	KeyHash     []byte
	RequestHash []byte
}

// Answer is the answer to an issuing request as the caller encodes it. The
// engine records it for the request's Idempotency-Key and replays it to
// retries; it never reads it.
type Answer struct {
	Status int
	Body   []byte
}

// Outcome is what an issuing flow did: the answer to give, and the
// certificates it recorded (none when Replayed).
type Outcome struct {
	Answer
	// Replayed is set when the answer is one recorded by an earlier request
	// with the same Idempotency-Key.
	Replayed bool
	Issued   []imprint.Certificate
}

// Respond makes the answers of an issuing flow from what it signed: now is
// the answer to this request, kept the one recorded for retries with the
// same Idempotency-Key (now again, unless it holds what may be shown once).
type Respond[T any] func(T) (now, kept Answer)

// IssueRequest asks for a certificate for one CSR.
type IssueRequest struct {
	Actor        imprint.Actor
	Idempotency  *Idempotency // nil: no Idempotency-Key
	CSRPEM       []byte
	CAID         string // "" for the default CA
	ValidityDays int    // 0 for the CA profile's
}

// Issue checks and signs one CSR, records the certificate and only then
// answers: no certificate is handed out that is not stored. With an
// Idempotency-Key, a retry gets the first request's answer, and a request
// racing another with the key gets the one that committed first. Returns
// Invalid and Forbidden for what the CA refuses, Conflict for a key in use.
func (e *Engine) Issue(ctx context.Context, req IssueRequest, respond Respond[*ca.Issued]) (*Outcome, error) {
	return e.idempotent(ctx, req.Idempotency, func() (*Outcome, error) {
		iss, err := e.sign(ctx, req.CSRPEM, req.CAID, req.ValidityDays)
		if err != nil {
			return nil, err
		}
		return record(ctx, e, req.Actor, req.Idempotency, []imprint.Certificate{iss.Certificate}, respond, iss)
	})
}

// BatchRequest asks for a certificate for each of several CSRs.
type BatchRequest struct {
	Actor        imprint.Actor
	Idempotency  *Idempotency
	CSRPEMs      [][]byte
	CAID         string
	ValidityDays int
}

// BatchResult is what a batch signed: for each CSR, its certificate or why
// it was refused.
type BatchResult struct {
	Issued []*ca.Issued
	Errs   []error
}

// IssueBatch signs the CSRs of req on every core and records those signed
// in one transaction. A CSR the CA refuses fails only its own item; a CA
// that cannot issue, or a fault of Imprint's, fails the whole request.
func (e *Engine) IssueBatch(ctx context.Context, req BatchRequest, respond Respond[*BatchResult]) (*Outcome, error) {
	return e.idempotent(ctx, req.Idempotency, func() (*Outcome, error) {
		if err := e.ca.CanIssue(req.CAID); err != nil {
			return nil, err
		}
		res := &BatchResult{Issued: make([]*ca.Issued, len(req.CSRPEMs)), Errs: make([]error, len(req.CSRPEMs))}
		e.signAll(ctx, req, res)
		certs := make([]imprint.Certificate, 0, len(req.CSRPEMs))
		for i, err := range res.Errs {
			if err != nil {
				if k := imprint.ErrorKind(err); k == imprint.Internal || k == imprint.Unavailable {
					return nil, err // a fault of ours, not of the item
				}
				continue
			}
			certs = append(certs, res.Issued[i].Certificate)
		}
		return record(ctx, e, req.Actor, req.Idempotency, certs, respond, res)
	})
}

// signAll signs the batch's CSRs on every core.
func (e *Engine) signAll(ctx context.Context, req BatchRequest, res *BatchResult) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(req.CSRPEMs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res.Issued[i], res.Errs[i] = e.sign(ctx, req.CSRPEMs[i], req.CAID, req.ValidityDays)
			}
		}()
	}
	for i := range req.CSRPEMs {
		next <- i
	}
	close(next)
	wg.Wait()
}

// NewKeyRequest asks for a key pair and a certificate for it, for devices
// that cannot make keys.
type NewKeyRequest struct {
	Actor        imprint.Actor
	Idempotency  *Idempotency
	CommonName   string
	KeyType      imprint.KeyType
	CAID         string
	ValidityDays int
}

// NewKey is a certificate with the private key made for it, PEM. The key is
// in the answer only: never stored, never logged.
type NewKey struct {
	*ca.Issued
	KeyPEM []byte
}

// IssueWithNewKey makes a key of req's type, a CSR for req.CommonName, and
// issues and records its certificate as Issue does.
func (e *Engine) IssueWithNewKey(ctx context.Context, req NewKeyRequest, respond Respond[*NewKey]) (*Outcome, error) {
	return e.idempotent(ctx, req.Idempotency, func() (*Outcome, error) {
		key, err := req.KeyType.GenerateKey()
		if err != nil {
			return nil, err
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: req.CommonName}}, key)
		if err != nil {
			return nil, err
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return nil, err
		}
		iss, err := e.ca.Issue(ctx, ca.IssueRequest{CSR: csr, CAID: req.CAID, ValidityDays: req.ValidityDays})
		if err != nil {
			return nil, err
		}
		keyPEM, err := ca.EncodePrivateKey(key)
		if err != nil {
			return nil, err
		}
		return record(ctx, e, req.Actor, req.Idempotency, []imprint.Certificate{iss.Certificate}, respond, &NewKey{iss, keyPEM})
	})
}

func (e *Engine) sign(ctx context.Context, csrPEM []byte, caID string, days int) (*ca.Issued, error) {
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	return e.ca.Issue(ctx, ca.IssueRequest{CSR: csr, CAID: caID, ValidityDays: days})
}

// idempotent runs an issuing flow under its Idempotency-Key: a key this
// process is serving a request for is refused (Conflict), and a key with a
// recorded answer gets it without running the flow. Nothing of a key is
// written before its request commits, so a request that fails, whatever the
// cause, leaves the key free.
func (e *Engine) idempotent(ctx context.Context, idem *Idempotency, flow func() (*Outcome, error)) (*Outcome, error) {
	if idem == nil {
		return flow()
	}
	k := idem.TokenID + "\x00" + string(idem.KeyHash)
	if !e.inflight.claim(k) {
		return nil, imprint.Errorf(imprint.Conflict, "a request with this Idempotency-Key is still being processed; retry later")
	}
	defer e.inflight.done(k)
	if out, err := e.replay(ctx, idem, nil); out != nil || err != nil {
		return out, err
	}
	return flow()
}

// record stores certs with the answer respond makes for them, and returns
// the answer; when another request with the same Idempotency-Key committed
// first, nothing is stored and its answer is returned instead.
func record[T any](ctx context.Context, e *Engine, actor imprint.Actor, idem *Idempotency, certs []imprint.Certificate,
	respond Respond[T], signed T) (*Outcome, error) {
	now, kept := respond(signed)
	var rec *imprint.IdempotentResponse
	if idem != nil {
		rec = &imprint.IdempotentResponse{TokenID: idem.TokenID, KeyHash: idem.KeyHash, RequestHash: idem.RequestHash,
			StatusCode: kept.Status, Body: kept.Body}
	}
	if err := e.issuing.CreateCertificates(ctx, certs, actor, rec); err != nil {
		if idem != nil && imprint.ErrorKind(err) == imprint.Conflict {
			return e.replay(ctx, idem, err) // another request with the key committed first: its answer is ours
		}
		return nil, err
	}
	return &Outcome{Answer: now, Issued: certs}, nil
}

// replay returns the answer recorded for idem's key: nil if there is none
// (or cause, when cause is what sent the caller here), and Conflict if the
// key was used with another request.
func (e *Engine) replay(ctx context.Context, idem *Idempotency, cause error) (*Outcome, error) {
	rec, err := e.issuing.IdempotentRecord(ctx, idem.TokenID, idem.KeyHash)
	switch {
	case err != nil:
		if cause != nil {
			return nil, cause
		}
		return nil, err
	case rec == nil:
		return nil, cause
	case !bytes.Equal(rec.RequestHash, idem.RequestHash):
		return nil, imprint.Errorf(imprint.Conflict, "this Idempotency-Key was already used with a different request")
	}
	return &Outcome{Answer: Answer{Status: rec.StatusCode, Body: rec.Body}, Replayed: true}, nil
}

// inflightKeys holds the Idempotency-Keys of the requests this process is
// serving. It is what turns away a concurrent retry to the same replica; it
// dies with the process, and so never outlives its request. The zero value
// is empty and ready.
type inflightKeys struct {
	mu   sync.Mutex
	keys map[string]struct{}
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

func (f *inflightKeys) done(k string) {
	f.mu.Lock()
	delete(f.keys, k)
	f.mu.Unlock()
}
