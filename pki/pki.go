// Package pki serves the public PKI endpoints: CRLs, OCSP and CA
// certificates, without authentication.
package pki

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/api"
)

// CRLSource serves published CRLs.
type CRLSource interface {
	CRL(ctx context.Context, caID string, delta bool) (*imprint.CRL, error)
}

// OCSPResponder answers OCSP requests.
type OCSPResponder interface {
	Respond(ctx context.Context, caID string, request []byte) (response []byte, cacheable bool)
}

// CAReader looks up the CAs whose certificates are served.
type CAReader interface {
	// CA returns NotFound if there is no such CA.
	CA(id string) (*imprint.CA, error)
}

// Deps are what the endpoints are built from; all are required.
type Deps struct {
	Common *api.Common
	CA     CAReader
	CRLs   CRLSource
	OCSP   OCSPResponder
	// OCSPMaxAge is the Cache-Control max-age of OCSP answers to GET.
	OCSPMaxAge time.Duration
}

type handlers struct {
	ca         CAReader
	crls       CRLSource
	ocsp       OCSPResponder
	ocspMaxAge time.Duration
}

// Routes returns the PKI endpoints for a router's Group: the whole surface
// on one screen. Errors are answered through the Common's one table.
func Routes(d Deps) func(r chi.Router) {
	s := &handlers{ca: d.CA, crls: d.CRLs, ocsp: d.OCSP, ocspMaxAge: d.OCSPMaxAge}
	h := d.Common.Handle
	return func(r chi.Router) {
		r.Use(api.Timeout)
		r.Get("/ca/{file}", h(s.handleCACertificateFile))
		r.Get("/crl/{file}", h(s.handleCRL))
		r.Get("/crl/{id}/{file}", h(s.handleCRL))
		r.Post("/ocsp/{id}", h(s.handleOCSPPost))
		r.Get("/ocsp/{id}/*", h(s.handleOCSPGet))
	}
}

// MaxOCSPRequest is the largest OCSP request read (RFC 6960 requests are a
// few hundred bytes).
const MaxOCSPRequest = 16 << 10

// handleCRL: GET /crl/{file} (caId.crl in DER, caId.pem in PEM) and
// GET /crl/{id}/delta.crl|delta.pem. Public; cached by ETag and Last-Modified,
// and Cache-Control until nextUpdate.
func (s *handlers) handleCRL(w http.ResponseWriter, r *http.Request) error {
	file, err := api.PathParam(r, "file")
	id := ""
	if err == nil {
		id, err = api.PathParam(r, "id")
	}
	if err != nil {
		return err
	}
	delta := false
	if id != "" {
		name := file
		file, delta = id+strings.TrimPrefix(file, "delta"), true
		if !strings.HasPrefix(name, "delta.") {
			return imprint.Errorf(imprint.NotFound, "no such CRL")
		}
	}
	idText, ext, ok := strings.Cut(file, ".")
	if !ok || (ext != "crl" && ext != "pem") {
		return imprint.Errorf(imprint.NotFound, "no such CRL: want <caId>.crl or <caId>.pem")
	}
	caID, err := api.NormalizeID("CA ID", idText)
	if err != nil {
		return err
	}
	c, err := s.crls.CRL(r.Context(), caID, delta)
	if err != nil {
		return err
	}
	etag := fmt.Sprintf(`"%s-%d-%t-%s"`, caID[:16], c.Number, delta, ext)
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", c.ThisUpdate.UTC().Format(http.TimeFormat))
	h.Set("Expires", c.NextUpdate.UTC().Format(http.TimeFormat))
	maxAge := max(0, int(time.Until(c.NextUpdate).Seconds()))
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge)+", no-transform")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && r.Header.Get("If-None-Match") == "" &&
		!c.ThisUpdate.Truncate(time.Second).After(ims) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if ext == "pem" {
		h.Set("Content-Type", "application/x-pem-file")
		pem.Encode(w, &pem.Block{Type: "X509 CRL", Bytes: c.DER})
		return nil
	}
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("Content-Length", strconv.Itoa(len(c.DER)))
	w.Write(c.DER)
	return nil
}

// handleOCSPPost: POST /ocsp/{id}, a DER OCSPRequest (RFC 6960 A.1).
func (s *handlers) handleOCSPPost(w http.ResponseWriter, r *http.Request) error {
	req, err := io.ReadAll(io.LimitReader(r.Body, MaxOCSPRequest+1))
	if err != nil || len(req) > MaxOCSPRequest {
		req = nil // answered malformedRequest
	}
	s.answerOCSP(w, r, req, false)
	return nil
}

// handleOCSPGet: GET /ocsp/{id}/{request}, the request base64 and URL-encoded
// in the path (RFC 6960 A.1). Such answers may be cached.
func (s *handlers) handleOCSPGet(w http.ResponseWriter, r *http.Request) error {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/ocsp/"+chi.URLParam(r, "id")+"/")
	var req []byte
	if len(raw) <= 2*MaxOCSPRequest {
		if text, err := url.PathUnescape(raw); err == nil {
			req, _ = base64.StdEncoding.DecodeString(text)
		}
	}
	s.answerOCSP(w, r, req, true)
	return nil
}

// answerOCSP answers in OCSP's own format, errors included (RFC 6960 2.3).
func (s *handlers) answerOCSP(w http.ResponseWriter, r *http.Request, req []byte, get bool) {
	caID := strings.TrimPrefix(strings.ToLower(chi.URLParam(r, "id")), "0x")
	resp, cacheable := s.ocsp.Respond(r.Context(), caID, req)
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	if get && cacheable {
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.ocspMaxAge.Seconds()))+", no-transform")
	} else {
		h.Set("Cache-Control", "no-store")
	}
	w.Write(resp)
}

// handleCACertificateFile: GET /ca/{id}.crt, public, the DER certificate that
// issued certificates point to in their CA-issuers URL (RFC 5280 4.2.2.1).
func (s *handlers) handleCACertificateFile(w http.ResponseWriter, r *http.Request) error {
	file, err := api.PathParam(r, "file")
	if err != nil {
		return err
	}
	idText, ok := strings.CutSuffix(file, ".crt")
	if !ok {
		return imprint.Errorf(imprint.NotFound, "no such file: %s", file)
	}
	id, err := api.NormalizeID("CA ID", idText)
	if err != nil {
		return err
	}
	c, err := s.ca.CA(id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(c.DER)
	return nil
}
