package bus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/bus"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newTestPKI(tb testing.TB) testPKI {
	tb.Helper()
	dir := tb.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crmhub test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	p := testPKI{caFile: write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))}
	sc, sk := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		tb.Fatal(err)
	}
	cc, ck := issue(3, "crmhub", x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey = write("client.pem", cc), write("client-key.pem", ck)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	return p
}

// startSecureCluster starts a kfake broker speaking TLS with SASL users.
func startSecureCluster(tb testing.TB, p testPKI, clientAuth tls.ClientAuthType) []string {
	tb.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: clientAuth, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plain-secret"),
		kfake.Superuser("SCRAM-SHA-256", "scram256user", "scram256-secret"),
		kfake.Superuser("SCRAM-SHA-512", "scram512user", "scram512-secret"),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()
}

func roundTrip(ctx context.Context, tb testing.TB, b *bus.Bus) {
	tb.Helper()
	topic := b.Topics().DeadLetter()
	if err := b.Publish(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("secure")}); err != nil {
		tb.Fatalf("publish over TLS+SASL: %v", err)
	}
	got := fetchN(ctx, tb, b.NewConsumer("secure-group", []string{topic}), 1)
	if string(got[0].Value) != "secure" {
		tb.Fatalf("read %q back", got[0].Value)
	}
}

func TestTLSAndSASL(t *testing.T) {
	p := newTestPKI(t)
	brokers := startSecureCluster(t, p, tls.NoClientCert)
	tests := []struct {
		mech, user, pass string
	}{
		{bus.MechanismPlain, "plainuser", "plain-secret"},
		{bus.MechanismScramSHA256, "scram256user", "scram256-secret"},
		{bus.MechanismScramSHA512, "scram512user", "scram512-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			ctx := testCtx(t, time.Minute)
			cfg := bus.Config{
				Brokers:     brokers,
				TopicPrefix: "sec-" + strings.ToLower(strings.ReplaceAll(tt.mech, "-", "")),
				TLS:         &bus.TLSConfig{CAFile: p.caFile},
				SASL:        &bus.SASLConfig{Mechanism: tt.mech, Username: tt.user, Password: tt.pass},
			}
			b, err := bus.Open(ctx, cfg, nil, testLogger(t))
			if err != nil {
				t.Fatalf("open with %s: %v", tt.mech, err)
			}
			defer b.Close()
			roundTrip(ctx, t, b)

			cfg.SASL.Password = "wrong-password"
			_, err = bus.Open(ctx, cfg, nil, testLogger(t))
			if err == nil {
				t.Fatal("open with a wrong password succeeded")
			}
			t.Logf("wrong password: %v", err)
			if !errors.Is(err, bus.ErrAuth) {
				t.Errorf("wrong password: error %q does not wrap ErrAuth", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.user) || !strings.Contains(msg, tt.mech) || strings.Contains(msg, "wrong-password") {
				t.Errorf("wrong password error should name user and mechanism, never the password: %q", msg)
			}
		})
	}
}

func TestTLSVerificationAndClientCert(t *testing.T) {
	p := newTestPKI(t)
	brokers := startSecureCluster(t, p, tls.RequireAndVerifyClientCert)
	sasl := &bus.SASLConfig{Mechanism: bus.MechanismScramSHA256, Username: "scram256user", Password: "scram256-secret"}
	tests := []struct {
		name    string
		tls     *bus.TLSConfig
		wantErr string
	}{
		{"mutual TLS", &bus.TLSConfig{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, ""},
		{"unknown CA", &bus.TLSConfig{CertFile: p.clientCert, KeyFile: p.clientKey}, "certificate"},
		{"no client certificate", &bus.TLSConfig{CAFile: p.caFile}, "certificate"},
		{"wrong server name", &bus.TLSConfig{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey, ServerName: "kafka.example.com"}, "kafka.example.com"},
		{"cert without key", &bus.TLSConfig{CAFile: p.caFile, CertFile: p.clientCert}, "together"},
		{"missing CA file", &bus.TLSConfig{CAFile: filepath.Join(t.TempDir(), "nope.pem")}, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			b, err := bus.Open(ctx, bus.Config{Brokers: brokers, TopicPrefix: "mtls", TLS: tt.tls, SASL: sasl}, nil, testLogger(t))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				roundTrip(ctx, t, b)
				return
			}
			if err == nil {
				b.Close()
				t.Fatalf("open succeeded, want an error mentioning %q", tt.wantErr)
			}
			t.Logf("%s: %v", tt.name, err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	tests := []struct {
		name string
		cfg  bus.Config
	}{
		{"unknown mechanism", bus.Config{Brokers: []string{"127.0.0.1:1"}, SASL: &bus.SASLConfig{Mechanism: "GSSAPI", Username: "u"}}},
		{"empty user", bus.Config{Brokers: []string{"127.0.0.1:1"}, SASL: &bus.SASLConfig{Mechanism: "PLAIN"}}},
		{"sasl on embedded", bus.Config{EmbeddedListen: "127.0.0.1:0", SASL: &bus.SASLConfig{Mechanism: "PLAIN", Username: "u"}}},
		{"bad listen address", bus.Config{EmbeddedListen: "nonsense"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bus.Open(ctx, tt.cfg, nil, nil)
			if !errors.Is(err, bus.ErrConfig) {
				t.Errorf("error %v, want ErrConfig", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		_, err = bus.Open(ctx, bus.Config{Brokers: []string{addr}}, nil, nil)
		if !errors.Is(err, bus.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
			t.Errorf("error %v, want ErrUnreachable naming %s", err, addr)
		}
	})
}
