package api

import (
	"encoding/pem"
	"net/http"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// caJSON is a CA as the API shows it.
type caJSON struct {
	CAID           string                   `json:"caId"`
	Name           string                   `json:"name"`
	Role           string                   `json:"role"`
	ParentID       string                   `json:"parentId,omitempty"`
	Status         string                   `json:"status"`
	Subject        string                   `json:"subject"`
	Serial         string                   `json:"serial"`
	KeyAlgorithm   string                   `json:"keyAlgorithm"`
	NotBefore      time.Time                `json:"notBefore"`
	NotAfter       time.Time                `json:"notAfter"`
	Profile        *imprint.IssuanceProfile `json:"profile,omitempty"`
	CertificatePEM string                   `json:"certificatePem"`
	// ProvisioningTemplate is the JITP template of the CA's devices.
	ProvisioningTemplate string    `json:"provisioningTemplate,omitempty"`
	AutoRegistration     bool      `json:"autoRegistration"`
	CreatedAt            time.Time `json:"createdAt"`
}

func caOf(c *imprint.CA) caJSON {
	j := caJSON{CAID: c.ID, Name: c.Name, Role: string(c.Role), ParentID: c.ParentID, Status: string(c.Status),
		Subject: c.Subject, Serial: c.Serial, KeyAlgorithm: string(c.KeyAlgorithm), NotBefore: c.NotBefore.UTC(),
		NotAfter: c.NotAfter.UTC(), CreatedAt: c.CreatedAt.UTC(), ProvisioningTemplate: c.ProvisioningTemplate,
		AutoRegistration: c.AutoRegistration}
	if c.Role == imprint.CAIssuing {
		p := c.Profile
		j.Profile = &p
	}
	j.CertificatePEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	return j
}

// handleListCAs: GET /v1/cas.
func (s *server) handleListCAs(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	cas := s.ca.CAs()
	out := struct {
		CAs []caJSON `json:"cas"`
	}{CAs: make([]caJSON, len(cas))}
	for i, c := range cas {
		out.CAs[i] = caOf(c)
	}
	encode(w, http.StatusOK, out)
	return nil
}

func (s *server) caParam(r *http.Request) (*imprint.CA, error) {
	id, err := idParam(r, "id", "CA ID")
	if err != nil {
		return nil, err
	}
	return s.ca.CA(id)
}

// handleGetCA: GET /v1/cas/{id}.
func (s *server) handleGetCA(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	c, err := s.caParam(r)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, caOf(c))
	return nil
}

// handleCAChain: GET /v1/cas/{id}/chain, the PEM certificates from the CA up
// to the root.
func (s *server) handleCAChain(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	c, err := s.caParam(r)
	if err != nil {
		return err
	}
	chain, err := s.ca.ChainPEM(c.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.Write(chain)
	return nil
}

type createCARequest struct {
	Name         string                   `json:"name"`
	CommonName   string                   `json:"commonName"`
	Organization string                   `json:"organization"`
	KeyType      imprint.KeyType          `json:"keyType"`
	Profile      *imprint.IssuanceProfile `json:"profile"`
}

// handleCreateCA: POST /v1/cas, a new issuing CA under the root.
func (s *server) handleCreateCA(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[createCARequest](w, r)
	if err != nil {
		return err
	}
	profile := imprint.DefaultProfile()
	if req.Profile != nil {
		profile = *req.Profile
	}
	c, err := s.engine.CreateIssuingCA(r.Context(), ca.CreateCARequest{Name: req.Name, CommonName: req.CommonName,
		Organization: req.Organization, KeyType: req.KeyType, Profile: profile})
	if err != nil {
		return err
	}
	encode(w, http.StatusCreated, caOf(c))
	return nil
}
