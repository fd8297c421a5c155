package api

import (
	"cmp"
	"context"
	"encoding/pem"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/provisioning"
)

// CAReader is what the CA handlers read of the CA (an *ca.Authority); they
// change CAs through the engine.
type CAReader interface {
	CAs() []*imprint.CA
	CA(id string) (*imprint.CA, error)
	ChainPEM(id string) ([]byte, error)
}

// CertificateReader reads certificates; the engine records them.
type CertificateReader interface {
	Certificate(ctx context.Context, id string) (*imprint.Certificate, error)
	Certificates(ctx context.Context, f imprint.CertificateFilter) ([]imprint.Certificate, string, error)
}

// MaxBatch is the most CSRs one batch request may carry.
const MaxBatch = 1000

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NormalizeID lowercases a certificate or CA ID and drops an "0x" prefix, as
// AWS IoT accepts them; it returns Invalid naming field for anything else.
func NormalizeID(field, id string) (string, error) {

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

func (q issueRequest) Validate() error {
	if q.CSR == "" {
		return imprint.Errorf(imprint.Invalid, "field \"csr\" is required")
	}
	return checkCAAndValidity(q.CAID, q.ValidityDays)
}

// checkCAAndValidity returns Invalid unless caID is "" (the default CA) or
// a CA ID, and days is 0 (the profile's) to imprint.MaxValidityDays.
func checkCAAndValidity(caID string, days int) error {
	if caID != "" {
		if _, err := NormalizeID("caId", caID); err != nil {
			return err
		}
	}
	if days < 0 || days > imprint.MaxValidityDays {
		return imprint.Errorf(imprint.Invalid, "field \"validityDays\" must be between 1 and %d", imprint.MaxValidityDays)
	}
	return nil
}

// caIDOf returns a caId field that checkCAAndValidity accepted in its
// normal form: "" stays "".
func caIDOf(caID string) string {
	id, _ := NormalizeID("caId", caID)
	return id
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
func (s *server) handleIssue(w http.ResponseWriter, r *http.Request) error {
	body, idem, err := readIdempotent(w, r)
	var req issueRequest
	if err == nil {
		req, err = decode[issueRequest](body)
	}
	var out *provisioning.Outcome
	if err == nil {
		out, err = s.engine.Issue(r.Context(), provisioning.IssueRequest{Actor: imprint.ActorFromContext(r.Context()),
			Idempotency: idem, CSRPEM: []byte(req.CSR), CAID: caIDOf(req.CAID), ValidityDays: req.ValidityDays},
			func(iss *ca.Issued) (now, kept provisioning.Answer) {
				a := provisioning.Answer{Status: http.StatusCreated, Body: mustJSON(responseOf(iss, true))}
				return a, a
			})
	}
	if err != nil {
		return err
	}
	s.writeOutcome(w, out)
	return nil
}

type batchRequest struct {
	CSRs         []string `json:"csrs"`
	CAID         string   `json:"caId"`
	ValidityDays int      `json:"validityDays"`
}

func (q batchRequest) Validate() error {
	switch {
	case len(q.CSRs) == 0:
		return imprint.Errorf(imprint.Invalid, "field \"csrs\" must hold at least one CSR")
	case len(q.CSRs) > MaxBatch:
		return imprint.Errorf(imprint.Invalid, "field \"csrs\" holds %d CSRs; a batch holds at most %d", len(q.CSRs), MaxBatch)
	}
	return checkCAAndValidity(q.CAID, q.ValidityDays)
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
func (s *server) handleIssueBatch(w http.ResponseWriter, r *http.Request) error {
	body, idem, err := readIdempotent(w, r)
	var req batchRequest
	if err == nil {
		req, err = decode[batchRequest](body)
	}
	var out *provisioning.Outcome
	if err == nil {
		csrs := make([][]byte, len(req.CSRs))
		for i, c := range req.CSRs {
			csrs[i] = []byte(c)
		}
		out, err = s.engine.IssueBatch(r.Context(), provisioning.BatchRequest{Actor: imprint.ActorFromContext(r.Context()),
			Idempotency: idem, CSRPEMs: csrs, CAID: caIDOf(req.CAID), ValidityDays: req.ValidityDays},
			func(res *provisioning.BatchResult) (now, kept provisioning.Answer) {
				a := provisioning.Answer{Status: http.StatusOK, Body: mustJSON(batchResponseOf(r, res))}
				return a, a
			})
	}
	if err != nil {
		return err
	}
	s.writeOutcome(w, out)
	return nil
}

// batchResponseOf reports each item of a batch: its certificate or why it
// was refused.
func batchResponseOf(r *http.Request, res *provisioning.BatchResult) batchResponse {
	resp := batchResponse{Results: make([]batchItem, len(res.Issued))}
	for i := range res.Issued {
		item := batchItem{Index: i}
		if res.Errs[i] != nil {
			_, d := detailOf(r, res.Errs[i])
			item.Error = &d
			resp.Failed++
		} else {
			ir := responseOf(res.Issued[i], false)
			item.issueResponse = &ir
			resp.ChainPEM = string(res.Issued[i].ChainPEM)
			resp.Issued++
		}
		resp.Results[i] = item
	}
	return resp
}

type keysRequest struct {
	CommonName   string          `json:"commonName"`
	KeyType      imprint.KeyType `json:"keyType"`
	CAID         string          `json:"caId"`
	ValidityDays int             `json:"validityDays"`
}

func (q keysRequest) Validate() error {
	if q.CommonName == "" {
		return imprint.Errorf(imprint.Invalid, "field \"commonName\" is required")
	}
	if q.KeyType != "" && !q.KeyType.Valid() {
		return imprint.Errorf(imprint.Invalid, "field \"keyType\": unknown key type %q (want one of %v)", q.KeyType, imprint.KeyTypes)
	}
	return checkCAAndValidity(q.CAID, q.ValidityDays)
}

// handleKeysAndCertificate makes a key pair and a certificate for devices that
// cannot make keys: POST /v1/keys-and-certificate. The private key is in the
// response only; it is never stored or logged. A replay of the same
// Idempotency-Key gets a 409 naming the certificate, since the key cannot be
// shown twice.
func (s *server) handleKeysAndCertificate(w http.ResponseWriter, r *http.Request) error {
	body, idem, err := readIdempotent(w, r)
	var req keysRequest
	if err == nil {
		req, err = decode[keysRequest](body)
	}
	var out *provisioning.Outcome
	if err == nil {
		out, err = s.engine.IssueWithNewKey(r.Context(), provisioning.NewKeyRequest{Actor: imprint.ActorFromContext(r.Context()),
			Idempotency: idem, CommonName: req.CommonName, KeyType: cmp.Or(req.KeyType, imprint.KeyECDSAP256), CAID: caIDOf(req.CAID), ValidityDays: req.ValidityDays},
			func(k *provisioning.NewKey) (now, kept provisioning.Answer) {
				resp := responseOf(k.Issued, true)
				resp.PrivateKeyPEM = string(k.KeyPEM)
				// What a retry gets: the key cannot be shown twice.
				return provisioning.Answer{Status: http.StatusCreated, Body: mustJSON(resp)},
					provisioning.Answer{Status: http.StatusConflict, Body: mustJSON(errorBody{Error: errorDetail{
						Code: imprint.Conflict.String(), Message: "certificate " + k.Certificate.ID +
							" was issued for this Idempotency-Key; its private key was returned once and is not kept, " +
							"so revoke the certificate if that response was lost"}})}
			})
	}
	if err != nil {
		return err
	}
	if !out.Replayed {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.writeOutcome(w, out)
	return nil
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
func (s *server) handleGetCertificate(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	id, err := idParam(r, "id", "certificate ID")
	if err != nil {
		return err
	}
	c, err := s.certs.Certificate(r.Context(), id)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, certificateOf(c))
	return nil
}

// handleListCertificates: GET /v1/certificates, filtered, one page at a time.
func (s *server) handleListCertificates(w http.ResponseWriter, r *http.Request) error {
	f, err := certificateFilterOf(r)
	if err != nil {
		return err
	}
	certs, next, err := s.certs.Certificates(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Certificates []certificateJSON `json:"certificates"`
		NextCursor   string            `json:"nextCursor,omitempty"`
	}{Certificates: make([]certificateJSON, len(certs)), NextCursor: next}
	for i := range certs {
		out.Certificates[i] = certificateOf(&certs[i])
	}
	encode(w, http.StatusOK, out)
	return nil
}

func certificateFilterOf(r *http.Request) (imprint.CertificateFilter, error) {
	var f imprint.CertificateFilter
	q, err := queryParams(r, "caId", "status", "commonName", "createdAfter", "createdBefore", "limit", "cursor")
	if err != nil {
		return f, err
	}
	if v := q.Get("caId"); v != "" {
		if f.CAID, err = NormalizeID("caId", v); err != nil {
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
