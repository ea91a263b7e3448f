// Command fault-proxy is a plain TCP proxy with injectable faults, used by the
// test harness to simulate flaky edge links between a client and an
// apiserver. TLS passes through untouched (it only moves bytes).
//
// Usage:
//
//	fault-proxy --listen 127.0.0.1:0 --upstream HOST:PORT --control 127.0.0.1:0 --port-file FILE
//
// Control (HTTP on the control address, any method):
//
//	/mode?set=pass|cut|blackhole   change mode (returns status)
//	/latency?ms=N                   delay every chunk by N ms in each direction
//	/cut-once                       reset all current connections, stay in the current mode
//	/status                         {"mode","latency_ms","active_conns","total_conns","cuts"}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	modePass      = "pass"
	modeCut       = "cut"
	modeBlackhole = "blackhole"
)

type proxy struct {
	upstream string

	mu        sync.Mutex
	mode      string
	latencyMS int
	conns     map[*conn]struct{}

	totalConns atomic.Int64
	cuts       atomic.Int64
}

// conn is one proxied client connection (and its upstream, if dialled).
type conn struct {
	p          *proxy
	client     net.Conn
	up         net.Conn // guarded by p.mu; nil until dialled (never dialled if black-holed from the start)
	closed     bool     // guarded by p.mu
	blackholed atomic.Bool
	closeOnce  sync.Once
	done       chan struct{}
}

func (c *conn) close(reset bool) {
	c.closeOnce.Do(func() {
		c.p.mu.Lock()
		c.closed = true
		up := c.up
		delete(c.p.conns, c)
		c.p.mu.Unlock()
		for _, nc := range []net.Conn{c.client, up} {
			if nc == nil {
				continue
			}
			if tc, ok := nc.(*net.TCPConn); ok && reset {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			_ = nc.Close()
		}
		close(c.done)
	})
}

func (p *proxy) latency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.latencyMS) * time.Millisecond
}

type chunk struct {
	data []byte
	due  time.Time
	eof  bool
}

// pipe copies src -> dst, delaying each chunk by the latency in effect when
// it was read, keeping order. While the connection is black-holed, bytes read
// are dropped and nothing is written.
func (c *conn) pipe(dst, src net.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	q := make(chan chunk, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for ch := range q {
			if d := time.Until(ch.due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-c.done:
					t.Stop()
					return
				}
			}
			if c.blackholed.Load() {
				continue
			}
			if ch.eof {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				return
			}
			if _, err := dst.Write(ch.data); err != nil {
				c.close(false)
				return
			}
		}
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.blackholed.Load() {
			data := make([]byte, n)
			copy(data, buf[:n])
			select {
			case q <- chunk{data: data, due: time.Now().Add(c.p.latency())}:
			case <-c.done:
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && c.blackholed.Load() && src == c.client {
				// The client went away from a black-holed connection.
				c.close(false)
			} else if errors.Is(err, io.EOF) && !c.blackholed.Load() {
				select {
				case q <- chunk{eof: true, due: time.Now().Add(c.p.latency())}:
				case <-c.done:
				}
			} else if !errors.Is(err, io.EOF) {
				c.close(false)
			}
			close(q)
			<-writerDone
			return
		}
	}
}

func (p *proxy) handle(client net.Conn) {
	p.totalConns.Add(1)
	c := &conn{p: p, client: client, done: make(chan struct{})}

	p.mu.Lock()
	mode := p.mode
	if mode == modeCut {
		p.mu.Unlock()
		p.cuts.Add(1)
		c.close(true)
		return
	}
	p.conns[c] = struct{}{}
	if mode == modeBlackhole {
		c.blackholed.Store(true)
	}
	p.mu.Unlock()

	if mode == modeBlackhole {
		// Accept, read and drop, never answer, never close (until the mode
		// changes away from blackhole or the client goes away).
		_, _ = io.Copy(io.Discard, client)
		c.close(false)
		return
	}

	up, err := net.DialTimeout("tcp", p.upstream, 10*time.Second)
	if err != nil {
		log.Printf("dial upstream %s: %v", p.upstream, err)
		c.close(true)
		return
	}
	p.mu.Lock()
	if c.closed { // cut while dialling
		p.mu.Unlock()
		_ = up.Close()
		return
	}
	c.up = up
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go c.pipe(up, client, &wg)
	go c.pipe(client, up, &wg)
	wg.Wait()
	c.close(false)
}

// snapshot returns the current connections.
func (p *proxy) snapshot() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	return out
}

func (p *proxy) cutAll() {
	for _, c := range p.snapshot() {
		p.cuts.Add(1)
		c.close(true)
	}
}

func (p *proxy) setMode(m string) error {
	switch m {
	case modePass, modeCut, modeBlackhole:
	default:
		return fmt.Errorf("unknown mode %q (want pass, cut or blackhole)", m)
	}
	p.mu.Lock()
	old := p.mode
	p.mode = m
	p.mu.Unlock()
	switch m {
	case modeCut:
		p.cutAll()
	case modeBlackhole:
		for _, c := range p.snapshot() {
			c.blackholed.Store(true)
		}
	}
	if old == modeBlackhole && m != modeBlackhole {
		// Black-holed connections are never revived: close them.
		for _, c := range p.snapshot() {
			if c.blackholed.Load() {
				p.cuts.Add(1)
				c.close(true)
			}
		}
	}
	log.Printf("mode %s -> %s", old, m)
	return nil
}

type status struct {
	Mode        string `json:"mode"`
	LatencyMS   int    `json:"latency_ms"`
	ActiveConns int    `json:"active_conns"`
	TotalConns  int64  `json:"total_conns"`
	Cuts        int64  `json:"cuts"`
}

func (p *proxy) status() status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return status{
		Mode:        p.mode,
		LatencyMS:   p.latencyMS,
		ActiveConns: len(p.conns),
		TotalConns:  p.totalConns.Load(),
		Cuts:        p.cuts.Load(),
	}
}

func (p *proxy) controlHandler() http.Handler {
	mux := http.NewServeMux()
	writeStatus := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.status())
	}
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) { writeStatus(w) })
	mux.HandleFunc("/mode", func(w http.ResponseWriter, r *http.Request) {
		if m := r.URL.Query().Get("set"); m != "" {
			if err := p.setMode(m); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		writeStatus(w)
	})
	mux.HandleFunc("/latency", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("ms"); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms < 0 {
				http.Error(w, "ms must be a non-negative integer", http.StatusBadRequest)
				return
			}
			p.mu.Lock()
			p.latencyMS = ms
			p.mu.Unlock()
			log.Printf("latency %d ms", ms)
		}
		writeStatus(w)
	})
	mux.HandleFunc("/cut-once", func(w http.ResponseWriter, r *http.Request) {
		p.cutAll()
		log.Printf("cut-once")
		writeStatus(w)
	})
	return mux
}

// serve accepts connections on ln until it is closed.
func (p *proxy) serve(ln net.Listener, stopping *atomic.Bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go p.handle(c)
	}
}

func newProxy(upstream string) *proxy {
	return &proxy{upstream: upstream, mode: modePass, conns: map[*conn]struct{}{}}
}

func writePortFile(path string, listen, control int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fault-proxy-ports-*")
	if err != nil {
		return err
	}
	fmt.Fprintf(tmp, "listen=%d\ncontrol=%d\n", listen, control)
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func main() {
	listenAddr := flag.String("listen", "127.0.0.1:0", "address to accept proxied connections on")
	upstream := flag.String("upstream", "", "HOST:PORT to forward to (required)")
	controlAddr := flag.String("control", "127.0.0.1:0", "address of the HTTP control endpoint")
	portFile := flag.String("port-file", "", "write listen=PORT and control=PORT here once both listeners are up")
	mode := flag.String("mode", modePass, "initial mode: pass, cut or blackhole")
	latencyMS := flag.Int("latency-ms", 0, "initial latency in ms")
	flag.Parse()
	log.SetPrefix("fault-proxy: ")
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "fault-proxy: --upstream is required")
		os.Exit(2)
	}

	p := newProxy(*upstream)
	p.latencyMS = *latencyMS
	if err := p.setMode(*mode); err != nil {
		fmt.Fprintln(os.Stderr, "fault-proxy:", err)
		os.Exit(2)
	}

	ln, err := net.Listen("tcp", *listenAddr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	cln, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		log.Fatalf("control listen: %v", err)
	}
	srv := &http.Server{Handler: p.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(cln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("control server: %v", err)
		}
	}()

	lport := ln.Addr().(*net.TCPAddr).Port
	cport := cln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := writePortFile(*portFile, lport, cport); err != nil {
			log.Fatalf("port file: %v", err)
		}
	}
	log.Printf("listening on %s -> %s, control on %s", ln.Addr(), *upstream, cln.Addr())

	var stopping atomic.Bool
	go p.serve(ln, &stopping)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	log.Printf("got %s, exiting", s)
	stopping.Store(true)
	_ = ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	for _, c := range p.snapshot() {
		c.close(false)
	}
}
