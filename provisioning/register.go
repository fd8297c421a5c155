package provisioning

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// RegistrationStore records the registration code, customer CAs and device
// certificates signed elsewhere.
type RegistrationStore interface {
	// RegistrationCode returns the code, recording candidate (and its
	// audit event) first if there is none.
	RegistrationCode(ctx context.Context, candidate string, actor imprint.Actor) (string, error)
	// CurrentRegistrationCode returns the code, or "" if there is none.
	CurrentRegistrationCode(ctx context.Context) (string, error)
	DeleteRegistrationCode(ctx context.Context, actor imprint.Actor) (bool, error)
	// RegisterCA records an external CA and its audit event (with proof)
	// in one transaction. Returns Conflict if it is recorded already.
	RegisterCA(ctx context.Context, c *imprint.CA, proof string, actor imprint.Actor) error
	// RegisterCertificates records certificates and their audit events in
	// one transaction, all but those recorded already, whose places in the
	// answer hold a Conflict.
	RegisterCertificates(ctx context.Context, certs []imprint.Certificate, actor imprint.Actor) ([]error, error)
}

// RegistrationCode returns the installation's registration code, 64
// lowercase hex digits, making it on the first call: the subject common
// name of the verification certificates that prove a customer CA's key.
// It stays the same until DeleteRegistrationCode.
func (e *Engine) RegistrationCode(ctx context.Context, actor imprint.Actor) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return e.registration.RegistrationCode(ctx, hex.EncodeToString(b), actor)
}

// DeleteRegistrationCode deletes the registration code; the next
// RegistrationCode makes a new one. Deleting when there is none does
// nothing.
func (e *Engine) DeleteRegistrationCode(ctx context.Context, actor imprint.Actor) error {
	_, err := e.registration.DeleteRegistrationCode(ctx, actor)
	return err
}

// RegisterCARequest asks to register a customer's CA.
type RegisterCARequest struct {
	Actor imprint.Actor
	// CACertificatePEM is the CA's certificate; VerificationCertificatePEM
	// a certificate the CA's key signed whose subject common name is the
	// registration code.
	CACertificatePEM           []byte
	VerificationCertificatePEM []byte
	// AllowWithoutVerification registers the CA without a verification
	// certificate: no proof that the caller holds its key. The audit event
	// says so.
	AllowWithoutVerification bool
	// Name names the CA; "external-" and the start of its ID if empty.
	Name                 string
	SetAsActive          bool
	AutoRegistration     bool
	ProvisioningTemplate string // a JITP template's name, "" for none
}

// RegisterCA checks a customer's CA certificate and the proof that the
// caller holds its key, and records it as an external CA: ACTIVE if
// req.SetAsActive, INACTIVE otherwise. It reloads this replica's CAs so
// that, when ACTIVE, the CA is trusted as a direct issuer of device
// certificates when it returns. Returns Invalid saying what is wrong with
// the certificates, TooLarge for a certificate over
// ca.MaxCertificatePEMSize, Conflict for a CA registered already, NotFound
// for an unknown template and Invalid for one that is not JITP.
func (e *Engine) RegisterCA(ctx context.Context, req RegisterCARequest) (*imprint.CA, error) {
	if req.Name != "" {
		if err := ca.ValidateCAName(req.Name); err != nil {
			return nil, err
		}
	}
	if req.ProvisioningTemplate != "" {
		if err := imprint.ValidateTemplateName("provisioningTemplate", req.ProvisioningTemplate); err != nil {
			return nil, err
		}
	}
	cert, err := ca.ParseCertificatePEM("caCertificatePem", req.CACertificatePEM)
	if err != nil {
		return nil, err
	}
	now := e.now()
	kt, err := ca.CheckExternalCA(cert, now)
	if err != nil {
		return nil, err
	}
	proof, err := e.checkProof(ctx, cert, req)
	if err != nil {
		return nil, err
	}
	status := imprint.CAInactive
	if req.SetAsActive {
		status = imprint.CAActive
	}
	c := ca.NewExternalCA(cert, kt, req.Name, status, req.AutoRegistration, req.ProvisioningTemplate)
	if err := e.registration.RegisterCA(ctx, c, proof, req.Actor); err != nil {
		return nil, err
	}
	if err := e.ca.Reload(ctx); err != nil { // recorded; the notification reloads it later
		e.log.ErrorContext(ctx, "reload CAs", "err", err)
		return c, nil
	}
	if loaded, err := e.ca.CA(c.ID); err == nil {
		return loaded, nil
	}
	return c, nil
}

// checkProof checks the verification certificate of req against the
// current registration code, and returns the proof the audit event records.
func (e *Engine) checkProof(ctx context.Context, caCert *x509.Certificate, req RegisterCARequest) (string, error) {
	if len(strings.TrimSpace(string(req.VerificationCertificatePEM))) == 0 {
		if !req.AllowWithoutVerification {
			return "", imprint.Errorf(imprint.Invalid, "verificationCertificatePem is required: a certificate signed by the CA's key "+
				"whose subject CN is the registration code (GET /v1/registration-code); to register without this proof, "+
				"set allowWithoutVerification to true")
		}
		return imprint.ProofNone, nil
	}
	ver, err := ca.ParseCertificatePEM("verificationCertificatePem", req.VerificationCertificatePEM)
	if err != nil {
		return "", err
	}
	code, err := e.registration.CurrentRegistrationCode(ctx)
	if err != nil {
		return "", err
	}
	if code == "" {
		return "", imprint.Errorf(imprint.Invalid,
			"there is no registration code: GET /v1/registration-code makes one; sign a verification certificate for it")
	}
	if err := ca.CheckVerificationCertificate(caCert, ver, code, e.now()); err != nil {
		return "", err
	}
	return imprint.ProofVerificationCertificate, nil
}

// ParseRegistrationStatus reads the status a registered certificate is to
// have, in any case: ACTIVE, INACTIVE (the default, for "") or
// PENDING_ACTIVATION. Returns Invalid for any other.
func ParseRegistrationStatus(s string) (imprint.CertificateStatus, error) {
	switch st := imprint.CertificateStatus(strings.ToUpper(s)); st {
	case "":
		return imprint.CertificateInactive, nil
	case imprint.CertificateActive, imprint.CertificateInactive, imprint.CertificatePendingActivation:
		return st, nil
	case imprint.CertificateRevoked:
		return "", imprint.Errorf(imprint.Invalid, "status: a certificate cannot be registered REVOKED")
	}
	return "", imprint.Errorf(imprint.Invalid, "status must be ACTIVE, INACTIVE or PENDING_ACTIVATION, not %q", s)
}

// RegisterCertificate registers one device certificate signed elsewhere
// with the given status ("" for INACTIVE): its direct issuer must be an
// ACTIVE registered CA (external or issuing), and it must be valid now.
// Nothing of a private key is involved. Returns Invalid saying what is
// wrong, Conflict if it is registered already or its CA is INACTIVE.
func (e *Engine) RegisterCertificate(ctx context.Context, actor imprint.Actor, certPEM []byte, status string) (*imprint.Certificate, error) {
	st, err := ParseRegistrationStatus(status)
	if err != nil {
		return nil, err
	}
	cert, err := ca.ParseCertificatePEM("certificatePem", certPEM)
	if err != nil {
		return nil, err
	}
	c, err := e.issuers().check(cert, e.now())
	if err != nil {
		return nil, err
	}
	c.Status = st
	errs, err := e.registration.RegisterCertificates(ctx, []imprint.Certificate{c}, actor)
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	e.standingChanged(&c)
	return e.lifecycle.Certificate(ctx, c.ID)
}

// Registered is a certificate a batch registered, by its place in the
// batch.
type Registered struct {
	Index         int
	CertificateID string
}

// Failed is a certificate a batch could not register, by its place in the
// batch, with the reason.
type Failed struct {
	Index int
	Line  int
	Err   error
}

// RegisterBatchResult is what a batch registration did.
type RegisterBatchResult struct {
	Registered []Registered
	Failed     []Failed
}

// RegisterCertificates registers the certificates of a batch as
// RegisterCertificate does one, each with its item's status or else
// status, and records those that pass in one transaction. An item that
// fails (unreadable, refused, a duplicate) fails alone; a fault of the
// store fails the whole batch.
func (e *Engine) RegisterCertificates(ctx context.Context, actor imprint.Actor, items []IntakeItem, status string) (*RegisterBatchResult, error) {
	if _, err := ParseRegistrationStatus(status); err != nil {
		return nil, err
	}
	checked := make([]imprint.Certificate, len(items))
	errs := make([]error, len(items))
	e.checkAll(items, status, checked, errs)
	res := &RegisterBatchResult{}
	var (
		good  []imprint.Certificate
		index []int
		first = map[string]int{}
	)
	for i := range items {
		if errs[i] == nil {
			if j, dup := first[checked[i].ID]; dup {
				errs[i] = imprint.Errorf(imprint.Conflict, "certificate %s appears twice in the batch (first at index %d)",
					checked[i].ID, items[j].Index)
				continue
			}
			first[checked[i].ID] = i
			good, index = append(good, checked[i]), append(index, i)
		}
	}
	stored, err := e.registration.RegisterCertificates(ctx, good, actor)
	if err != nil {
		return nil, err
	}
	for k, i := range index {
		errs[i] = stored[k]
	}
	changed := map[string]bool{}
	for i, it := range items {
		if errs[i] != nil {
			res.Failed = append(res.Failed, Failed{Index: it.Index, Line: it.Line, Err: errs[i]})
			continue
		}
		res.Registered = append(res.Registered, Registered{Index: it.Index, CertificateID: checked[i].ID})
		changed[checked[i].CAID] = true
	}
	for caID := range changed {
		for _, l := range e.standing {
			l.Invalidate(caID, "*")
		}
	}
	return res, nil
}

// checkAll reads and checks the batch's certificates on every core.
func (e *Engine) checkAll(items []IntakeItem, status string, checked []imprint.Certificate, errs []error) {
	idx, now := e.issuers(), e.now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				checked[i], errs[i] = checkItem(idx, items[i], status, now)
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
}

func checkItem(idx issuerIndex, it IntakeItem, status string, now time.Time) (imprint.Certificate, error) {
	if it.Err != nil {
		return imprint.Certificate{}, it.Err
	}
	if it.Status != "" {
		status = it.Status
	}
	st, err := ParseRegistrationStatus(status)
	if err != nil {
		return imprint.Certificate{}, err
	}
	var cert *x509.Certificate
	if it.DER != nil {
		cert, err = ca.ParseCertificateDER("certificate", it.DER)
	} else {
		cert, err = ca.ParseCertificatePEM("certificatePem", it.PEM)
	}
	if err != nil {
		return imprint.Certificate{}, err
	}
	c, err := idx.check(cert, now)
	c.Status = st
	return c, err
}

// issuerIndex holds the CAs that may have signed a device certificate
// directly (issuing and external; never the root), with their certificates
// parsed (nil for the root and for any that does not parse).
type issuerIndex struct {
	cas   []*imprint.CA
	certs []*x509.Certificate
}

func (e *Engine) issuers() issuerIndex {
	cas := e.ca.CAs()
	idx := issuerIndex{cas: cas, certs: make([]*x509.Certificate, len(cas))}
	for i, c := range cas {
		if c.Role == imprint.CARoot {
			continue
		}
		if cert, err := x509.ParseCertificate(c.DER); err == nil {
			idx.certs[i] = cert
		}
	}
	return idx
}

// check finds the registered CA that directly signed cert (by issuer name,
// then signature) and checks cert under it. Returns Invalid if none did or
// cert is refused, Conflict if the CA that did is INACTIVE.
func (idx issuerIndex) check(cert *x509.Certificate, now time.Time) (imprint.Certificate, error) {
	cands := ca.IssuerCandidates(cert, idx.cas, idx.certs)
	if len(cands) == 0 {
		return imprint.Certificate{}, imprint.Errorf(imprint.Invalid,
			"the certificate's issuer %q is not a registered CA: register the CA that signed it directly (POST /v1/cas:register)",
			cert.Issuer.String())
	}
	var (
		firstErr error
		inactive *imprint.CA
	)
	for _, i := range cands {
		c, err := ca.CheckRegisteredCertificate(cert, idx.cas[i], idx.certs[i], now)
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		case idx.cas[i].Status != imprint.CAActive:
			inactive = idx.cas[i]
		default:
			return c, nil
		}
	}
	if inactive != nil {
		return imprint.Certificate{}, imprint.Errorf(imprint.Conflict,
			"CA %s, which signed the certificate, is %s: activate it before registering its certificates", inactive.ID, inactive.Status)
	}
	return imprint.Certificate{}, firstErr
}
