package provisioning

import (
	"context"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// CAStore changes CAs.
type CAStore interface {
	UpdateCA(ctx context.Context, id string, u imprint.CAUpdate, actor imprint.Actor) (*imprint.CA, error)
}

// CreateIssuingCA makes an issuing CA under the root and loads it; other
// replicas load it when the store's notification reaches them.
func (e *Engine) CreateIssuingCA(ctx context.Context, req ca.CreateCARequest) (*imprint.CA, error) {
	return e.ca.CreateIssuingCA(ctx, req)
}

// UpdateCA changes a CA's status, auto-registration and JITP template in one
// transaction, and reloads this replica's CAs so that the change holds here
// when it returns (other replicas reload on the store's notification). The
// root CA cannot be changed: Invalid. Returns NotFound for an unknown CA or
// template.
func (e *Engine) UpdateCA(ctx context.Context, actor imprint.Actor, id string, u imprint.CAUpdate) (*imprint.CA, error) {
	if c, err := e.ca.CA(id); err == nil && c.Role == imprint.CARoot {
		return nil, imprint.Errorf(imprint.Invalid, "CA %s is the root; change the issuing CAs under it", id)
	}
	c, err := e.cas.UpdateCA(ctx, id, u, actor)
	if err != nil {
		return nil, err
	}
	if err := e.ca.Reload(ctx); err != nil { // the change is made; the notification reloads it later
		e.log.ErrorContext(ctx, "reload CAs", "err", err)
	}
	return c, nil
}
