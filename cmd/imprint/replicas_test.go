package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint/device"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func post(t *testing.T, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", url, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestTwoReplicasRevoking runs two servers on one database and revokes
// through both at once, while their CRL publishers race: CRL numbers only
// grow, no CRL loses an entry an earlier one had, and the last lists every
// revoked certificate.
func TestTwoReplicasRevoking(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	env := map[string]string{"IMPRINT_DATABASE_URL": dbURL, "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "replicas", "IMPRINT_LOG_LEVEL": "warn"}
	a := startServe(t, env)
	defer a.stop()
	b := startServe(t, env)
	defer b.stop()

	c := device.NewClient(a.url, a.token, nil)
	csrs, err := device.PrepareCSRs(60)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.IssueBatch(context.Background(), csrs, "")
	if err != nil || batch.Issued != 60 {
		t.Fatalf("issue: %v %+v", err, batch)
	}
	caID := batch.Results[0].CAID
	var wg sync.WaitGroup
	for i, r := range batch.Results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			if status, body := post(t, s.url+"/v1/certificates/"+r.CertificateID+"/revoke", a.token, `{"reason":"keyCompromise"}`); status != 200 {
				t.Errorf("revoke %d via replica %d = %d %s", i, i%2, status, body)
			}
		}()
	}
	wg.Wait()

	// The CRL distribution point in the certificates is where the CRL is.
	block, _ := pem.Decode([]byte(batch.Results[0].CertificatePEM))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil || len(leaf.CRLDistributionPoints) != 1 {
		t.Fatalf("certificate CRL distribution points: %v %v", leaf, err)
	}
	if n := crlEntries(t, leaf.CRLDistributionPoints[0]); n < 0 {
		t.Errorf("the CRL distribution point %s does not serve a CRL", leaf.CRLDistributionPoints[0])
	}
	// Both replicas serve a CRL listing all 60 within a few seconds.
	for _, s := range []*server{a, b} {
		waitFor(t, 10*time.Second, func() (bool, string) {
			n := crlEntries(t, s.url+"/crl/"+caID+".crl")
			return n == 60, fmt.Sprintf("%s serves a CRL with %d entries, want 60", s.url, n)
		})
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), `SELECT number, entries FROM crls WHERE ca_id = $1 AND NOT delta ORDER BY number`, caID)
	type crl struct{ Number, Entries int64 }
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[crl])
	if err != nil || len(all) < 2 {
		t.Fatalf("stored CRLs = %v, %v", all, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Number <= all[i-1].Number || all[i].Entries < all[i-1].Entries {
			t.Errorf("CRL %d (%d entries) follows CRL %d (%d entries)", all[i].Number, all[i].Entries, all[i-1].Number, all[i-1].Entries)
		}
	}
	if last := all[len(all)-1]; last.Entries != 60 {
		t.Errorf("the last CRL has %d entries, want 60", last.Entries)
	}
	var dirty int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM crl_dirty`).Scan(&dirty)
	if dirty != 0 {
		t.Errorf("CRLs still marked out of date: %d", dirty)
	}
}

func crlEntries(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return -1
	}
	l, err := x509.ParseRevocationList(b)
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	return len(l.RevokedCertificateEntries)
}

// TestNewCAReachesTheOtherReplica creates an issuing CA through one replica:
// the other serves its certificate and issues with it as soon as the
// creation's notification reaches it, with no restart.
func TestNewCAReachesTheOtherReplica(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	env := map[string]string{"IMPRINT_DATABASE_URL": dbURL, "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "replicas", "IMPRINT_LOG_LEVEL": "warn"}
	a := startServe(t, env)
	defer a.stop()
	b := startServe(t, env)
	defer b.stop()

	status, body := post(t, a.url+"/v1/cas", a.token, `{"name":"line-7"}`)
	var created struct {
		CAID string `json:"caId"`
	}
	if err := json.Unmarshal(body, &created); status != 201 || err != nil || created.CAID == "" {
		t.Fatalf("create CA on replica A = %d %s", status, body)
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		resp, err := http.Get(b.url + "/ca/" + created.CAID + ".crt")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("replica B answers %d for the new CA's certificate", resp.StatusCode)
	})
	csrs, err := device.PrepareCSRs(1)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := device.NewClient(b.url, a.token, nil).Issue(context.Background(), csrs[0], created.CAID, "")
	if err != nil || cert.CAID != created.CAID {
		t.Fatalf("issue with the new CA on replica B = %+v, %v", cert, err)
	}
}
