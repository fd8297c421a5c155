package api

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
)

// CRLSource serves published CRLs.
type CRLSource interface {
	CRL(ctx context.Context, caID string, delta bool) (*imprint.CRL, error)
}

// OCSPResponder answers OCSP requests.
type OCSPResponder interface {
	Respond(ctx context.Context, caID string, request []byte) (response []byte, cacheable bool)
	Invalidate(caID, serial string)
}

// MaxOCSPRequest is the largest OCSP request read (RFC 6960 requests are a
// few hundred bytes).
const MaxOCSPRequest = 16 << 10

// handleCRL: GET /crl/{file} (caId.crl in DER, caId.pem in PEM) and
// GET /crl/{id}/delta.crl|delta.pem. Public; cached by ETag and Last-Modified,
// and Cache-Control until nextUpdate.
func (s *server) handleCRL(w http.ResponseWriter, r *http.Request) {
	file, err := pathParam(r, "file")
	id := ""
	if err == nil {
		id, err = pathParam(r, "id")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	delta := false
	if id != "" {
		name := file
		file, delta = id+strings.TrimPrefix(file, "delta"), true
		if !strings.HasPrefix(name, "delta.") {
			s.writeError(w, r, imprint.Errorf(imprint.NotFound, "no such CRL"))
			return
		}
	}
	idText, ext, ok := strings.Cut(file, ".")
	if !ok || (ext != "crl" && ext != "pem") {
		s.writeError(w, r, imprint.Errorf(imprint.NotFound, "no such CRL: want <caId>.crl or <caId>.pem"))
		return
	}
	caID, err := normalizeID("CA ID", idText)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.crls.CRL(r.Context(), caID, delta)
	if err != nil {
		s.writeError(w, r, err)
		return
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
		return
	}
	if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && r.Header.Get("If-None-Match") == "" &&
		!c.ThisUpdate.Truncate(time.Second).After(ims) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ext == "pem" {
		h.Set("Content-Type", "application/x-pem-file")
		pem.Encode(w, &pem.Block{Type: "X509 CRL", Bytes: c.DER})
		return
	}
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("Content-Length", strconv.Itoa(len(c.DER)))
	w.Write(c.DER)
}

// handleOCSPPost: POST /ocsp/{id}, a DER OCSPRequest (RFC 6960 A.1).
func (s *server) handleOCSPPost(w http.ResponseWriter, r *http.Request) {
	req, err := io.ReadAll(io.LimitReader(r.Body, MaxOCSPRequest+1))
	if err != nil || len(req) > MaxOCSPRequest {
		req = nil // answered malformedRequest
	}
	s.answerOCSP(w, r, req, false)
}

// handleOCSPGet: GET /ocsp/{id}/{request}, the request base64 and URL-encoded
// in the path (RFC 6960 A.1). Such answers may be cached.
func (s *server) handleOCSPGet(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/ocsp/"+chi.URLParam(r, "id")+"/")
	var req []byte
	if len(raw) <= 2*MaxOCSPRequest {
		if text, err := url.PathUnescape(raw); err == nil {
			req, _ = base64.StdEncoding.DecodeString(text)
		}
	}
	s.answerOCSP(w, r, req, true)
}

func (s *server) answerOCSP(w http.ResponseWriter, r *http.Request, req []byte, get bool) {
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
