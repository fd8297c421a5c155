package device

import (
	"crypto"

	"github.com/imprint-iot/imprint"
)

// GenerateKey makes a device key of the given type ("EC-P256" when empty);
// see imprint.KeyTypes.
func GenerateKey(keyType string) (crypto.Signer, error) {
	if keyType == "" {
		keyType = string(imprint.KeyECDSAP256)
	}
	return imprint.KeyType(keyType).GenerateKey()
}
