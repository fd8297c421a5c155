package provisioning

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// Limits of one registration batch.
const (
	MaxIntakeSize  = 16 << 20 // bytes of input
	MaxIntakeItems = 10000    // certificates
)

// IntakeFormat is how a batch of certificates to register is written.
type IntakeFormat int

// The intake formats.
const (
	// IntakePEM is a PEM bundle (application/x-pem-file): CERTIFICATE
	// blocks one after the other; text between blocks is ignored.
	IntakePEM IntakeFormat = iota + 1
	// IntakeNDJSON is newline-delimited JSON (application/x-ndjson): one
	// object {"certificatePem": "...", "status": "..."} per line; blank
	// lines are skipped.
	IntakeNDJSON
)

// IntakeItem is one certificate of a batch, as read: its DER (PEM bundle)
// or PEM (NDJSON), the status it asks for ("" for the batch's), or why it
// could not be read (Err).
type IntakeItem struct {
	Index  int // 0-based position among the batch's items
	Line   int // 1-based line of the input the item starts on
	DER    []byte
	PEM    []byte
	Status string
	Err    error
}

// ReadIntake splits a batch of certificates to register into items, without
// parsing the certificates. An item that cannot be read (a PEM block of
// another type, a malformed NDJSON line) is an item with Err; it fails
// alone. Returns TooLarge for more than MaxIntakeSize bytes or
// MaxIntakeItems items, and Invalid for an input of no item or an unknown
// format. It never holds more than the input and its items.
func ReadIntake(format IntakeFormat, body []byte) ([]IntakeItem, error) {
	if len(body) > MaxIntakeSize {
		return nil, imprint.Errorf(imprint.TooLarge, "the batch is larger than %d bytes", MaxIntakeSize)
	}
	var (
		items []IntakeItem
		err   error
	)
	switch format {
	case IntakePEM:
		items, err = readPEMIntake(body)
	case IntakeNDJSON:
		items, err = readNDJSONIntake(body)
	default:
		return nil, imprint.Errorf(imprint.Invalid, "unknown batch format")
	}
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, imprint.Errorf(imprint.Invalid, "the batch holds no certificate")
	}
	return items, nil
}

var (
	pemBegin = []byte("-----BEGIN")
	pemEnd   = []byte("-----END")
	newline  = []byte("\n")
)

func tooManyItems() error {
	return imprint.Errorf(imprint.TooLarge, "the batch holds more than %d certificates", MaxIntakeItems)
}

// readPEMIntake reads the blocks of a PEM bundle. It frames each block
// itself (from a BEGIN line to the next END line) and decodes only that, so
// that malformed blocks cost no rescans of the rest of the input.
func readPEMIntake(body []byte) ([]IntakeItem, error) {
	var items []IntakeItem
	rest, line := body, 1
	for {
		at := bytes.Index(rest, pemBegin)
		if at < 0 {
			return items, nil
		}
		if len(items) == MaxIntakeItems {
			return nil, tooManyItems()
		}
		line += bytes.Count(rest[:at], newline)
		rest = rest[at:]
		it := IntakeItem{Index: len(items), Line: line}
		n := blockLength(rest)
		block, _ := pem.Decode(rest[:max(n, 0)])
		switch {
		case n < 0 || block == nil:
			// Report it, and look for the next block after its BEGIN.
			it.Err = imprint.Errorf(imprint.Invalid, "the PEM block at line %d is malformed or not terminated", line)
			n = len(pemBegin)
		case block.Type != "CERTIFICATE":
			it.Err = imprint.Errorf(imprint.Invalid, "the PEM block at line %d is %q, want CERTIFICATE", line, block.Type)
		case len(block.Headers) > 0:
			it.Err = imprint.Errorf(imprint.Invalid, "the PEM block at line %d has headers; a certificate has none", line)
		case len(block.Bytes) == 0:
			it.Err = imprint.Errorf(imprint.Invalid, "the PEM block at line %d is empty", line)
		default:
			it.DER = block.Bytes
		}
		items = append(items, it)
		line += bytes.Count(rest[:n], newline)
		rest = rest[n:]
	}
}

// blockLength returns the length of the PEM block text starts with, up to
// the end of its END line, or -1 if there is no END line before the next
// BEGIN line or within maxPEMBlock bytes. It reads no further than the next
// BEGIN, so that reading a bundle takes time in proportion to its length.
func blockLength(text []byte) int {
	body := text[len(pemBegin):]
	if len(body) > maxPEMBlock {
		body = body[:maxPEMBlock]
	}
	if next := bytes.Index(body, pemBegin); next >= 0 {
		body = body[:next]
	}
	end := bytes.Index(body, pemEnd)
	if end < 0 {
		return -1
	}
	n := len(pemBegin) + end
	if nl := bytes.IndexByte(text[n:], '\n'); nl >= 0 {
		return n + nl + 1
	}
	return len(text)
}

// maxPEMBlock bounds the text of one PEM block of a bundle.
const maxPEMBlock = 2 * ca.MaxCertificatePEMSize

// ndjsonLine is one line of an NDJSON batch, as AWS IoT's registration
// inputs write a certificate.
type ndjsonLine struct {
	CertificatePEM *string `json:"certificatePem"`
	Status         string  `json:"status"`
}

// maxNDJSONLine bounds a line: a certificate's PEM, JSON-escaped, and a
// status.
const maxNDJSONLine = 2*ca.MaxCertificatePEMSize + 1024

func readNDJSONIntake(body []byte) ([]IntakeItem, error) {
	var items []IntakeItem
	for line, rest := 1, body; len(rest) > 0; line++ {
		text := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		if len(items) == MaxIntakeItems {
			return nil, tooManyItems()
		}
		it := IntakeItem{Index: len(items), Line: line}
		it.PEM, it.Status, it.Err = readNDJSONLine(text, line)
		items = append(items, it)
	}
	return items, nil
}

func readNDJSONLine(text []byte, line int) ([]byte, string, error) {
	if len(text) > maxNDJSONLine {
		return nil, "", imprint.Errorf(imprint.TooLarge, "line %d is longer than %d bytes", line, maxNDJSONLine)
	}
	var l ndjsonLine
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, "", imprint.Errorf(imprint.Invalid, "line %d is not a JSON object {certificatePem, status}: %s", line, jsonReason(err))
	}
	if dec.More() {
		return nil, "", imprint.Errorf(imprint.Invalid, "line %d holds more than one JSON value", line)
	}
	if l.CertificatePEM == nil {
		return nil, "", imprint.Errorf(imprint.Invalid, "line %d has no certificatePem", line)
	}
	return []byte(*l.CertificatePEM), l.Status, nil
}

// jsonReason is the reason a JSON line did not decode, without Go's type
// names.
func jsonReason(err error) string {
	var typ *json.UnmarshalTypeError
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("malformed JSON at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		typ = e
		if typ.Field == "" {
			return "not an object"
		}
		return fmt.Sprintf("field %q must be a string", typ.Field)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
