package scaler

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSFiles names the PEM files of the gRPC server's TLS setup. All empty
// means plaintext. CertFile and KeyFile go together; ClientCAFile turns on
// mutual TLS (clients must present a certificate signed by that CA).
type TLSFiles struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
}

// Enabled reports whether any TLS file is set.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" || f.ClientCAFile != "" }

// Config builds the server's tls.Config. The key pair is re-read when
// either file's modification time changes (checked at most once a second,
// on handshakes), so a rotated certificate (cert-manager, a Secret update)
// is served without a restart. The client CA is read once.
func (f TLSFiles) Config() (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a key file")
	}
	kp := &keyPair{certFile: f.CertFile, keyFile: f.KeyFile}
	if _, err := kp.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
		NextProtos:     []string{"h2"},
	}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate found", f.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// keyPair caches a certificate and reloads it when its files change.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	stamp   [2]time.Time // modification times of cert and key at load
	checked time.Time    // last time the files were stat'ed
}

func (k *keyPair) load() (*tls.Certificate, error) {
	stamp, err := k.modTimes()
	if err != nil {
		return nil, err
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cert, k.stamp, k.checked = &c, stamp, time.Now()
	return &c, nil
}

func (k *keyPair) modTimes() ([2]time.Time, error) {
	var out [2]time.Time
	for i, p := range []string{k.certFile, k.keyFile} {
		st, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("TLS file: %w", err)
		}
		out[i] = st.ModTime()
	}
	return out, nil
}

// get returns the current certificate, reloading it if the files changed.
// A failed reload keeps serving the previous certificate.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	cur, stamp, fresh := k.cert, k.stamp, time.Since(k.checked) < time.Second
	if !fresh {
		k.checked = time.Now()
	}
	k.mu.Unlock()
	if fresh {
		return cur, nil
	}
	now, err := k.modTimes()
	if err != nil || now == stamp {
		return cur, nil
	}
	if c, err := k.load(); err == nil {
		return c, nil
	}
	return cur, nil
}
