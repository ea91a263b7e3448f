// Command bad-server is a TLS HTTP server (HTTP/2 and HTTP/1.1, like
// kube-apiserver) that misbehaves on demand, for kclient's hostile-input
// tests.  The first path segment after /api/v1/namespaces/ picks the
// behaviour, so a test asks for a misbehaviour with an ordinary kc_ref:
//
//	GET /api/v1/namespaces/MODE/configmaps/NAME       one object
//	GET /api/v1/namespaces/MODE/configmaps            a list
//	GET /api/v1/namespaces/MODE/configmaps?watch=true a watch stream
//
// Modes (see handle*): good, big, truncated, nonjson, notobject, empty,
// redirect, retryafter, and for watches good, noline, garbage, binary,
// badtype.  Good
// answers mimic the real server: application/json, a Status object for
// errors, Audit-Id and Cache-Control headers.  GET /stats reports what was
// asked (JSON), for the tests to check retries and resumes.
//
// At start it makes a CA and a serving certificate for 127.0.0.1, ::1 and
// localhost, writes DIR/ca.crt, then DIR/port (atomically, last: wait for
// it).  SIGTERM or SIGINT ends it.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type stats struct {
	mu sync.Mutex
	// Hits counts requests by "MODE" (GET of objects and lists) and
	// "MODE-watch" (watch streams).
	Hits map[string]int `json:"hits"`
	// WatchRVs lists the resourceVersion parameter of every watch request
	// by mode ("" when absent), in arrival order.
	WatchRVs map[string][]string `json:"watchRVs"`
	// NolineBytes is how many bytes each noline stream sent before the
	// client hung up (or the cap was reached), in order.
	NolineBytes []int64 `json:"nolineBytes"`
	// Leaks counts requests that reached /leak (followed redirects);
	// LeakedAuth those of them that carried an Authorization header.
	Leaks      int `json:"leaks"`
	LeakedAuth int `json:"leakedAuth"`
	// Unauthorized counts requests refused for a wrong or missing token.
	Unauthorized int `json:"unauthorized"`
	// RetryAfter records, per NAME of the retryafter mode, every arrival
	// (ms since the server started) and what each answer carried.
	RetryAfter map[string]*retryRecord `json:"retryAfter"`
}

// retryRecord is what the retryafter mode saw and sent for one NAME.
type retryRecord struct {
	ArrivalsMS []float64 `json:"arrivalsMs"` // ms since start, each request in order
	Methods    []string  `json:"methods"`
	Sent       []string  `json:"sent"` // per answer: "429 Retry-After=VALUE", "200", ...
}

type server struct {
	token     string
	port      int
	nolineMax int64
	start     time.Time
	st        stats
}

func (s *server) hit(key string) {
	s.st.mu.Lock()
	s.st.Hits[key]++
	s.st.mu.Unlock()
}

// ---- what the real server sends ----

func headers(w http.ResponseWriter, ctype string) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.Header().Set("Audit-Id", fmt.Sprintf("%x", time.Now().UnixNano()))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	headers(w, "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	writeJSON(w, code, map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "details": map[string]any{},
		"code": code,
	})
}

func configMap(ns, name, rv string) map[string]any {
	return map[string]any{
		"kind": "ConfigMap", "apiVersion": "v1",
		"metadata": map[string]any{"name": name, "namespace": ns, "resourceVersion": rv,
			"uid": "5f1c4e0c-0000-4000-8000-000000000001", "creationTimestamp": "2025-01-01T00:00:00Z"},
		"data": map[string]any{"k": "v"},
	}
}

func event(typ string, obj any) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "object": obj})
	return append(b, '\n')
}

// ---- routing ----

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/livez":
		headers(w, "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
		return
	case "/stats":
		s.st.mu.Lock()
		b, _ := json.Marshal(&s.st)
		s.st.mu.Unlock()
		headers(w, "application/json")
		w.Write(b)
		return
	case "/leak":
		s.st.mu.Lock()
		s.st.Leaks++
		if r.Header.Get("Authorization") != "" {
			s.st.LeakedAuth++
		}
		s.st.mu.Unlock()
		writeJSON(w, 200, configMap("leak", "leak", "1"))
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		s.st.mu.Lock()
		s.st.Unauthorized++
		s.st.mu.Unlock()
		status(w, 401, "Unauthorized", "Unauthorized")
		return
	}
	if r.URL.Path == "/version" {
		writeJSON(w, 200, map[string]any{"major": "1", "minor": "34", "gitVersion": "v1.34.4-badserver"})
		return
	}
	// /api/v1/namespaces/MODE/configmaps[/NAME]
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/")
	if strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/retryafter/configmaps") {
		s.retryAfter(w, r, strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/retryafter/configmaps"), "/"))
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/") || len(parts) < 2 || len(parts) > 3 ||
		parts[1] != "configmaps" || r.Method != http.MethodGet {
		status(w, 404, "NotFound", "the server could not find the requested resource")
		return
	}
	mode, name := parts[0], ""
	if len(parts) == 3 {
		name = parts[2]
	}
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		s.watch(w, r, mode)
		return
	}
	s.hit(mode)
	s.get(w, r, mode, name)
}

// ---- one-shot GETs ----

func (s *server) get(w http.ResponseWriter, r *http.Request, mode, name string) {
	switch mode {
	case "good":
		if name == "" {
			writeJSON(w, 200, map[string]any{"kind": "ConfigMapList", "apiVersion": "v1",
				"metadata": map[string]any{"resourceVersion": "7"},
				"items":    []any{configMap("good", "a", "5"), configMap("good", "b", "6")}})
			return
		}
		writeJSON(w, 200, configMap("good", name, "5"))
	case "big":
		// A valid object of (about) NAME bytes, streamed without
		// Content-Length like a large list from the real server.
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n < 200 {
			status(w, 400, "BadRequest", "big: the name is the size in bytes (>= 200)")
			return
		}
		headers(w, "application/json")
		w.WriteHeader(200)
		head := `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"big","namespace":"big"},"data":{"blob":"`
		tail := `"}}`
		if _, err := w.Write([]byte(head)); err != nil {
			return
		}
		chunk := []byte(strings.Repeat("a", 64<<10))
		for left := n - int64(len(head)+len(tail)); left > 0; left -= int64(len(chunk)) {
			c := chunk
			if left < int64(len(c)) {
				c = c[:left]
			}
			if _, err := w.Write(c); err != nil {
				return // the client hung up: fine
			}
		}
		w.Write([]byte(tail))
	case "truncated":
		// Content-Length promises 4096 bytes, 100 come, then the stream
		// is reset (HTTP/2 RST_STREAM) or the connection closed (HTTP/1.1).
		body := []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"t","namespace":"truncated"},"data":{"k":"`)
		body = append(body, []byte(strings.Repeat("v", 100-len(body)))...)
		headers(w, "application/json")
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(200)
		w.Write(body)
		w.(http.Flusher).Flush()
		time.Sleep(50 * time.Millisecond)
		panic(http.ErrAbortHandler)
	case "nonjson":
		// What a captive portal or a misrouted proxy answers.
		headers(w, "text/html; charset=utf-8")
		w.WriteHeader(200)
		w.Write([]byte("<html><head><title>Sign in</title></head><body>Proxy login required</body></html>\n"))
	case "notobject":
		headers(w, "application/json")
		w.WriteHeader(200)
		w.Write([]byte(`["not","an","object"]`))
	case "empty":
		headers(w, "application/json")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(200)
	case "redirect":
		// A redirect to somewhere else: a client must not follow it (and
		// above all not carry the bearer token there).
		w.Header().Set("Location", fmt.Sprintf("https://127.0.0.1:%d/leak", s.port))
		headers(w, "text/html; charset=utf-8")
		w.WriteHeader(http.StatusFound)
		w.Write([]byte("<a href=\"/leak\">Found</a>.\n"))
	default:
		status(w, 404, "NotFound", fmt.Sprintf("namespaces %q not found", mode))
	}
}

// ---- Retry-After as a real server cannot send it ----

// retryAfter: /api/v1/namespaces/retryafter/configmaps/NAME, any method.
// The first `times` requests for NAME (default 1) are answered `status`
// (default 429) with the header `Retry-After: <ra>` when the query has
// ra= (sent verbatim: "NaN", "garbage", "1e12", an HTTP date, ...), and
// a body that is APF's plain text, or with body=status a Status object
// whose details.retryAfterSeconds is <ras> (raw JSON text, e.g. 2 or 1e400)
// when given, without reading the request body (as APF rejects before
// any handler reads it).  Later requests get 200 and a ConfigMap (201 for
// POST), after the body has been read.
// Every arrival is timed (GET /stats, retryAfter.NAME.arrivalsMs), so a
// test measures the client's wait on the server's side.
func (s *server) retryAfter(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	s.st.mu.Lock()
	rec := s.st.RetryAfter[name]
	if rec == nil {
		rec = &retryRecord{}
		s.st.RetryAfter[name] = rec
	}
	rec.ArrivalsMS = append(rec.ArrivalsMS, float64(time.Since(s.start).Microseconds())/1000)
	rec.Methods = append(rec.Methods, r.Method)
	n := len(rec.ArrivalsMS)
	s.st.mu.Unlock()
	times := 1
	if t, err := strconv.Atoi(q.Get("times")); err == nil {
		times = t
	}
	sent := ""
	defer func() {
		s.st.mu.Lock()
		rec.Sent = append(rec.Sent, sent)
		s.st.mu.Unlock()
	}()
	if n > times {
		// a real server reads the whole body of a request it serves
		_, _ = io.Copy(io.Discard, r.Body)
		code := 200
		if r.Method == http.MethodPost {
			code = 201
		}
		sent = strconv.Itoa(code)
		writeJSON(w, code, configMap("retryafter", name, strconv.Itoa(n)))
		return
	}
	code := 429
	if c, err := strconv.Atoi(q.Get("status")); err == nil {
		code = c
	}
	sent = strconv.Itoa(code)
	if q.Has("ra") {
		// verbatim, as a broken or hostile server would send it
		w.Header()["Retry-After"] = []string{q.Get("ra")}
		sent += " Retry-After=" + q.Get("ra")
	}
	if q.Get("body") == "status" {
		details := "{}"
		if ras := q.Get("ras"); ras != "" {
			details = `{"retryAfterSeconds":` + ras + `}`
			sent += " retryAfterSeconds=" + ras
		}
		b := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",`+
			`"message":"slow down","reason":"TooManyRequests","details":%s,"code":%d}`, details, code)
		headers(w, "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(code)
		w.Write([]byte(b))
		return
	}
	// what API Priority and Fairness sends
	headers(w, "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte("Too many requests, please try again later.\n"))
}

// ---- watch streams ----

func (s *server) watch(w http.ResponseWriter, r *http.Request, mode string) {
	rv := r.URL.Query().Get("resourceVersion")
	s.st.mu.Lock()
	s.st.Hits[mode+"-watch"]++
	s.st.WatchRVs[mode] = append(s.st.WatchRVs[mode], rv)
	s.st.mu.Unlock()
	timeout := 300 * time.Second
	if t, err := strconv.Atoi(r.URL.Query().Get("timeoutSeconds")); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	f := w.(http.Flusher)
	send := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		f.Flush()
		return true
	}
	switch mode {
	case "good", "garbage", "binary", "badtype", "noline":
	default:
		status(w, 404, "NotFound", fmt.Sprintf("namespaces %q not found", mode))
		return
	}
	headers(w, "application/json")
	w.WriteHeader(200)
	f.Flush()
	switch mode {
	case "good":
		if !send(event("ADDED", configMap(mode, "w1", "5"))) {
			return
		}
	case "noline":
		// An event that never ends: the line grows until the client
		// gives up (or nolineMax bytes, then the stream ends).
		var sent int64
		defer func() {
			s.st.mu.Lock()
			s.st.NolineBytes = append(s.st.NolineBytes, sent)
			s.st.mu.Unlock()
		}()
		head := []byte(`{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"`)
		if !send(head) {
			return
		}
		sent += int64(len(head))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for sent < s.nolineMax && ctx.Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			sent += int64(len(chunk))
		}
		return
	case "garbage", "binary", "badtype":
		if rv != "" {
			// the resumed stream: say where it resumed from
			if !send(event("ADDED", configMap(mode, "resumed-from-"+rv, "6"))) {
				return
			}
			break
		}
		if !send(event("ADDED", configMap(mode, "before-"+mode, "5"))) {
			return
		}
		var bad []byte
		switch mode {
		case "garbage":
			bad = []byte("this is not JSON at all {\n")
		case "binary":
			bad = make([]byte, 512)
			rand.Read(bad)
			for i := range bad {
				if bad[i] == '\n' {
					bad[i] = 0
				}
			}
			bad[0] = 0xff // never the start of a JSON value
			bad = append(bad, '\n')
		case "badtype":
			bad = event("EXPLODED", configMap(mode, "x", "99"))
		}
		if !send(bad) {
			return
		}
		// an event after the bad line, which the client must not take
		// (it resumes from the last good one instead)
		if !send(event("ADDED", configMap(mode, "after-"+mode, "7"))) {
			return
		}
	}
	<-ctx.Done() // hold the stream open, as the real server does
}

// ---- certificates ----

func makePKI(dir string) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bad-server-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bad-server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := writeAtomic(filepath.Join(dir, "ca.crt"), caPEM); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	dir := flag.String("dir", "", "directory for ca.crt and port (required)")
	token := flag.String("token", "", "bearer token required on API paths (empty: any)")
	nolineMax := flag.Int64("noline-max", 96<<20, "bytes a noline watch sends at most")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "bad-server: --dir is required")
		os.Exit(2)
	}
	cert, err := makePKI(*dir)
	if err != nil {
		log.Fatalf("bad-server: certificates: %v", err)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("bad-server: %v", err)
	}
	s := &server{token: *token, port: l.Addr().(*net.TCPAddr).Port, nolineMax: *nolineMax,
		start: time.Now(),
		st: stats{Hits: map[string]int{}, WatchRVs: map[string][]string{},
			RetryAfter: map[string]*retryRecord{}}}
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ServeTLS(l, "", ""); err != nil && err != http.ErrServerClosed {
			log.Fatalf("bad-server: %v", err)
		}
	}()
	if err := writeAtomic(filepath.Join(*dir, "port"), []byte(fmt.Sprintf("%d\n", s.port))); err != nil {
		log.Fatalf("bad-server: %v", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
