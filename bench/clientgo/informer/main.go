// informer: a client-go dynamic informer caching every PodGroup of a
// namespace, measured while the objects are created and modified.
//
//	informer --kubeconfig FILE -n NS --expect E [--ready-file F] [--timeout 300s]
//
// Starts the informer, waits for its cache to sync, then writes the ready
// file (the driver starts creating and patching objects only then) and
// counts the events its handler receives until E have arrived.  Reports
// events per CPU-second of the whole process over that phase (getrusage:
// every thread, GC included), and the memory with the objects cached:
// VmRSS after a GC and peak RSS (ru_maxrss).  One JSON line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"kclient.io/bench/clientgo/internal/usage"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	ns := flag.String("n", "default", "namespace")
	expect := flag.Int64("expect", 0, "events to wait for after the cache synced")
	ready := flag.String("ready-file", "", "file to create once the cache synced")
	timeout := flag.Duration("timeout", 300*time.Second, "give up waiting after this long")
	flag.Parse()
	if *expect <= 0 {
		fmt.Fprintln(os.Stderr, "usage: informer --kubeconfig FILE -n NS --expect E [--ready-file F] [--timeout D]")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "informer:", err)
		os.Exit(2)
	}
	cfg.QPS = -1
	cfg.UserAgent = "kclient-bench/client-go-informer"
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "informer:", err)
		os.Exit(2)
	}
	gvr := schema.GroupVersionResource{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Resource: "podgroups"}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dc, 0, *ns, nil)
	inf := factory.ForResource(gvr).Informer()
	var adds, updates, deletes atomic.Int64
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { adds.Add(1) },
		UpdateFunc: func(any, any) { updates.Add(1) },
		DeleteFunc: func(any) { deletes.Add(1) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "informer:", err)
		os.Exit(2)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		fmt.Fprintln(os.Stderr, "informer: cache did not sync")
		os.Exit(1)
	}
	total := func() int64 { return adds.Load() + updates.Load() + deletes.Load() }
	initial := total()
	u0, t0 := usage.Self(), time.Now()
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte("synced\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "informer:", err)
			os.Exit(2)
		}
	}
	deadline := t0.Add(*timeout)
	for total()-initial < *expect && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	u1, t1 := usage.Self(), time.Now()
	events := total() - initial
	cpu := u1.CPUS - u0.CPUS
	time.Sleep(500 * time.Millisecond) // let stragglers land before measuring memory
	runtime.GC()
	mem := usage.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cached := len(inf.GetStore().ListKeys())
	out, _ := json.Marshal(map[string]any{
		"client": "client-go-informer", "expected": *expect, "events": events,
		"adds": adds.Load(), "updates": updates.Load(), "deletes": deletes.Load(),
		"phase_wall_s": t1.Sub(t0).Seconds(), "phase_cpu_s": cpu,
		"events_per_cpu_s": float64(events) / cpu, "cached": cached, "rss_kib": mem.RSSKiB, "anon_kib": mem.AnonKiB, "maxrss_kib": u1.MaxRSSKiB, "complete": events >= *expect,
		"go_heap_inuse_kib": ms.HeapInuse / 1024,
	})
	fmt.Println(string(out))
	close(stop)
	if events < *expect {
		os.Exit(1)
	}
}
