package imprint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
)

// GenerateKey returns a new private key of type k: a device's (made by the
// device side, or by Imprint for devices that cannot) or a CA's. Returns
// Invalid for an unknown type.
func (k KeyType) GenerateKey() (crypto.Signer, error) {
	switch k {
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyEd25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, Errorf(Invalid, "unknown key type %q (want one of %v)", k, KeyTypes)
}
