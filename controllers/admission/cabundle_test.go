package admission

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

func TestMergeCABundleRules(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ca := func(name string, notBefore, notAfter time.Time) []byte {
		t.Helper()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		must(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	year := 365 * 24 * time.Hour
	oldCA := ca(caName, now.Add(-9*year), now.Add(80*24*time.Hour))
	newCA := ca(caName, now.Add(-time.Hour), now.Add(10*year))
	older := ca(caName, now.Add(-19*year), now.Add(time.Hour))
	expired := ca(caName, now.Add(-10*year), now.Add(-time.Hour))
	foreign := ca("someone-else", now.Add(-time.Hour), now.Add(year))
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name           string
		secretCA, prev []byte
		at             time.Time
		want           []byte
	}{
		{"first injection: the Secret's CA", newCA, nil, now, newCA},
		{"unchanged CA: the bundle stays", newCA, newCA, now, newCA},
		{"a renewed CA keeps the old one after it", newCA, oldCA, now, join(newCA, oldCA)},
		{"the merged bundle is stable", newCA, join(newCA, oldCA), now, join(newCA, oldCA)},
		{"only the one CA replaced last is kept", newCA, join(oldCA, older), now, join(newCA, oldCA)},
		{"an expired CA is dropped", newCA, join(newCA, expired), now, newCA},
		{"a CA of another name is dropped", newCA, join(newCA, foreign), now, newCA},
		{"the old CA leaves after the grace", newCA, join(newCA, oldCA), now.Add(PreviousCAGrace), newCA},
		{"an empty Secret leaves the bundle alone", nil, oldCA, now, oldCA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MergeCABundle(tc.secretCA, tc.prev, tc.at); !bytes.Equal(got, tc.want) {
				t.Errorf("got %d certificates, want %d", len(parseCertificates(got)), len(parseCertificates(tc.want)))
			}
		})
	}
}
