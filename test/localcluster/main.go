// Command localcluster runs a real kube-apiserver with an embedded etcd in one
// process, for tests and demos. It is driven by the test/local-cluster script.
//
//	localcluster run --dir DIR [--port PORT] [-- kube-apiserver flags...]
//	localcluster status --dir DIR
//	localcluster compact --dir DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // as kube-apiserver's own main: timeZone support in CronJob

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/grpclog"
	_ "k8s.io/component-base/logs/json/register"          // as kube-apiserver's own main
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as kube-apiserver's own main
	_ "k8s.io/component-base/metrics/prometheus/version"  // as kube-apiserver's own main
)

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  localcluster run --dir DIR [--port PORT] [-- kube-apiserver flags...]
  localcluster status --dir DIR
  localcluster compact --dir DIR`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		os.Exit(cmdRun(os.Args[2:]))
	case "status":
		os.Exit(cmdStatus(os.Args[2:]))
	case "compact":
		os.Exit(cmdCompact(os.Args[2:]))
	default:
		usage()
		os.Exit(2)
	}
}

func dirArg(name string, args []string) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory")
	if err := fs.Parse(args); err != nil || *dir == "" {
		fmt.Fprintf(os.Stderr, "%s: --dir DIR is required\n", name)
		return "", false
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return "", false
	}
	return abs, true
}

// cmdStatus exits 0 when DIR's control plane answers /readyz with "ok" and
// its bootstrap is done.
func cmdStatus(args []string) int {
	dir, ok := dirArg("status", args)
	if !ok {
		return 2
	}
	b, err := os.ReadFile(filepath.Join(dir, "port"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "status: no port file:", err)
		return 1
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "status: bad port file")
		return 1
	}
	if !exists(filepath.Join(dir, readyFile)) {
		fmt.Fprintln(os.Stderr, "status: not bootstrapped (no", filepath.Join(dir, readyFile)+")")
		return 1
	}
	if err := readyz(dir, port, 3*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "status:", err)
		return 1
	}
	fmt.Printf("ready https://127.0.0.1:%d\n", port)
	return 0
}

// cmdCompact compacts etcd at its current revision, so any older
// resourceVersion is gone (a watch from it gets 410 Gone when the watch cache
// does not serve it).
func cmdCompact(args []string) int {
	dir, ok := dirArg("compact", args)
	if !ok {
		return 2
	}
	// Quiet gRPC's connection chatter (e.g. a dial cancelled by Close).
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr))
	b, err := os.ReadFile(filepath.Join(dir, "etcd-endpoint"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compact: no etcd-endpoint file:", err)
		return 1
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{strings.TrimSpace(string(b))},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "compact:", err)
		return 1
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "compact_rev_key")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compact: get revision:", err)
		return 1
	}
	rev := resp.Header.Revision
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		fmt.Fprintln(os.Stderr, "compact:", err)
		return 1
	}
	fmt.Printf("compacted at revision %d\n", rev)
	return 0
}
