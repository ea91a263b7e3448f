// Package usage reports the process's CPU time and memory the same way the
// C benchmarks do (getrusage), so the numbers compare.
package usage

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Usage is the whole process since it started.
type Usage struct {
	UserS, SysS, CPUS float64
	MaxRSSKiB         int64 // peak resident set size (ru_maxrss)
}

func Self() Usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{}
	}
	u := float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
	s := float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
	return Usage{UserS: u, SysS: s, CPUS: u + s, MaxRSSKiB: ru.Maxrss}
}

// Mem is the resident memory now, from /proc/self/smaps_rollup: the total
// and its anonymous part (heap, stacks: the process's own); the rest is
// file-backed (the program's text and data).
type Mem struct{ RSSKiB, AnonKiB int64 }

func Now() Mem {
	var m Mem
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			m.RSSKiB = v
		case "Anonymous:":
			m.AnonKiB = v
		}
	}
	return m
}

// CurrentRSSKiB is VmRSS from /proc/self/status (0 if unknown).
func CurrentRSSKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				v, _ := strconv.ParseInt(fields[1], 10, 64)
				return v
			}
		}
	}
	return 0
}
