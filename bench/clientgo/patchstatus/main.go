// patchstatus: the client-go peer of bench_patch_kclient.
//
//	patchstatus --kubeconfig FILE -n NS [--prefix pg-] [--patch JSON] [--names M] N C
//
// N status merge patches on PodGroups PREFIX0..PREFIX(N-1) through the
// dynamic client, C goroutines pulling names from a channel, client-side
// rate limiter off (QPS < 0).  Prints one JSON line like the C benchmarks:
// wall seconds of the patch loop, process CPU seconds and peak RSS
// (getrusage).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"kclient.io/bench/clientgo/internal/usage"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	ns := flag.String("n", "default", "namespace")
	prefix := flag.String("prefix", "pg-", "object name prefix")
	names := flag.Int("names", 0, "cycle through PREFIX0..PREFIX(M-1) (more requests than objects)")
	patch := flag.String("patch", `{"status":{"phase":"Running","running":1}}`, "merge patch")
	label := flag.String("label", "client-go", "client name in the JSON line")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: patchstatus --kubeconfig FILE -n NS [--prefix P] [--patch JSON] [--names M] N C")
		os.Exit(2)
	}
	n, err1 := strconv.Atoi(flag.Arg(0))
	conc, err2 := strconv.Atoi(flag.Arg(1))
	if err1 != nil || err2 != nil || n <= 0 || conc <= 0 {
		fmt.Fprintln(os.Stderr, "patchstatus: N and C must be positive integers")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchstatus:", err)
		os.Exit(2)
	}
	cfg.QPS = -1 // no client-side rate limiter (client-go only builds one when QPS > 0)
	cfg.UserAgent = "kclient-bench/client-go"
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchstatus:", err)
		os.Exit(2)
	}
	gvr := schema.GroupVersionResource{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Resource: "podgroups"}
	ri := dc.Resource(gvr).Namespace(*ns)
	body := []byte(*patch)

	jobs := make(chan string, n)
	for i := 0; i < n; i++ {
		j := i
		if *names > 0 {
			j = i % *names
		}
		jobs <- *prefix + strconv.Itoa(j)
	}
	close(jobs)
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				_, err := ri.Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, name+": "+err.Error())
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start).Seconds()
	mem := usage.Now() // with the client still alive
	u := usage.Self()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "patchstatus: %d failed, first: %s\n", failed.Load(), e)
	}
	out, _ := json.Marshal(map[string]any{
		"client": *label, "n": n, "concurrency": conc, "ok": ok.Load(), "failed": failed.Load(),
		"wall_s": wall, "cpu_s": u.CPUS, "user_s": u.UserS, "sys_s": u.SysS, "maxrss_kib": u.MaxRSSKiB,
		"rss_kib": mem.RSSKiB, "anon_kib": mem.AnonKiB,
	})
	fmt.Println(string(out))
}
