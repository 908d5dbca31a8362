package scaler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate; server leaves are valid for 127.0.0.1.
func (ca *testCA) issue(t testing.TB, cn string, serial int64, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func dialTLS(t testing.TB, addr string, cfg *tls.Config) pb.ExternalScalerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewExternalScalerClient(conn)
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca"), newTestCA(t, "other-ca")
	sc, sk := serverCA.issue(t, "shadowcast", 10, true)
	files := TLSFiles{
		CertFile:     writeFile(t, dir, "tls.crt", sc),
		KeyFile:      writeFile(t, dir, "tls.key", sk),
		ClientCAFile: writeFile(t, dir, "client-ca.crt", clientCA.pem),
	}
	env := startServer(t, Options{TLS: files})
	env.reader.set("rps", 15*time.Minute, instance(env.clock, "eu", 100))

	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	clientCert := func(ca *testCA) []tls.Certificate {
		c, k := ca.issue(t, "keda-operator", 20, false)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{pair}
	}
	req := &pb.GetMetricsRequest{ScaledObjectRef: ref(meta())}

	t.Run("client certificate from the client CA", func(t *testing.T) {
		c := dialTLS(t, env.addr, &tls.Config{RootCAs: roots, Certificates: clientCert(clientCA), MinVersion: tls.VersionTLS12})
		got, err := c.GetMetrics(ctxT(t), req)
		if err != nil {
			t.Fatalf("GetMetrics() over mTLS error = %v", err)
		}
		if v := got.GetMetricValues()[0].GetMetricValueFloat(); v != 100 {
			t.Errorf("value = %v, want 100", v)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		c := dialTLS(t, env.addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
		if _, err := c.GetMetrics(ctxT(t), req); status.Code(err) != codes.Unavailable {
			t.Errorf("GetMetrics() without client cert error = %v, want Unavailable (handshake refused)", err)
		}
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		c := dialTLS(t, env.addr, &tls.Config{RootCAs: roots, Certificates: clientCert(otherCA), MinVersion: tls.VersionTLS12})
		if _, err := c.GetMetrics(ctxT(t), req); status.Code(err) != codes.Unavailable {
			t.Errorf("GetMetrics() with foreign client cert error = %v, want Unavailable", err)
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		conn, err := grpc.NewClient(env.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := pb.NewExternalScalerClient(conn).GetMetrics(ctxT(t), req); status.Code(err) != codes.Unavailable {
			t.Errorf("plaintext GetMetrics() error = %v, want Unavailable", err)
		}
	})
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	c, k := ca.issue(t, "s", 2, true)
	cert, key := writeFile(t, dir, "c.pem", c), writeFile(t, dir, "k.pem", k)
	garbage := writeFile(t, dir, "garbage.pem", []byte("not pem"))
	tests := []struct {
		name  string
		files TLSFiles
	}{
		{"key missing", TLSFiles{CertFile: cert}},
		{"cert missing", TLSFiles{KeyFile: key}},
		{"CA only", TLSFiles{ClientCAFile: cert}},
		{"unreadable cert", TLSFiles{CertFile: filepath.Join(dir, "nope"), KeyFile: key}},
		{"mismatched pair", TLSFiles{CertFile: key, KeyFile: cert}},
		{"CA without PEM", TLSFiles{CertFile: cert, KeyFile: key, ClientCAFile: garbage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Options{Reader: &fakeReader{}, TLS: tc.files}, nil, nil); err == nil {
				t.Error("New() succeeded, want a TLS error")
			}
		})
	}
}

func TestKeyPairReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	c1, k1 := ca.issue(t, "one", 101, true)
	certFile, keyFile := writeFile(t, dir, "tls.crt", c1), writeFile(t, dir, "tls.key", k1)
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.load(); err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		t.Helper()
		kp.mu.Lock()
		kp.checked = time.Time{} // skip the once-a-second throttle
		kp.mu.Unlock()
		c, err := kp.get()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.Int64()
	}
	if got := serial(); got != 101 {
		t.Fatalf("serial = %d, want 101", got)
	}
	// Rotate: new pair, newer modification times.
	c2, k2 := ca.issue(t, "two", 102, true)
	writeFile(t, dir, "tls.crt", c2)
	writeFile(t, dir, "tls.key", k2)
	later := time.Now().Add(time.Minute)
	for _, p := range []string{certFile, keyFile} {
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := serial(); got != 102 {
		t.Errorf("serial after rotation = %d, want 102", got)
	}
	// A broken rotation keeps serving the last good pair.
	writeFile(t, dir, "tls.key", []byte("garbage"))
	evenLater := later.Add(time.Minute)
	if err := os.Chtimes(keyFile, evenLater, evenLater); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != 102 {
		t.Errorf("serial after broken rotation = %d, want 102 (kept)", got)
	}
}
