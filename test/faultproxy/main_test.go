package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes every line back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T) (*proxy, string, *httptest.Server) {
	t.Helper()
	p := newProxy(echoServer(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stopping atomic.Bool
	go p.serve(ln, &stopping)
	ctl := httptest.NewServer(p.controlHandler())
	t.Cleanup(func() {
		stopping.Store(true)
		ln.Close()
		ctl.Close()
		for _, c := range p.snapshot() {
			c.close(false)
		}
	})
	return p, ln.Addr().String(), ctl
}

func ctl(t *testing.T, s *httptest.Server, path string) string {
	t.Helper()
	resp, err := s.Client().Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string, timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimSpace(line), err
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func waitActive(t *testing.T, p *proxy, n int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if p.status().ActiveConns == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("active_conns = %d, want %d", p.status().ActiveConns, n)
}

func TestPassAndLatency(t *testing.T) {
	p, addr, s := startProxy(t)
	c, r := dial(t, addr)
	if got, err := roundTrip(c, r, "hello", time.Second); err != nil || got != "hello" {
		t.Fatalf("pass: %q %v", got, err)
	}
	ctl(t, s, "/latency?ms=150")
	start := time.Now()
	if got, err := roundTrip(c, r, "slow", 2*time.Second); err != nil || got != "slow" {
		t.Fatalf("latency: %q %v", got, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("round trip took %s, want >= 300ms (150ms each way)", d)
	}
	// Ordering is kept across many chunks.
	for i := 0; i < 20; i++ {
		io.WriteString(c, strings.Repeat("x", i)+"\n")
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	for i := 0; i < 20; i++ {
		line, err := r.ReadString('\n')
		if err != nil || line != strings.Repeat("x", i)+"\n" {
			t.Fatalf("chunk %d: %q %v", i, line, err)
		}
	}
	ctl(t, s, "/latency?ms=0")
	if st := p.status(); st.Mode != "pass" || st.TotalConns != 1 || st.ActiveConns != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestCut(t *testing.T) {
	p, addr, s := startProxy(t)
	c, r := dial(t, addr)
	if _, err := roundTrip(c, r, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	ctl(t, s, "/mode?set=cut")
	_, err := roundTrip(c, r, "b", time.Second)
	if err == nil {
		t.Fatal("existing connection survived cut")
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Logf("cut error: %v", err)
	}
	// New connections are closed right after accept.
	c2, r2 := dial(t, addr)
	if _, err := roundTrip(c2, r2, "c", time.Second); err == nil {
		t.Fatal("new connection worked in cut mode")
	}
	ctl(t, s, "/mode?set=pass")
	c3, r3 := dial(t, addr)
	if got, err := roundTrip(c3, r3, "d", time.Second); err != nil || got != "d" {
		t.Fatalf("after pass: %q %v", got, err)
	}
	if st := p.status(); st.Cuts < 2 {
		t.Fatalf("cuts = %d", st.Cuts)
	}
}

func TestBlackhole(t *testing.T) {
	p, addr, s := startProxy(t)
	c, r := dial(t, addr)
	if _, err := roundTrip(c, r, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	ctl(t, s, "/mode?set=blackhole")
	// Existing connection: writes succeed, nothing comes back, not closed.
	_, err := roundTrip(c, r, "b", 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("existing conn in blackhole: want timeout, got %v", err)
	}
	// New connection: accepted, never answered, not closed.
	c2, r2 := dial(t, addr)
	_, err = roundTrip(c2, r2, "c", 300*time.Millisecond)
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("new conn in blackhole: want timeout, got %v", err)
	}
	waitActive(t, p, 2)
	// Back to pass: black-holed connections are closed, new ones work.
	ctl(t, s, "/mode?set=pass")
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := r.ReadString('\n'); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("black-holed conn not closed after pass: %v", err)
	}
	c3, r3 := dial(t, addr)
	if got, err := roundTrip(c3, r3, "d", time.Second); err != nil || got != "d" {
		t.Fatalf("after pass: %q %v", got, err)
	}
}

func TestCutOnce(t *testing.T) {
	p, addr, s := startProxy(t)
	c, r := dial(t, addr)
	if _, err := roundTrip(c, r, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	out := ctl(t, s, "/cut-once")
	if !strings.Contains(out, `"mode":"pass"`) {
		t.Fatalf("cut-once status: %s", out)
	}
	if _, err := roundTrip(c, r, "b", time.Second); err == nil {
		t.Fatal("connection survived cut-once")
	}
	c2, r2 := dial(t, addr)
	if got, err := roundTrip(c2, r2, "c", time.Second); err != nil || got != "c" {
		t.Fatalf("after cut-once: %q %v", got, err)
	}
	if st := p.status(); st.Cuts != 1 || st.Mode != "pass" {
		t.Fatalf("status %+v", st)
	}
}

func TestBadMode(t *testing.T) {
	_, _, s := startProxy(t)
	resp, err := s.Client().Get(s.URL + "/mode?set=bogus")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
