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
//	/stall?conn=N|next|newest       stall one connection: it stops forwarding both ways
//	                                (bytes read are dropped) while every other connection
//	                                passes; N is the accept order (1 = first), "next" the
//	                                next one accepted, "newest" the latest one still open
//	/unstall?conn=N|all             reset (RST) stalled connections: never revived
//	/conns                          the open connections: id, stalled, bytes each way, age
//	/reset-peak                     peak_active_conns := active_conns
//	/status                         {"mode","latency_ms","active_conns","total_conns","cuts",
//	                                 "peak_active_conns","stalled_conns","stalls_total","stalls_armed",
//	                                 "closed_conns","upstream_closed"}
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
	"sort"
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

	peakActive     int            // guarded by mu: most connections open at once (since start or /reset-peak)
	stallNext      int            // guarded by mu: connections still to be stalled as soon as accepted
	stallIDs       map[int64]bool // guarded by mu: accept numbers to stall when accepted
	closedConns    atomic.Int64   // connections ended (either side, or by the proxy)
	stallsTotal    atomic.Int64   // connections ever stalled (open or since closed)
	upstreamClosed atomic.Int64   // connections the upstream ended first (EOF or error from it)
}

// conn is one proxied client connection (and its upstream, if dialled).
type conn struct {
	p          *proxy
	client     net.Conn
	up         net.Conn // guarded by p.mu; nil until dialled (never dialled if black-holed from the start)
	closed     bool     // guarded by p.mu
	blackholed atomic.Bool
	stalled    atomic.Bool // blackholed by /stall (one connection), not by the mode
	closeOnce  sync.Once
	done       chan struct{}

	id        int64 // accept order, 1-based
	accepted  time.Time
	bytesUp   atomic.Int64 // client -> upstream, forwarded
	bytesDown atomic.Int64 // upstream -> client, forwarded
	firstEnd  atomic.Int32 // 0 open, 1 the client ended first, 2 the upstream did
}

func (c *conn) close(reset bool) {
	c.closeOnce.Do(func() {
		c.p.mu.Lock()
		c.closed = true
		up := c.up
		delete(c.p.conns, c)
		c.p.mu.Unlock()
		c.p.closedConns.Add(1)
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
			if dst == c.client {
				c.bytesDown.Add(int64(len(ch.data)))
			} else {
				c.bytesUp.Add(int64(len(ch.data)))
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
			who := int32(1)
			if src != c.client {
				who = 2
			}
			if c.firstEnd.CompareAndSwap(0, who) && who == 2 {
				c.p.upstreamClosed.Add(1)
			}
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

// handle runs one accepted connection; id is its accept number (given in
// the accept loop, so that numbers follow the order of accepts).
func (p *proxy) handle(client net.Conn, id int64) {
	c := &conn{p: p, client: client, done: make(chan struct{}), id: id, accepted: time.Now()}

	p.mu.Lock()
	mode := p.mode
	if mode == modeCut {
		p.mu.Unlock()
		p.cuts.Add(1)
		c.close(true)
		return
	}
	p.conns[c] = struct{}{}
	if len(p.conns) > p.peakActive {
		p.peakActive = len(p.conns)
	}
	if mode == modeBlackhole {
		c.blackholed.Store(true)
	}
	stall := false
	if p.stallNext > 0 {
		p.stallNext--
		stall = true
	}
	if p.stallIDs[id] {
		delete(p.stallIDs, id)
		stall = true
	}
	p.mu.Unlock()
	if stall {
		// Stalled from its first byte: dialled, so that the connection looks
		// established to the client, but nothing is forwarded either way.
		c.stalled.Store(true)
		c.blackholed.Store(true)
		p.stallsTotal.Add(1)
		log.Printf("conn %d stalled at accept", id)
	}

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
		// Black-holed connections are never revived: close them (stalled
		// ones too: a stall is a black hole for one connection).
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
	Mode           string `json:"mode"`
	LatencyMS      int    `json:"latency_ms"`
	ActiveConns    int    `json:"active_conns"`
	TotalConns     int64  `json:"total_conns"`
	Cuts           int64  `json:"cuts"`
	PeakActive     int    `json:"peak_active_conns"`
	StalledConns   int    `json:"stalled_conns"`
	StallsTotal    int64  `json:"stalls_total"`
	StallsArmed    int    `json:"stalls_armed"`
	ClosedConns    int64  `json:"closed_conns"`
	UpstreamClosed int64  `json:"upstream_closed"`
}

func (p *proxy) status() status {
	p.mu.Lock()
	defer p.mu.Unlock()
	stalled := 0
	for c := range p.conns {
		if c.stalled.Load() {
			stalled++
		}
	}
	return status{
		Mode:           p.mode,
		LatencyMS:      p.latencyMS,
		ActiveConns:    len(p.conns),
		TotalConns:     p.totalConns.Load(),
		Cuts:           p.cuts.Load(),
		PeakActive:     p.peakActive,
		StalledConns:   stalled,
		StallsTotal:    p.stallsTotal.Load(),
		StallsArmed:    p.stallNext + len(p.stallIDs),
		ClosedConns:    p.closedConns.Load(),
		UpstreamClosed: p.upstreamClosed.Load(),
	}
}

type connInfo struct {
	ID        int64 `json:"id"`
	Stalled   bool  `json:"stalled"`
	BytesUp   int64 `json:"bytes_up"`
	BytesDown int64 `json:"bytes_down"`
	AgeMS     int64 `json:"age_ms"`
}

// conns lists the open connections in accept order.
func (p *proxy) connList() []connInfo {
	cs := p.snapshot()
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	out := make([]connInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, connInfo{ID: c.id, Stalled: c.stalled.Load(), BytesUp: c.bytesUp.Load(),
			BytesDown: c.bytesDown.Load(), AgeMS: time.Since(c.accepted).Milliseconds()})
	}
	return out
}

// stall stops one connection (by accept number, "newest" open, or "next" to
// be accepted); the others keep passing.
func (p *proxy) stall(which string) error {
	switch which {
	case "next":
		p.mu.Lock()
		p.stallNext++
		p.mu.Unlock()
		log.Printf("stall armed for the next connection")
		return nil
	case "newest":
		var newest *conn
		for _, c := range p.snapshot() {
			if !c.stalled.Load() && (newest == nil || c.id > newest.id) {
				newest = c
			}
		}
		if newest == nil {
			return errors.New("no open connection to stall")
		}
		which = strconv.FormatInt(newest.id, 10)
	}
	id, err := strconv.ParseInt(which, 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("conn must be a connection number (1 = first accepted), next or newest, not %q", which)
	}
	if id > p.totalConns.Load() {
		p.mu.Lock()
		p.stallIDs[id] = true
		p.mu.Unlock()
		log.Printf("stall armed for conn %d", id)
		return nil
	}
	for _, c := range p.snapshot() {
		if c.id == id {
			c.stalled.Store(true)
			c.blackholed.Store(true)
			p.stallsTotal.Add(1)
			log.Printf("conn %d stalled", id)
			return nil
		}
	}
	return fmt.Errorf("connection %d is not open", id)
}

// unstall resets stalled connections (one, or all): like the end of a
// black hole, a stalled connection is never revived.
func (p *proxy) unstall(which string) error {
	id := int64(-1)
	if which != "all" {
		n, err := strconv.ParseInt(which, 10, 64)
		if err != nil {
			return fmt.Errorf("conn must be a connection number or all, not %q", which)
		}
		id = n
	}
	p.mu.Lock()
	if id < 0 {
		p.stallNext = 0
		p.stallIDs = map[int64]bool{}
	} else {
		delete(p.stallIDs, id)
	}
	p.mu.Unlock()
	for _, c := range p.snapshot() {
		if c.stalled.Load() && (id < 0 || c.id == id) {
			p.cuts.Add(1)
			c.close(true)
			log.Printf("conn %d unstalled (reset)", c.id)
		}
	}
	return nil
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
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		if err := p.stall(r.URL.Query().Get("conn")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeStatus(w)
	})
	mux.HandleFunc("/unstall", func(w http.ResponseWriter, r *http.Request) {
		if err := p.unstall(r.URL.Query().Get("conn")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeStatus(w)
	})
	mux.HandleFunc("/conns", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.connList())
	})
	mux.HandleFunc("/reset-peak", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.peakActive = len(p.conns)
		p.mu.Unlock()
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
		go p.handle(c, p.totalConns.Add(1))
	}
}

func newProxy(upstream string) *proxy {
	return &proxy{upstream: upstream, mode: modePass, conns: map[*conn]struct{}{}, stallIDs: map[int64]bool{}}
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
