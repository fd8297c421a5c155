package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/provisioning"
)

// RevocationJobStore keeps bulk revocations; the engine changes single
// certificates' and CAs' standing.
type RevocationJobStore interface {
	CreateRevocationJob(ctx context.Context, sel imprint.RevocationSelector, reason imprint.RevocationReason, actor imprint.Actor) (*imprint.RevocationJob, error)
	RunRevocationJob(ctx context.Context, id, owner string, deadline time.Time) (*imprint.RevocationJob, error)
	RevocationJob(ctx context.Context, id string) (*imprint.RevocationJob, error)
}

// JobRunner finishes bulk revocations in the background.
type JobRunner interface {
	// Owner names this replica as the holder of job leases.
	Owner() string
	// Resume works on a job until it is done.
	Resume(id string)
}

// BulkRevokeWait is how long a bulk revocation request works before it
// answers 202 and leaves the rest to the background.
const BulkRevokeWait = 10 * time.Second

type statusRequest struct {
	Status imprint.CertificateStatus `json:"status"`
}

// handleSetStatus: PATCH /v1/certificates/{id}, {status: ACTIVE|INACTIVE}.
func (s *server) handleSetStatus(w http.ResponseWriter, r *http.Request) error {
	id, req, err := decodeWithID[statusRequest](w, r, "certificate ID")
	if err != nil {
		return err
	}
	c, err := s.engine.SetStatus(r.Context(), imprint.ActorFromContext(r.Context()), id,
		imprint.CertificateStatus(strings.ToUpper(string(req.Status))))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, certificateOf(c))
	return nil
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

// handleRevoke: POST /v1/certificates/{id}/revoke, {reason}. When it
// answers, OCSP on this replica already says revoked.
func (s *server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	id, req, err := decodeWithID[revokeRequest](w, r, "certificate ID")
	if err != nil {
		return err
	}
	reason, err := imprint.ParseRevocationReason(req.Reason)
	if err != nil {
		return err
	}
	c, err := s.engine.Revoke(r.Context(), imprint.ActorFromContext(r.Context()), id, reason)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, certificateOf(c))
	return nil
}

// handleRevokeThing: POST /v1/things/{name}/revoke, {reason}: the kill
// switch. Every certificate of the thing is revoked in one transaction, and
// every live session using one of them is cut.
func (s *server) handleRevokeThing(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	name, err := registryName(r, "name", "thing")
	if err != nil {
		return err
	}
	req, err := readJSON[revokeRequest](w, r)
	if err != nil {
		return err
	}
	reason, err := imprint.ParseRevocationReason(req.Reason)
	if err != nil {
		return err
	}
	certs, err := s.engine.RevokeThing(r.Context(), imprint.ActorFromContext(r.Context()), name, reason)
	if err != nil {
		return err
	}
	out := struct {
		ThingName    string            `json:"thingName"`
		Certificates []certificateJSON `json:"revoked"`
	}{ThingName: name, Certificates: make([]certificateJSON, len(certs))}
	for i, c := range certs {
		out.Certificates[i] = certificateOf(c)
	}
	encode(w, http.StatusOK, out)
	return nil
}

// decodeWithID reads the {id} path parameter and a JSON body of type T.
func decodeWithID[T any](w http.ResponseWriter, r *http.Request, what string) (string, T, error) {
	id, err := idParam(r, "id", what)
	if err != nil {
		var zero T
		return "", zero, err
	}
	req, err := readJSON[T](w, r)
	return id, req, err
}

type bulkRevokeRequest struct {
	CertificateIDs []string  `json:"certificateIds"`
	CAID           string    `json:"caId"`
	Serials        []string  `json:"serials"`
	IssuedAfter    time.Time `json:"issuedAfter"`
	IssuedBefore   time.Time `json:"issuedBefore"`
	Reason         string    `json:"reason"`
}

func (q *bulkRevokeRequest) selector() (imprint.RevocationSelector, error) {
	sel := imprint.RevocationSelector{IssuedAfter: q.IssuedAfter, IssuedBefore: q.IssuedBefore}
	for _, id := range q.CertificateIDs {
		n, err := NormalizeID("certificateIds", id)
		if err != nil {
			return sel, err
		}
		sel.IDs = append(sel.IDs, n)
	}
	if q.CAID != "" {
		n, err := NormalizeID("caId", q.CAID)
		if err != nil {
			return sel, err
		}
		sel.CAID = n
	}
	for _, sn := range q.Serials {
		hexSN := strings.TrimLeft(strings.TrimPrefix(strings.ToLower(strings.ReplaceAll(sn, ":", "")), "0x"), "0")
		if hexSN == "" || len(hexSN) > 40 || strings.Trim(hexSN, "0123456789abcdef") != "" {
			return sel, imprint.Errorf(imprint.Invalid, "serials: %q is not a positive hexadecimal serial number", sn)
		}
		sel.Serials = append(sel.Serials, hexSN)
	}
	return sel, sel.Validate()
}

// handleBulkRevoke: POST /v1/certificates/revoke. It revokes in bounded
// transactions: answered 200 with the counts when done within BulkRevokeWait,
// else 202 with the job, which goes on in the background (GET the job to
// follow it) and is resumed by another replica if this one dies.
func (s *server) handleBulkRevoke(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[bulkRevokeRequest](w, r)
	var sel imprint.RevocationSelector
	if err == nil {
		sel, err = req.selector()
	}
	var reason imprint.RevocationReason
	if err == nil {
		reason, err = imprint.ParseRevocationReason(req.Reason)
	}
	if err != nil {
		return err
	}
	job, err := s.revocationJobs.CreateRevocationJob(r.Context(), sel, reason, imprint.ActorFromContext(r.Context()))
	if err != nil {
		return err
	}
	done, err := s.revocationJobs.RunRevocationJob(r.Context(), job.ID, s.jobs.Owner(), time.Now().Add(BulkRevokeWait))
	switch {
	case err == nil:
		job = done
	case imprint.ErrorKind(err) != imprint.Conflict:
		s.log.WarnContext(r.Context(), "bulk revocation", "job", job.ID, "err", err)
		if now, err := s.revocationJobs.RevocationJob(r.Context(), job.ID); err == nil {
			job = now // it may have failed for good
		}
	}
	if job.Status == imprint.JobRunning {
		s.jobs.Resume(job.ID)
		w.Header().Set("Location", "/v1/revocation-jobs/"+job.ID)
		encode(w, http.StatusAccepted, jobOf(job))
		return nil
	}
	encode(w, http.StatusOK, jobOf(job))
	return nil
}

// handleGetJob: GET /v1/revocation-jobs/{id}.
func (s *server) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(id, "rj_") || len(id) > 64 {
		return imprint.Errorf(imprint.NotFound, "revocation job %s not found", id)
	}
	job, err := s.revocationJobs.RevocationJob(r.Context(), id)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, jobOf(job))
	return nil
}

type jobJSON struct {
	JobID          string     `json:"jobId"`
	Status         string     `json:"status"`
	Reason         string     `json:"reason"`
	Matched        int64      `json:"matched"`
	AlreadyRevoked int64      `json:"alreadyRevoked"`
	Revoked        int64      `json:"revoked"`
	NotFound       int64      `json:"notFound"`
	Error          string     `json:"error,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
}

func jobOf(j *imprint.RevocationJob) jobJSON {
	out := jobJSON{JobID: j.ID, Status: j.Status, Reason: j.Reason.String(), Matched: j.Matched,
		AlreadyRevoked: j.AlreadyRevoked, Revoked: j.Revoked, NotFound: j.NotFound, Error: j.Error,
		CreatedAt: j.CreatedAt.UTC()}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt.UTC()
		out.FinishedAt = &t
	}
	return out
}

type renewRequest struct {
	CSR          string `json:"csr"`
	ValidityDays int    `json:"validityDays"`
	// Proof is a signature of ca.RenewalMessage by the old certificate's
	// key, base64-encoded.
	Proof string `json:"proof"`
}

func (q renewRequest) Validate() error {
	if q.CSR == "" {
		return imprint.Errorf(imprint.Invalid, "field \"csr\" is required")
	}
	if q.ValidityDays < 0 {
		return imprint.Errorf(imprint.Invalid, "field \"validityDays\" must be positive")
	}
	if q.Proof != "" {
		p, err := base64.StdEncoding.DecodeString(q.Proof)
		if err != nil {
			return imprint.Errorf(imprint.Invalid, "field \"proof\" must be base64 (RFC 4648 section 4): %v", err)
		}
		if len(p) > ca.MaxRenewalProof {
			return imprint.Errorf(imprint.Invalid, "field \"proof\" holds %d bytes; a signature has at most %d", len(p), ca.MaxRenewalProof)
		}
	}
	return nil
}

// proofBytes returns the proof that Validate accepted, decoded; nil for none.
func (q renewRequest) proofBytes() []byte {
	if q.Proof == "" {
		return nil
	}
	p, _ := base64.StdEncoding.DecodeString(q.Proof)
	return p
}

// handleRenew: POST /v1/certificates/{id}/renew, {csr, proof?}: a new
// certificate for the same subject from the same CA; the old one is revoked
// as superseded after the renewal grace. Only an admin may renew to a key
// that nothing proves the requester holds the old key for (see
// ca.ProveRenewal): anyone else could otherwise revoke any certificate.
func (s *server) handleRenew(w http.ResponseWriter, r *http.Request) error {
	id, req, err := decodeWithID[renewRequest](w, r, "certificate ID")
	if err != nil {
		return err
	}
	iss, err := s.engine.Renew(r.Context(), provisioning.RenewRequest{Actor: imprint.ActorFromContext(r.Context()),
		CertificateID: id, CSRPEM: []byte(req.CSR), Proof: req.proofBytes(), ValidityDays: req.ValidityDays})
	if err != nil {
		return err
	}
	s.metrics.issued.WithLabelValues(iss.Certificate.CAID).Inc()
	encode(w, http.StatusCreated, responseOf(iss, true))
	return nil
}

type caPatch struct {
	Status               imprint.CAStatus `json:"status"`
	AutoRegistration     *bool            `json:"autoRegistration"`
	ProvisioningTemplate *string          `json:"provisioningTemplate"`
}

// handleSetCAStatus: PATCH /v1/cas/{id}, {status?: ACTIVE|INACTIVE,
// autoRegistration?: bool, provisioningTemplate?: the JITP template name, ""
// for none}, all in one transaction.
func (s *server) handleSetCAStatus(w http.ResponseWriter, r *http.Request) error {
	id, req, err := decodeWithID[caPatch](w, r, "CA ID")
	if err != nil {
		return err
	}
	var u imprint.CAUpdate
	status := imprint.CAStatus(strings.ToUpper(string(req.Status)))
	switch {
	case req.Status == "" && req.ProvisioningTemplate == nil && req.AutoRegistration == nil:
		return imprint.Errorf(imprint.Invalid, "give status, autoRegistration or provisioningTemplate")
	case req.Status != "" && status != imprint.CAActive && status != imprint.CAInactive:
		return imprint.Errorf(imprint.Invalid, "status must be ACTIVE or INACTIVE")
	case req.Status != "":
		u.Status = &status
	}
	if t := req.ProvisioningTemplate; t != nil && *t != "" && imprint.ValidateTemplateName("provisioningTemplate", *t) != nil {
		return imprint.Errorf(imprint.Invalid, "provisioningTemplate must be a template name")
	}
	u.AutoRegistration, u.ProvisioningTemplate = req.AutoRegistration, req.ProvisioningTemplate
	c, err := s.engine.UpdateCA(r.Context(), imprint.ActorFromContext(r.Context()), id, u)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, caOf(c))
	return nil
}
