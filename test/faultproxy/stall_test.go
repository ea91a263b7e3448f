package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// One connection stalls, the others keep passing; unstall resets it.
func TestStallOne(t *testing.T) {
	p, addr, s := startProxy(t)
	c1, r1 := dial(t, addr)
	if _, err := roundTrip(c1, r1, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	c2, r2 := dial(t, addr)
	if _, err := roundTrip(c2, r2, "b", time.Second); err != nil {
		t.Fatal(err)
	}
	c3, r3 := dial(t, addr)
	if _, err := roundTrip(c3, r3, "c", time.Second); err != nil {
		t.Fatal(err)
	}
	waitActive(t, p, 3)
	ctl(t, s, "/stall?conn=2")
	if _, err := roundTrip(c2, r2, "stalled", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("stalled conn: want a timeout, got %v", err)
	}
	for i := 0; i < 5; i++ {
		if got, err := roundTrip(c1, r1, "one", time.Second); err != nil || got != "one" {
			t.Fatalf("conn 1 during the stall: %q %v", got, err)
		}
		if got, err := roundTrip(c3, r3, "three", time.Second); err != nil || got != "three" {
			t.Fatalf("conn 3 during the stall: %q %v", got, err)
		}
	}
	st := p.status()
	if st.StalledConns != 1 || st.ActiveConns != 3 || st.Mode != "pass" || st.PeakActive != 3 {
		t.Fatalf("status %+v", st)
	}
	var list []connInfo
	if err := json.Unmarshal([]byte(ctl(t, s, "/conns")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != 1 || !list[1].Stalled || list[1].ID != 2 || list[0].Stalled ||
		list[0].BytesDown == 0 || list[0].BytesUp == 0 {
		t.Fatalf("conns %+v", list)
	}
	// Bytes sent into the stall are dropped, not delivered later.
	ctl(t, s, "/unstall?conn=2")
	c2.SetDeadline(time.Now().Add(time.Second))
	if line, err := r2.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("unstalled conn not reset: %q %v", line, err)
	}
	if got, err := roundTrip(c1, r1, "after", time.Second); err != nil || got != "after" {
		t.Fatalf("conn 1 after unstall: %q %v", got, err)
	}
	waitActive(t, p, 2)
	if st := p.status(); st.StalledConns != 0 || st.Cuts != 1 {
		t.Fatalf("status %+v", st)
	}
}

// stall?conn=next stalls the next connection from its first byte; newest
// picks the latest open one; a number not yet accepted is armed.
func TestStallNextNewestArmed(t *testing.T) {
	p, addr, s := startProxy(t)
	c1, r1 := dial(t, addr)
	if _, err := roundTrip(c1, r1, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	out := ctl(t, s, "/stall?conn=next")
	if !strings.Contains(out, `"stalls_armed":1`) {
		t.Fatalf("status %s", out)
	}
	c2, r2 := dial(t, addr)
	if _, err := roundTrip(c2, r2, "x", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("next conn: want a timeout, got %v", err)
	}
	c3, r3 := dial(t, addr) // not stalled: only one was asked for
	if got, err := roundTrip(c3, r3, "y", time.Second); err != nil || got != "y" {
		t.Fatalf("conn after the stalled one: %q %v", got, err)
	}
	ctl(t, s, "/stall?conn=newest") // conn 3
	if _, err := roundTrip(c3, r3, "z", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("newest conn: want a timeout, got %v", err)
	}
	ctl(t, s, "/stall?conn=5") // not accepted yet: armed
	c4, r4 := dial(t, addr)
	if got, err := roundTrip(c4, r4, "four", time.Second); err != nil || got != "four" {
		t.Fatalf("conn 4: %q %v", got, err)
	}
	c5, r5 := dial(t, addr)
	if _, err := roundTrip(c5, r5, "five", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("conn 5 (armed): want a timeout, got %v", err)
	}
	if got, err := roundTrip(c1, r1, "still", time.Second); err != nil || got != "still" {
		t.Fatalf("conn 1: %q %v", got, err)
	}
	if st := p.status(); st.StalledConns != 3 || st.StallsArmed != 0 {
		t.Fatalf("status %+v", st)
	}
	ctl(t, s, "/unstall?conn=all")
	waitActive(t, p, 2)
	// a client closing a stalled connection ends it
	ctl(t, s, "/stall?conn=4")
	c4.Close()
	waitActive(t, p, 1)
	if st := p.status(); st.ClosedConns != 4 || st.PeakActive != 5 {
		t.Fatalf("status %+v", st)
	}
	ctl(t, s, "/reset-peak")
	if st := p.status(); st.PeakActive != 1 {
		t.Fatalf("peak after reset %+v", st)
	}
}

func TestStallErrors(t *testing.T) {
	_, _, s := startProxy(t)
	for _, q := range []string{"/stall?conn=bogus", "/stall?conn=0", "/stall?conn=newest", "/unstall?conn=x"} {
		resp, err := s.Client().Get(s.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: status %d", q, resp.StatusCode)
		}
	}
}

// The upstream ending a connection first is counted (a server's GOAWAY and
// close, as opposed to the client hanging up).
func TestUpstreamClosedCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("bye\n"))
			c.Close()
		}
	}()
	p := newProxy(ln.Addr().String())
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	var stopping atomic.Bool
	go p.serve(pl, &stopping)
	c, r := dial(t, pl.Addr().String())
	c.SetDeadline(time.Now().Add(time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "bye\n" {
		t.Fatalf("%q %v", line, err)
	}
	// the upstream's end is passed on (half-close); the proxy ends the
	// connection when the client hangs up too
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("upstream's close not passed on: %v", err)
	}
	if st := p.status(); st.UpstreamClosed != 1 {
		t.Fatalf("status %+v", st)
	}
	c.Close()
	waitActive(t, p, 0)
	if st := p.status(); st.UpstreamClosed != 1 || st.ClosedConns != 1 {
		t.Fatalf("status %+v", st)
	}
}
