package api

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// Registration: the installation's registration code, customer CAs
// registered with proof of possession, and device certificates signed
// elsewhere, one or a batch at a time.

// handleGetRegistrationCode: GET /v1/registration-code, made on first read.
func (s *server) handleGetRegistrationCode(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	code, err := s.engine.RegistrationCode(r.Context(), imprint.ActorFromContext(r.Context()))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	encode(w, http.StatusOK, struct {
		RegistrationCode string `json:"registrationCode"`
	}{code})
	return nil
}

// handleDeleteRegistrationCode: DELETE /v1/registration-code; the next read
// makes a new one.
func (s *server) handleDeleteRegistrationCode(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	if err := s.engine.DeleteRegistrationCode(r.Context(), imprint.ActorFromContext(r.Context())); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type registerCARequest struct {
	CACertificatePEM           string `json:"caCertificatePem"`
	VerificationCertificatePEM string `json:"verificationCertificatePem"`
	AllowWithoutVerification   bool   `json:"allowWithoutVerification"`
	Name                       string `json:"name"`
	SetAsActive                bool   `json:"setAsActive"`
	AutoRegistration           bool   `json:"autoRegistration"`
	ProvisioningTemplate       string `json:"provisioningTemplate"`
}

// handleRegisterCA: POST /v1/cas:register, a customer's CA with the proof
// that the caller holds its key.
func (s *server) handleRegisterCA(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	req, err := readJSON[registerCARequest](w, r)
	if err != nil {
		return err
	}
	c, err := s.engine.RegisterCA(r.Context(), provisioning.RegisterCARequest{
		Actor: imprint.ActorFromContext(r.Context()), CACertificatePEM: []byte(req.CACertificatePEM),
		VerificationCertificatePEM: []byte(req.VerificationCertificatePEM), AllowWithoutVerification: req.AllowWithoutVerification,
		Name: req.Name, SetAsActive: req.SetAsActive, AutoRegistration: req.AutoRegistration,
		ProvisioningTemplate: req.ProvisioningTemplate})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/cas/"+c.ID)
	encode(w, http.StatusCreated, caOf(c))
	return nil
}

type registerCertificateRequest struct {
	CertificatePEM string `json:"certificatePem"`
	Status         string `json:"status"`
}

// handleRegisterCertificate: POST /v1/certificates:register, one device
// certificate signed elsewhere.
func (s *server) handleRegisterCertificate(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	req, err := readJSON[registerCertificateRequest](w, r)
	if err != nil {
		return err
	}
	c, err := s.engine.RegisterCertificate(r.Context(), imprint.ActorFromContext(r.Context()), []byte(req.CertificatePEM), req.Status)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/certificates/"+c.ID)
	encode(w, http.StatusCreated, certificateOf(c))
	return nil
}

type registeredJSON struct {
	Index         int    `json:"index"`
	CertificateID string `json:"certificateId"`
}

type registerFailureJSON struct {
	Index int         `json:"index"`
	Line  int         `json:"line"`
	Error errorDetail `json:"error"`
}

type registerBatchJSON struct {
	Registered   int                   `json:"registered"`
	Failed       int                   `json:"failed"`
	Certificates []registeredJSON      `json:"certificates"`
	Failures     []registerFailureJSON `json:"failures"`
}

// handleRegisterBatch: POST /v1/certificates:register-batch, a PEM bundle
// (application/x-pem-file) or NDJSON (application/x-ndjson) of device
// certificates signed elsewhere; ?status= is the status of those that name
// none.
func (s *server) handleRegisterBatch(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "status")
	if err != nil {
		return err
	}
	format, err := intakeFormat(r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, provisioning.MaxIntakeSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return imprint.Errorf(imprint.TooLarge, "the batch is larger than %d bytes", provisioning.MaxIntakeSize)
		}
		return imprint.Errorf(imprint.Invalid, "cannot read request body: %v", err)
	}
	items, err := provisioning.ReadIntake(format, body)
	if err != nil {
		return err
	}
	res, err := s.engine.RegisterCertificates(r.Context(), imprint.ActorFromContext(r.Context()), items, q.Get("status"))
	if err != nil {
		return err
	}
	out := registerBatchJSON{Registered: len(res.Registered), Failed: len(res.Failed),
		Certificates: make([]registeredJSON, len(res.Registered)), Failures: make([]registerFailureJSON, len(res.Failed))}
	for i, c := range res.Registered {
		out.Certificates[i] = registeredJSON{Index: c.Index, CertificateID: c.CertificateID}
	}
	for i, f := range res.Failed {
		_, d := detailOf(r, f.Err)
		out.Failures[i] = registerFailureJSON{Index: f.Index, Line: f.Line, Error: d}
	}
	encode(w, http.StatusOK, out)
	return nil
}

// intakeFormat reads the format of a registration batch from its
// Content-Type. Returns Invalid for any other type.
func intakeFormat(contentType string) (provisioning.IntakeFormat, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case "application/x-pem-file", "application/pem-certificate-chain":
			return provisioning.IntakePEM, nil
		case "application/x-ndjson":
			return provisioning.IntakeNDJSON, nil
		}
	}
	return 0, imprint.Errorf(imprint.Invalid,
		"Content-Type must be application/x-pem-file (a PEM bundle) or application/x-ndjson (one JSON object per line)")
}
