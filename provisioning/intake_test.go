package provisioning_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// selfSignedPEM returns a small certificate, PEM, for intake tests (intake
// does not look inside certificates).
func selfSignedPEM(tb testing.TB, cn string) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func ndjsonLine(tb testing.TB, certPEM []byte, status string) string {
	tb.Helper()
	b, err := json.Marshal(map[string]string{"certificatePem": string(certPEM), "status": status})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestReadIntake(t *testing.T) {
	t.Parallel()
	a, b := selfSignedPEM(t, "a"), selfSignedPEM(t, "b")
	la := strings.Count(string(a), "\n")
	keyPEM := "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n"
	type want struct {
		line   int
		err    string // "" for a good item
		status string
	}
	tests := []struct {
		name    string
		format  provisioning.IntakeFormat
		body    string
		want    []want
		wantErr string
	}{
		{"bundle", provisioning.IntakePEM, "subject=CN = a\n" + string(a) + "\n" + string(b),
			[]want{{line: 2}, {line: 2 + la + 1}}, ""},
		{"bundle with a key and garbage", provisioning.IntakePEM, string(a) + keyPEM + "-----BEGIN CERTIFICATE-----\n!!!\n" + string(b),
			[]want{{line: 1}, {line: 1 + la, err: `"EC PRIVATE KEY", want CERTIFICATE`}, {line: 1 + la + 3, err: "malformed or not terminated"},
				{line: 1 + la + 5}}, ""},
		{"truncated last block", provisioning.IntakePEM, string(a) + string(b[:len(b)/2]),
			[]want{{line: 1}, {line: 1 + la, err: "malformed or not terminated"}}, ""},
		{"empty block", provisioning.IntakePEM, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
			[]want{{line: 1, err: "is empty"}}, ""},
		{"no block", provisioning.IntakePEM, "hello\n", nil, "holds no certificate"},
		{"empty", provisioning.IntakeNDJSON, "\n\n", nil, "holds no certificate"},
		{"ndjson", provisioning.IntakeNDJSON,
			ndjsonLine(t, a, "ACTIVE") + "\n\n" + ndjsonLine(t, b, "") + "\r\n" + `{"certificatePem": 5}` + "\n" +
				`{"csr": "x"}` + "\n" + `{"status": "ACTIVE"}` + "\n" + `not json` + "\n" + `{}{}`,
			[]want{{line: 1, status: "ACTIVE"}, {line: 3}, {line: 4, err: `field "certificatePem" must be a string`},
				{line: 5, err: `unknown field "csr"`}, {line: 6, err: "has no certificatePem"}, {line: 7, err: "malformed JSON"},
				{line: 8, err: "more than one JSON value"}}, ""},
		{"the AWS bulk-registration line shape", provisioning.IntakeNDJSON, awsBulkExample(), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := provisioning.ReadIntake(tt.format, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(imprint.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("ReadIntake() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if tt.want == nil { // the AWS example's parameter lines are not certificates
				if err != nil || len(items) != 2 || items[0].Err == nil || !strings.Contains(items[0].Err.Error(), "unknown field") {
					t.Fatalf("ReadIntake(AWS bulk example) = %+v, %v, want two items refused for their unknown fields", items, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadIntake() error = %v", err)
			}
			if len(items) != len(tt.want) {
				t.Fatalf("ReadIntake() = %d items %+v, want %d", len(items), items, len(tt.want))
			}
			for i, w := range tt.want {
				it := items[i]
				if it.Index != i || it.Line != w.line || it.Status != w.status {
					t.Errorf("item %d = index %d line %d status %q, want index %d line %d status %q", i, it.Index, it.Line, it.Status, i, w.line, w.status)
				}
				switch {
				case w.err == "" && (it.Err != nil || (it.DER == nil && it.PEM == nil)):
					t.Errorf("item %d = %+v, want a certificate", i, it)
				case w.err != "" && (it.Err == nil || !strings.Contains(it.Err.Error(), w.err)):
					t.Errorf("item %d error = %v, want %q", i, it.Err, w.err)
				}
			}
		})
	}
}

func awsBulkExample() string {
	// The example's two lines are parameter dictionaries, the shape of a
	// bulk-registration input; our lines carry certificates instead.
	return `{"ThingName": "foo", "SerialNumber": "123", "CSR": "csr1"}` + "\n" +
		`{"ThingName": "bar", "SerialNumber": "456", "CSR": "csr2"}` + "\n"
}

func TestReadIntakeLimits(t *testing.T) {
	t.Parallel()
	line := ndjsonLine(t, []byte("x"), "") + "\n"
	many := strings.Repeat(line, provisioning.MaxIntakeItems+1)
	if _, err := provisioning.ReadIntake(provisioning.IntakeNDJSON, []byte(many)); imprint.ErrorKind(err) != imprint.TooLarge {
		t.Errorf("ReadIntake(%d lines) error = %v, want TooLarge", provisioning.MaxIntakeItems+1, err)
	}
	blocks := strings.Repeat("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", provisioning.MaxIntakeItems+1)
	if _, err := provisioning.ReadIntake(provisioning.IntakePEM, []byte(blocks)); imprint.ErrorKind(err) != imprint.TooLarge {
		t.Errorf("ReadIntake(%d blocks) error = %v, want TooLarge", provisioning.MaxIntakeItems+1, err)
	}
	if items, err := provisioning.ReadIntake(provisioning.IntakeNDJSON, []byte(strings.Repeat(line, provisioning.MaxIntakeItems))); err != nil ||
		len(items) != provisioning.MaxIntakeItems {
		t.Errorf("ReadIntake(%d lines) = %d items, %v", provisioning.MaxIntakeItems, len(items), err)
	}
	big := make([]byte, provisioning.MaxIntakeSize+1)
	if _, err := provisioning.ReadIntake(provisioning.IntakePEM, big); imprint.ErrorKind(err) != imprint.TooLarge {
		t.Errorf("ReadIntake(%d bytes) error = %v, want TooLarge", len(big), err)
	}
	long := `{"certificatePem": "` + strings.Repeat("A", 200<<10) + `"}`
	items, err := provisioning.ReadIntake(provisioning.IntakeNDJSON, []byte(long))
	if err != nil || len(items) != 1 || imprint.ErrorKind(items[0].Err) != imprint.TooLarge {
		t.Errorf("ReadIntake(a 200 KiB line) = %+v, %v, want one item refused as too large", items, err)
	}
}

// FuzzRegistrationIntake feeds arbitrary bytes to the registration intake in
// both formats. It must never panic; a refusal of the whole batch is Invalid
// or TooLarge; every item has its index, a line within the input, and
// either a certificate to parse or an error, never both; no item's bytes are
// more than the input's.
// The seed corpus is below and in testdata/fuzz/FuzzRegistrationIntake.
func FuzzRegistrationIntake(f *testing.F) {
	a := selfSignedPEM(f, "a")
	f.Add(a, true)
	f.Add(append(append([]byte("text\n"), a...), a...), true)
	f.Add(a[:len(a)/2], true)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"), true)
	f.Add([]byte(ndjsonLine(f, a, "ACTIVE")+"\n"+`{"certificatePem": 1}`+"\n\n"+`{`), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, isPEM bool) {
		format := provisioning.IntakeNDJSON
		if isPEM {
			format = provisioning.IntakePEM
		}
		items, err := provisioning.ReadIntake(format, data)
		if err != nil {
			if k := imprint.ErrorKind(err); k != imprint.Invalid && k != imprint.TooLarge {
				t.Fatalf("ReadIntake() error kind = %v (%v), want Invalid or TooLarge", k, err)
			}
			if items != nil {
				t.Fatalf("ReadIntake() = %d items and an error", len(items))
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for i, it := range items {
			if it.Index != i || it.Line < 1 || it.Line > lines {
				t.Fatalf("item %d: index %d, line %d of %d", i, it.Index, it.Line, lines)
			}
			if it.Err == nil && it.DER == nil && it.PEM == nil {
				t.Fatalf("item %d = %+v: want a certificate or an error", i, it)
			}
			if it.Err != nil && (it.DER != nil || it.PEM != nil) {
				t.Fatalf("item %d has both an error and a certificate", i)
			}
			if it.Err != nil && imprint.ErrorMessage(it.Err) == "internal error" {
				t.Fatalf("item %d error %v has no message", i, it.Err)
			}
			if len(it.DER) > len(data) || len(it.PEM) > len(data) {
				t.Fatalf("item %d holds more bytes than the input", i)
			}
		}
	})
}
