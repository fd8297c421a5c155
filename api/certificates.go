package api

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// Authority is what the API needs from the CA.
type Authority interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error)
	CAs() []*imprint.CA
	CA(id string) (*imprint.CA, error)
	ChainPEM(id string) ([]byte, error)
	CreateIssuingCA(ctx context.Context, req ca.CreateCARequest) (*imprint.CA, error)
	CanIssue(caID string) error
	Reload(ctx context.Context) error
	Ready() error
}

// CertificateStore records and reads certificates.
type CertificateStore interface {
	CreateCertificates(ctx context.Context, certs []imprint.Certificate, actor imprint.Actor, idem *imprint.IdempotentResponse) error
	Certificate(ctx context.Context, id string) (*imprint.Certificate, error)
	Certificates(ctx context.Context, f imprint.CertificateFilter) ([]imprint.Certificate, string, error)
	// IdempotentRecord returns the response recorded for an Idempotency-Key,
	// or nil if no request with it has committed. CreateCertificates records
	// its idem argument in the certificates' transaction, and returns Conflict
	// if a response is already recorded for the key.
	IdempotentRecord(ctx context.Context, tokenID string, keyHash []byte) (*imprint.IdempotentRecord, error)
}

// MaxBatch is the most CSRs one batch request may carry.
const MaxBatch = 1000

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// normalizeID lowercases a certificate or CA ID and drops an "0x" prefix, as
// AWS IoT accepts them; it returns Invalid for anything else.
func normalizeID(field, id string) (string, error) {
	id = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(id, "0x"), "0X"))
	if !idRE.MatchString(id) {
		return "", imprint.Errorf(imprint.Invalid, "%s must be 64 hexadecimal characters (a SHA-256)", field)
	}
	return id, nil
}

type issueRequest struct {
	CSR          string `json:"csr"`
	CAID         string `json:"caId"`
	ValidityDays int    `json:"validityDays"`
}

func (q *issueRequest) Validate() error {
	if q.CSR == "" {
		return imprint.Errorf(imprint.Invalid, "field \"csr\" is required")
	}
	return validateCAAndValidity(&q.CAID, q.ValidityDays)
}

func validateCAAndValidity(caID *string, days int) error {
	if *caID != "" {
		id, err := normalizeID("caId", *caID)
		if err != nil {
			return err
		}
		*caID = id
	}
	if days < 0 || days > imprint.MaxValidityDays {
		return imprint.Errorf(imprint.Invalid, "field \"validityDays\" must be between 1 and %d", imprint.MaxValidityDays)
	}
	return nil
}

// issueResponse is the answer to an issuing request.
type issueResponse struct {
	CertificateID  string    `json:"certificateId"`
	CertificatePEM string    `json:"certificatePem"`
	ChainPEM       string    `json:"chainPem,omitempty"`
	Serial         string    `json:"serial"`
	NotAfter       time.Time `json:"notAfter"`
	CAID           string    `json:"caId"`
	Status         string    `json:"status"`
	PrivateKeyPEM  string    `json:"privateKeyPem,omitempty"`
}

func responseOf(iss *ca.Issued, withChain bool) issueResponse {
	c := iss.Certificate
	r := issueResponse{CertificateID: c.ID, CertificatePEM: string(iss.PEM), Serial: c.Serial,
		NotAfter: c.NotAfter, CAID: c.CAID, Status: string(c.Status)}
	if withChain {
		r.ChainPEM = string(iss.ChainPEM)
	}
	return r
}

// handleIssue signs one CSR: POST /v1/certificates.
func (s *server) handleIssue(w http.ResponseWriter, r *http.Request) {
	body, idem, done := s.beginIdempotent(w, r)
	if done {
		return
	}
	defer s.inflight.done(idem)
	req, err := decode[issueRequest](body)
	var iss *ca.Issued
	if err == nil {
		iss, err = s.issueOne(r.Context(), req.CSR, req.CAID, req.ValidityDays)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.commit(w, r, []imprint.Certificate{iss.Certificate}, idem, http.StatusCreated, mustJSON(responseOf(iss, true)))
}

func (s *server) issueOne(ctx context.Context, csrPEM, caID string, days int) (*ca.Issued, error) {
	csr, err := ca.ParseCSR([]byte(csrPEM))
	if err != nil {
		return nil, err
	}
	return s.ca.Issue(ctx, ca.IssueRequest{CSR: csr, CAID: caID, ValidityDays: days})
}

// commit records certs and the idempotent response (the answer itself,
// unless the handler set another one for retries) and only then answers: no
// certificate is handed out that is not stored. If another request with the
// same Idempotency-Key committed first, its certificates are not recorded and
// the request gets the other's recorded answer.
func (s *server) commit(w http.ResponseWriter, r *http.Request, certs []imprint.Certificate,
	idem *imprint.IdempotentResponse, status int, body []byte) {
	if idem != nil && idem.Body == nil {
		idem.StatusCode, idem.Body = status, body
	}
	if err := s.store.CreateCertificates(r.Context(), certs, imprint.ActorFromContext(r.Context()), idem); err != nil {
		if idem != nil && imprint.ErrorKind(err) == imprint.Conflict {
			s.replayed(w, r, idem, err) // another request with the key committed first: its answer is ours
			return
		}
		s.writeError(w, r, err)
		return
	}
	for _, c := range certs {
		s.metrics.issued.WithLabelValues(c.CAID).Inc()
	}
	writeJSON(w, status, body)
}

type batchRequest struct {
	CSRs         []string `json:"csrs"`
	CAID         string   `json:"caId"`
	ValidityDays int      `json:"validityDays"`
}

func (q *batchRequest) Validate() error {
	switch {
	case len(q.CSRs) == 0:
		return imprint.Errorf(imprint.Invalid, "field \"csrs\" must hold at least one CSR")
	case len(q.CSRs) > MaxBatch:
		return imprint.Errorf(imprint.Invalid, "field \"csrs\" holds %d CSRs; a batch holds at most %d", len(q.CSRs), MaxBatch)
	}
	return validateCAAndValidity(&q.CAID, q.ValidityDays)
}

type batchItem struct {
	Index int `json:"index"`
	*issueResponse
	Error *errorDetail `json:"error,omitempty"`
}

type batchResponse struct {
	Issued   int         `json:"issued"`
	Failed   int         `json:"failed"`
	ChainPEM string      `json:"chainPem,omitempty"`
	Results  []batchItem `json:"results"`
}

// handleIssueBatch signs up to MaxBatch CSRs: POST /v1/certificates/batch.
// A bad CSR fails only its own item. The certificates are recorded in one
// transaction.
func (s *server) handleIssueBatch(w http.ResponseWriter, r *http.Request) {
	body, idem, done := s.beginIdempotent(w, r)
	if done {
		return
	}
	defer s.inflight.done(idem)
	req, err := decode[batchRequest](body)
	if err == nil {
		err = s.ca.CanIssue(req.CAID) // a CA that cannot issue fails the request, not each item
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	issued, errs := s.issueMany(r.Context(), req)
	resp := batchResponse{Results: make([]batchItem, len(req.CSRs))}
	certs := make([]imprint.Certificate, 0, len(req.CSRs))
	for i := range req.CSRs {
		item := batchItem{Index: i}
		if errs[i] != nil {
			if k := imprint.ErrorKind(errs[i]); k == imprint.Internal || k == imprint.Unavailable {
				s.writeError(w, r, errs[i]) // a fault of ours, not of the item: fail the request
				return
			}
			_, d := detailOf(r, errs[i])
			item.Error = &d
			resp.Failed++
		} else {
			ir := responseOf(issued[i], false)
			item.issueResponse = &ir
			resp.ChainPEM = string(issued[i].ChainPEM)
			certs = append(certs, issued[i].Certificate)
			resp.Issued++
		}
		resp.Results[i] = item
	}
	s.commit(w, r, certs, idem, http.StatusOK, mustJSON(resp))
}

// issueMany signs the batch's CSRs on every core.
func (s *server) issueMany(ctx context.Context, req batchRequest) ([]*ca.Issued, []error) {
	issued := make([]*ca.Issued, len(req.CSRs))
	errs := make([]error, len(req.CSRs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(req.CSRs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				issued[i], errs[i] = s.issueOne(ctx, req.CSRs[i], req.CAID, req.ValidityDays)
			}
		}()
	}
	for i := range req.CSRs {
		next <- i
	}
	close(next)
	wg.Wait()
	return issued, errs
}

type keysRequest struct {
	CommonName   string          `json:"commonName"`
	KeyType      imprint.KeyType `json:"keyType"`
	CAID         string          `json:"caId"`
	ValidityDays int             `json:"validityDays"`
}

func (q *keysRequest) Validate() error {
	if q.CommonName == "" {
		return imprint.Errorf(imprint.Invalid, "field \"commonName\" is required")
	}
	if q.KeyType == "" {
		q.KeyType = imprint.KeyECDSAP256
	}
	if !q.KeyType.Valid() {
		return imprint.Errorf(imprint.Invalid, "field \"keyType\": unknown key type %q (want one of %v)", q.KeyType, imprint.KeyTypes)
	}
	return validateCAAndValidity(&q.CAID, q.ValidityDays)
}

// handleKeysAndCertificate makes a key pair and a certificate for devices that
// cannot make keys: POST /v1/keys-and-certificate. The private key is in the
// response only; it is never stored or logged. A replay of the same
// Idempotency-Key gets a 409 naming the certificate, since the key cannot be
// shown twice.
func (s *server) handleKeysAndCertificate(w http.ResponseWriter, r *http.Request) {
	body, idem, done := s.beginIdempotent(w, r)
	if done {
		return
	}
	defer s.inflight.done(idem)
	req, err := decode[keysRequest](body)
	var (
		iss    *ca.Issued
		keyPEM []byte
	)
	if err == nil {
		iss, keyPEM, err = s.issueWithNewKey(r.Context(), req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := responseOf(iss, true)
	resp.PrivateKeyPEM = string(keyPEM)
	out := mustJSON(resp)
	w.Header().Set("Cache-Control", "no-store")
	if idem != nil {
		// What a retry gets: the key cannot be shown twice.
		idem.StatusCode, idem.Body = http.StatusConflict, mustJSON(errorBody{Error: errorDetail{
			Code: imprint.Conflict.String(), Message: "certificate " + iss.Certificate.ID +
				" was issued for this Idempotency-Key; its private key was returned once and is not kept, " +
				"so revoke the certificate if that response was lost"}})
	}
	s.commit(w, r, []imprint.Certificate{iss.Certificate}, idem, http.StatusCreated, out)
}

func (s *server) issueWithNewKey(ctx context.Context, req keysRequest) (*ca.Issued, []byte, error) {
	key, err := ca.GenerateKey(req.KeyType)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: req.CommonName}}, key)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, err
	}
	iss, err := s.ca.Issue(ctx, ca.IssueRequest{CSR: csr, CAID: req.CAID, ValidityDays: req.ValidityDays})
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	return iss, keyPEM, err
}

// certificateJSON is a certificate as the API shows it.
type certificateJSON struct {
	CertificateID string    `json:"certificateId"`
	Serial        string    `json:"serial"`
	CAID          string    `json:"caId"`
	Status        string    `json:"status"`
	Subject       string    `json:"subject"`
	CommonName    string    `json:"commonName"`
	SANs          []string  `json:"sans"`
	KeyAlgorithm  string    `json:"keyAlgorithm"`
	NotBefore     time.Time `json:"notBefore"`
	NotAfter      time.Time `json:"notAfter"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	// StatusChangedAt is when the status last changed.
	StatusChangedAt time.Time       `json:"statusChangedAt"`
	Revocation      *revocationJSON `json:"revocation,omitempty"`
	RenewedFrom     string          `json:"renewedFrom,omitempty"`
	SupersededBy    string          `json:"supersededBy,omitempty"`
	CertificatePEM  string          `json:"certificatePem,omitempty"`
}

type revocationJSON struct {
	RevokedAt time.Time `json:"revokedAt"`
	Reason    string    `json:"reason"`
	RevokedBy string    `json:"revokedBy"`
}

func certificateOf(c *imprint.Certificate) certificateJSON {
	j := certificateJSON{CertificateID: c.ID, Serial: c.Serial, CAID: c.CAID, Status: string(c.Status),
		Subject: c.Subject, CommonName: c.CommonName, SANs: c.SANs, KeyAlgorithm: string(c.KeyAlgorithm),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	if j.SANs == nil {
		j.SANs = []string{}
	}
	j.StatusChangedAt, j.RenewedFrom, j.SupersededBy = c.StatusChangedAt.UTC(), c.RenewedFrom, c.SupersededBy
	if c.Revocation != nil {
		j.Revocation = &revocationJSON{RevokedAt: c.Revocation.At.UTC(), Reason: c.Revocation.Reason.String(), RevokedBy: c.Revocation.By}
	}
	if c.DER != nil {
		j.CertificatePEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	}
	return j
}

// handleGetCertificate: GET /v1/certificates/{id}.
func (s *server) handleGetCertificate(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	id, err := idParam(r, "id", "certificate ID")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.store.Certificate(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, certificateOf(c))
}

// handleListCertificates: GET /v1/certificates, filtered, one page at a time.
func (s *server) handleListCertificates(w http.ResponseWriter, r *http.Request) {
	f, err := certificateFilterOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	certs, next, err := s.store.Certificates(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Certificates []certificateJSON `json:"certificates"`
		NextCursor   string            `json:"nextCursor,omitempty"`
	}{Certificates: make([]certificateJSON, len(certs)), NextCursor: next}
	for i := range certs {
		out.Certificates[i] = certificateOf(&certs[i])
	}
	encode(w, http.StatusOK, out)
}

func certificateFilterOf(r *http.Request) (imprint.CertificateFilter, error) {
	var f imprint.CertificateFilter
	q, err := queryParams(r, "caId", "status", "commonName", "createdAfter", "createdBefore", "limit", "cursor")
	if err != nil {
		return f, err
	}
	if v := q.Get("caId"); v != "" {
		if f.CAID, err = normalizeID("caId", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("status"); v != "" {
		f.Status = imprint.CertificateStatus(strings.ToUpper(v))
		if !f.Status.Valid() {
			return f, imprint.Errorf(imprint.Invalid, "status must be ACTIVE, INACTIVE, REVOKED or PENDING_ACTIVATION")
		}
	}
	f.CommonName = q.Get("commonName")
	if f.CreatedAfter, err = timeParam(q.Get("createdAfter"), "createdAfter"); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = timeParam(q.Get("createdBefore"), "createdBefore"); err != nil {
		return f, err
	}
	f.After = q.Get("cursor")
	f.Limit, err = limitParam(q)
	return f, err
}

func timeParam(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, imprint.Errorf(imprint.Invalid, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}
