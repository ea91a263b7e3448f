package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of the generated PKI, relative to DIR.
const (
	caCert         = "ca.crt"
	caKey          = "ca.key"
	servingCert    = "apiserver.crt"
	servingKey     = "apiserver.key"
	clientCACert   = "client-ca.crt"
	clientCAKey    = "client-ca.key"
	certUserCert   = "certuser.crt"
	certUserKey    = "certuser.key"
	saKey          = "sa.key"
	saPub          = "sa.pub"
	tokenFile      = "tokens.csv"
	validityPeriod = 10 * 365 * 24 * time.Hour
)

// users with static tokens: name -> groups.
var tokenUsers = []struct {
	name   string
	groups []string
}{
	{"admin", []string{"system:masters"}},
	{"limited", []string{"kclient:limited", "system:authenticated"}},
	{"writer", []string{"kclient:writer", "system:authenticated"}},
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func newECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func keyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func loadKeyPair(certPath, keyPath string) (*keyPair, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, fmt.Errorf("bad PEM in %s or %s", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("key is not a signer")
	}
	return &keyPair{cert: cert, key: signer}, nil
}

// ensureCA loads DIR/name.crt+key or creates a new self-signed CA.
func ensureCA(dir, certName, keyName, cn string) (*keyPair, error) {
	cp, kp := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if exists(cp) && exists(kp) {
		return loadKeyPair(cp, kp)
	}
	key := newECKey()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validityPeriod),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(kp, keyPEM(key), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(cp, certPEM(der), 0o644); err != nil {
		return nil, err
	}
	return loadKeyPair(cp, kp)
}

// ensureLeaf creates a leaf certificate signed by ca unless it already exists.
func ensureLeaf(dir, certName, keyName string, ca *keyPair, tmpl *x509.Certificate) error {
	cp, kp := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if exists(cp) && exists(kp) {
		return nil
	}
	key := newECKey()
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(validityPeriod)
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(kp, keyPEM(key), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(cp, certPEM(der), 0o644)
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ensurePKI creates (once) every certificate, key and token the control
// plane and its clients need. Existing files are kept, so a restart on the
// same DIR keeps the same credentials.
func ensurePKI(dir string) error {
	ca, err := ensureCA(dir, caCert, caKey, "localcluster-ca")
	if err != nil {
		return fmt.Errorf("serving CA: %w", err)
	}
	err = ensureLeaf(dir, servingCert, servingKey, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
	})
	if err != nil {
		return fmt.Errorf("serving cert: %w", err)
	}
	cca, err := ensureCA(dir, clientCACert, clientCAKey, "localcluster-client-ca")
	if err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	err = ensureLeaf(dir, certUserCert, certUserKey, cca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "certuser", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("certuser cert: %w", err)
	}

	if !exists(filepath.Join(dir, saKey)) || !exists(filepath.Join(dir, saPub)) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, saKey),
			pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, saPub),
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return err
		}
	}

	tf := filepath.Join(dir, tokenFile)
	complete := exists(tf)
	for _, u := range tokenUsers {
		complete = complete && exists(filepath.Join(dir, u.name+".token"))
	}
	if !complete {
		var csv strings.Builder
		for _, u := range tokenUsers {
			tok := randomToken()
			if b, err := os.ReadFile(filepath.Join(dir, u.name+".token")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				tok = strings.TrimSpace(string(b))
			}
			// token,user,uid,"group1,group2"
			fmt.Fprintf(&csv, "%s,%s,%s,\"%s\"\n", tok, u.name, "uid-"+u.name, strings.Join(u.groups, ","))
			if err := writeFileAtomic(filepath.Join(dir, u.name+".token"), []byte(tok+"\n"), 0o600); err != nil {
				return err
			}
		}
		if err := writeFileAtomic(tf, []byte(csv.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func readToken(dir, user string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, user+".token"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
