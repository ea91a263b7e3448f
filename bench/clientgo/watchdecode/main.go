// watchdecode: client-go's watch decoding path on a recorded stream, no
// network: the dynamic client's Watch reads the file's bytes as the response
// body (a RoundTripper that answers from memory), so frames, WatchEvent and
// unstructured decoding are exactly what an informer's reflector runs.
//
//	watchdecode --file STREAM [--min-cpu 2]
//
// Repeats until --min-cpu seconds of process CPU time (every thread, GC
// included) are spent; prints events per CPU-second as one JSON line.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"kclient.io/bench/clientgo/internal/usage"
)

type fromMemory struct{ body []byte }

func (f fromMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": []string{"application/json"}},
		Body:    io.NopCloser(bytes.NewReader(f.body)),
		Request: req,
	}, nil
}

func main() {
	file := flag.String("file", "", "recorded watch stream (one JSON event per line)")
	minCPU := flag.Float64("min-cpu", 2, "CPU seconds to spend at least")
	cpuprofile := flag.String("cpuprofile", "", "write a pprof CPU profile here")
	flag.Parse()
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchdecode:", err)
		os.Exit(2)
	}
	cfg := &rest.Config{Host: "http://recorded.invalid", Transport: fromMemory{data}, QPS: -1}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchdecode:", err)
		os.Exit(2)
	}
	gvr := schema.GroupVersionResource{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Resource: "podgroups"}
	ri := dc.Resource(gvr).Namespace("bench")
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	u0 := usage.Self()
	var perPass, total int64
	passes := 0
	byType := map[string]int64{}
	for {
		w, err := ri.Watch(context.Background(), metav1.ListOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "watchdecode:", err)
			os.Exit(1)
		}
		var n int64
		for ev := range w.ResultChan() {
			n++
			if passes == 0 {
				byType[string(ev.Type)]++
			}
		}
		w.Stop()
		if passes == 0 {
			perPass = n
		}
		total += n
		passes++
		if usage.Self().CPUS-u0.CPUS >= *minCPU {
			break
		}
	}
	u1 := usage.Self()
	cpu := u1.CPUS - u0.CPUS
	out, _ := json.Marshal(map[string]any{
		"client": "client-go-decoder", "stream_bytes": len(data), "events_per_pass": perPass,
		"by_type": byType, "passes": passes, "cpu_s": cpu, "events_per_cpu_s": float64(total) / cpu,
		"mib_per_cpu_s": float64(len(data)) * float64(passes) / cpu / 1048576, "maxrss_kib": u1.MaxRSSKiB,
	})
	fmt.Println(string(out))
}
