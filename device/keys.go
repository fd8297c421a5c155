package device

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/imprint-iot/imprint"
)

// GenerateKey makes a device key of the given type ("EC-P256" when empty);
// see imprint.KeyTypes.
func GenerateKey(keyType string) (crypto.Signer, error) {
	switch imprint.KeyType(keyType) {
	case "", imprint.KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case imprint.KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case imprint.KeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case imprint.KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case imprint.KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case imprint.KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("unknown key type %q (want one of %v)", keyType, imprint.KeyTypes)
}
