package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.step.sm/crypto/kms"
	kmsapi "go.step.sm/crypto/kms/apiv1"
	_ "go.step.sm/crypto/kms/softkms" // the default key manager: encrypted PEM files
	"go.step.sm/crypto/pemutil"

	"github.com/imprint-iot/imprint"
)

// KeyTypeOf returns the key type of pub. Returns Invalid for keys Imprint
// does not accept: RSA under 2048 bits or of an unusual size, DSA, curves
// other than P-256 and P-384.
func KeyTypeOf(pub crypto.PublicKey) (imprint.KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return imprint.KeyECDSAP256, nil
		case elliptic.P384():
			return imprint.KeyECDSAP384, nil
		}
		return "", imprint.Errorf(imprint.Invalid, "ECDSA curve %s is not accepted (use P-256 or P-384)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return imprint.KeyEd25519, nil
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); bits {
		case 2048:
			return imprint.KeyRSA2048, nil
		case 3072:
			return imprint.KeyRSA3072, nil
		case 4096:
			return imprint.KeyRSA4096, nil
		default:
			if bits < 2048 {
				return "", imprint.Errorf(imprint.Invalid, "RSA key of %d bits is too small (at least 2048)", bits)
			}
			return "", imprint.Errorf(imprint.Invalid, "RSA key of %d bits is not accepted (use 2048, 3072 or 4096)", bits)
		}
	}
	return "", imprint.Errorf(imprint.Invalid, "key algorithm %T is not accepted (use ECDSA P-256/P-384, Ed25519 or RSA >= 2048)", pub)
}

// EncodePrivateKey returns key as an unencrypted PKCS#8 PEM block, for the one
// response that hands a generated device key to its caller.
func EncodePrivateKey(key crypto.Signer) ([]byte, error) {
	block, err := pemutil.Serialize(key, pemutil.WithPKCS8(true))
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// softKMSPrefix starts the key URIs of keys in encrypted PEM files. Their
// path is relative to the data directory.
const softKMSPrefix = "softkms:path="

// writeKey saves key encrypted with passphrase in the data directory, mode
// 0600, and returns its key URI.
func (a *Authority) writeKey(key crypto.Signer, name string) (string, error) {
	block, err := pemutil.Serialize(key, pemutil.WithPKCS8(true), pemutil.WithPassword(a.passphrase))
	if err != nil {
		return "", fmt.Errorf("encrypt key: %w", err)
	}
	rel := filepath.Join("ca", name+".key")
	path := filepath.Join(a.dataDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create key file: %w", err)
	}
	err = pem.Encode(f, block)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // no partial key file is left behind
		return "", fmt.Errorf("write key file: %w", err)
	}
	return softKMSPrefix + rel, nil
}

// keyPath returns the file of a softkms key URI.
func (a *Authority) keyPath(uri string) (string, error) {
	if !strings.HasPrefix(uri, "softkms:") {
		return "", fmt.Errorf("key URI %q: only softkms keys are supported by this build", uri)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(uri, softKMSPrefix), "softkms:")
	if !filepath.IsAbs(path) {
		path = filepath.Join(a.dataDir, path)
	}
	return path, nil
}

// removeKey deletes the key file of uri, for a key that was written but is
// not to be used.
func (a *Authority) removeKey(uri string) error {
	path, err := a.keyPath(uri)
	if err != nil {
		return err
	}
	return os.Remove(path)
}

// loadSigner opens the key at uri through the key manager. Keys in encrypted
// PEM files are decrypted with the configured passphrase.
func (a *Authority) loadSigner(ctx context.Context, uri string) (crypto.Signer, error) {
	path, err := a.keyPath(uri)
	if err != nil {
		return nil, err
	}
	// Decrypting a key file costs PBKDF2 at 600,000 iterations; an authority
	// made again in the same process (a reload, a test) reuses what the same
	// file under the same passphrase gave before.
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", uri, err)
	}
	h := sha256.New()
	h.Write(a.passphrase)
	h.Write([]byte{0})
	h.Write(data)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	if s, ok := loadedSigners.Load(id); ok {
		return s.(crypto.Signer), nil
	}
	km, err := kms.New(ctx, kmsapi.Options{Type: kmsapi.SoftKMS})
	if err != nil {
		return nil, fmt.Errorf("key manager: %w", err)
	}
	defer km.Close()
	signer, err := km.CreateSigner(&kmsapi.CreateSignerRequest{SigningKey: path, Password: a.passphrase})
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", uri, err)
	}
	loadedSigners.Store(id, signer)
	return signer, nil
}

// loadedSigners holds the keys this process has decrypted, by the SHA-256
// of the passphrase and the encrypted file: the same file under the same
// passphrase is the same key. Keys stay in memory as long as the process,
// as an authority's loaded keys do anyway.
var loadedSigners sync.Map
