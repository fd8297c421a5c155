package provisioning_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// TestConnectCertificateCache: with CacheCertificates, a reconnection's
// status is decided from memory, and every way a change of standing
// arrives (the engine's own flows at once, another replica's notification,
// a CA's change, a reconnected listener) makes the next Connect read the
// store again.
func TestConnectCertificateCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	engine := f.newEngine(provisioning.Config{CacheCertificates: true})
	cert := f.issue(pkix.Name{CommonName: "cached-1"})
	leaf, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.CreatePolicy(ctx, "connect-any", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AttachPolicy(ctx, "connect-any", "certificate", cert.ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	req := provisioning.ConnectRequest{Chain: []*x509.Certificate{leaf}, Protocol: provisioning.ProtocolMQTT, ClientID: "cached-1"}
	connects := func(want bool, when string) {
		t.Helper()
		_, err := engine.Connect(ctx, req)
		if want && err != nil || !want && imprint.ErrorKind(err) != imprint.Forbidden {
			t.Fatalf("%s: Connect() = %v, want connected %v", when, err, want)
		}
	}
	// setInStore changes the status as another replica would: in the
	// store, without this engine.
	setInStore := func(to imprint.CertificateStatus) {
		t.Helper()
		if _, err := f.db.SetCertificateStatus(ctx, cert.ID, to, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	notifications := []struct{ channel, payload string }{
		{imprint.ChannelRevocations, cert.CAID + " " + cert.Serial},
		{imprint.ChannelRevocations, cert.CAID + " *"},
		{imprint.ChannelRevocations, ""},
		{imprint.ChannelCAs, cert.CAID},
		{imprint.ChannelCAs, ""},
	}
	for _, n := range notifications {
		connects(true, "ACTIVE")
		setInStore(imprint.CertificateInactive)
		// Kept in memory: the store is not read until a notification
		// says the certificate changed.
		connects(true, "made INACTIVE elsewhere, not yet heard of")
		engine.Notify(n.channel, n.payload)
		connects(false, "after the notification "+n.channel+" "+n.payload)
		setInStore(imprint.CertificateActive)
		engine.Notify(imprint.ChannelRevocations, cert.CAID+" "+cert.Serial)
	}
	// A notification on another channel or of another certificate changes
	// nothing kept of this one.
	connects(true, "ACTIVE")
	setInStore(imprint.CertificateInactive)
	engine.Notify(imprint.ChannelTokens, "")
	engine.Notify(imprint.ChannelRevocations, cert.CAID+" 01")
	connects(true, "after notifications about something else")
	setInStore(imprint.CertificateActive)
	// The engine's own flows reach the cache before they return.
	if _, err := engine.SetStatus(ctx, imprint.SystemActor, cert.ID, imprint.CertificateInactive); err != nil {
		t.Fatal(err)
	}
	connects(false, "made INACTIVE through the engine")
	if _, err := engine.SetStatus(ctx, imprint.SystemActor, cert.ID, imprint.CertificateActive); err != nil {
		t.Fatal(err)
	}
	connects(true, "ACTIVE again")
	if _, err := engine.Revoke(ctx, imprint.SystemActor, cert.ID, imprint.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	connects(false, "revoked through the engine")
}
