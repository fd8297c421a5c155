package provisioning

import (
	"context"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// LifecycleStore changes certificates' standing.
type LifecycleStore interface {
	Certificate(ctx context.Context, id string) (*imprint.Certificate, error)
	SetCertificateStatus(ctx context.Context, id string, to imprint.CertificateStatus, actor imprint.Actor) (*imprint.Certificate, error)
	RevokeCertificate(ctx context.Context, id string, reason imprint.RevocationReason, actor imprint.Actor) (*imprint.Certificate, error)
	RenewCertificate(ctx context.Context, oldID string, renewal imprint.Certificate, grace time.Duration,
		proof imprint.RenewalProof, actor imprint.Actor) (*imprint.Certificate, error)
	RevokeThing(ctx context.Context, thing string, reason imprint.RevocationReason, actor imprint.Actor) ([]*imprint.Certificate, error)
}

// StandingListener hears of every change of a certificate's standing made
// through this engine, once it is committed: an OCSP responder drops what it
// keeps of the certificate, a device gateway closes its sessions. Other
// replicas hear of the change through the store's notifications.
type StandingListener interface {
	Invalidate(caID, serial string)
}

// standingChanged tells every listener that c's standing changed.
func (e *Engine) standingChanged(c *imprint.Certificate) {
	for _, l := range e.standing {
		l.Invalidate(c.CAID, c.Serial)
	}
}

// SetStatus moves a certificate between ACTIVE and INACTIVE (and out of
// PENDING_ACTIVATION), by the lifecycle's transitions. Returns NotFound,
// Invalid for an unknown status and Conflict for a transition the lifecycle
// does not allow.
func (e *Engine) SetStatus(ctx context.Context, actor imprint.Actor, id string, to imprint.CertificateStatus) (*imprint.Certificate, error) {
	c, err := e.lifecycle.SetCertificateStatus(ctx, id, to, actor)
	if err != nil {
		return nil, err
	}
	e.standingChanged(c)
	return c, nil
}

// Revoke revokes a certificate for reason. When it returns, OCSP on this
// replica says revoked. Returns NotFound, and Conflict if it is revoked
// already.
func (e *Engine) Revoke(ctx context.Context, actor imprint.Actor, id string, reason imprint.RevocationReason) (*imprint.Certificate, error) {
	c, err := e.lifecycle.RevokeCertificate(ctx, id, reason, actor)
	if err != nil {
		return nil, err
	}
	e.standingChanged(c)
	return c, nil
}

// RevokeThing is the kill switch: it revokes, in one transaction, every
// certificate attached to the thing, and then cuts every live session that
// uses one of them (on this replica at once; on the others when the
// revocations' notifications reach them). It returns the certificates it
// revoked. Returns NotFound for an unknown thing.
func (e *Engine) RevokeThing(ctx context.Context, actor imprint.Actor, thing string, reason imprint.RevocationReason) ([]*imprint.Certificate, error) {
	certs, err := e.lifecycle.RevokeThing(ctx, thing, reason, actor)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		e.standingChanged(c)
	}
	return certs, nil
}

// RenewRequest asks for a new certificate for the subject of an old one,
// from the same CA.
type RenewRequest struct {
	Actor         imprint.Actor
	CertificateID string
	CSRPEM        []byte
	// Proof is a signature of ca.RenewalMessage by the old certificate's
	// key; empty for none.
	Proof        []byte
	ValidityDays int
}

// Renew issues a certificate for the old one's subject from the same CA and
// records it, linked both ways; the old one is revoked as superseded after
// the renewal grace. Only an admin may renew to a key that nothing proves
// the requester holds the old key for (a CSR for the old key, or req.Proof;
// see ca.ProveRenewal): anyone else could otherwise revoke any certificate.
// The audit event says which proof there was. Returns NotFound, Conflict for
// a certificate revoked or renewed already, Invalid for a CSR for another
// subject and Forbidden for a missing or false proof.
func (e *Engine) Renew(ctx context.Context, req RenewRequest) (*ca.Issued, error) {
	old, err := e.lifecycle.Certificate(ctx, req.CertificateID)
	if err != nil {
		return nil, err
	}
	iss, proof, err := e.signRenewal(ctx, old, req)
	if err != nil {
		return nil, err
	}
	if _, err := e.lifecycle.RenewCertificate(ctx, old.ID, iss.Certificate, e.renewalGrace, proof, req.Actor); err != nil {
		return nil, err
	}
	e.standingChanged(old)
	return iss, nil
}

func (e *Engine) signRenewal(ctx context.Context, old *imprint.Certificate, req RenewRequest) (*ca.Issued, imprint.RenewalProof, error) {
	if old.Status == imprint.CertificateRevoked {
		return nil, "", imprint.Errorf(imprint.Conflict, "certificate %s is REVOKED and cannot be renewed", old.ID)
	}
	if old.SupersededBy != "" {
		return nil, "", imprint.Errorf(imprint.Conflict, "certificate %s was already renewed as %s", old.ID, old.SupersededBy)
	}
	csr, err := ca.ParseCSR(req.CSRPEM)
	if err != nil {
		return nil, "", err
	}
	// old.Subject is ca.Subject's string; certificates recorded before the
	// CA kept the CSR's subject as it is hold pkix.Name's string instead.
	if subject := ca.Subject(csr); subject != old.Subject && csr.Subject.String() != old.Subject {
		return nil, "", imprint.Errorf(imprint.Invalid, "the CSR's subject %q is not the certificate's %q", subject, old.Subject)
	}
	proof, err := ca.ProveRenewal(old, csr, req.Proof)
	if err != nil {
		return nil, "", err
	}
	if proof == "" {
		if req.Actor.Role != imprint.RoleAdmin {
			return nil, "", imprint.Errorf(imprint.Forbidden, "only an admin token may renew certificate %s to another key: "+
				"send a CSR for the certificate's own key, or a \"proof\" signed by that key (see the API documentation, Renewal)", old.ID)
		}
		proof = imprint.ProofAdmin
	}
	iss, err := e.ca.Issue(ctx, ca.IssueRequest{CSR: csr, CAID: old.CAID, ValidityDays: req.ValidityDays})
	return iss, proof, err
}
