package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/pkg/controller/clusterroleaggregation"
)

const readyFile = "ready"

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "localcluster: "+time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// choosePort returns the requested port, else the port of the previous run of
// DIR if it is free (so kubeconfigs handed out earlier keep working), else a
// free port.
func choosePort(dir string, requested int) (int, error) {
	if requested > 0 {
		return requested, nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, "port")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && portFree(p) {
			return p, nil
		}
	}
	return freePort()
}

func startEtcd(dir string) (*embed.Etcd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "localcluster"
	cfg.Dir = filepath.Join(dir, "etcd")
	curl, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	cfg.ListenClientUrls = []url.URL{*curl}
	cfg.AdvertiseClientUrls = []url.URL{*curl}
	// A single member never talks to peers: no peer listener at all. The
	// advertised peer URL is only recorded in the member list.
	purl, _ := url.Parse("http://127.0.0.1:2380")
	cfg.ListenPeerUrls = nil
	cfg.AdvertisePeerUrls = []url.URL{*purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")} // keep apiserver.log readable
	cfg.UnsafeNoFsync = true                                  // test data; the page cache survives a process exit
	cfg.QuotaBackendBytes = 2 << 30
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", errors.New("etcd did not become ready within 60s")
	}
	return e, curl.String(), nil
}

// flagName returns the name of a --flag or --flag=value argument, or "".
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "--") || arg == "--" {
		return ""
	}
	n := strings.TrimPrefix(arg, "--")
	if i := strings.IndexByte(n, '='); i >= 0 {
		n = n[:i]
	}
	return n
}

// mergeArgs returns the defaults (as --name=value) minus those whose name
// appears in extra, followed by extra.
func mergeArgs(defaults [][2]string, extra []string) []string {
	given := map[string]bool{}
	for _, a := range extra {
		if n := flagName(a); n != "" {
			given[n] = true
		}
	}
	var out []string
	for _, d := range defaults {
		if !given[d[0]] {
			out = append(out, "--"+d[0]+"="+d[1])
		}
	}
	return append(out, extra...)
}

func apiserverArgs(dir string, port int, etcdURL string, extra []string) []string {
	p := func(f string) string { return filepath.Join(dir, f) }
	defaults := [][2]string{
		{"bind-address", "127.0.0.1"},
		{"advertise-address", "127.0.0.1"},
		{"secure-port", strconv.Itoa(port)},
		{"cert-dir", p("apiserver-certs")},
		{"tls-cert-file", p(servingCert)},
		{"tls-private-key-file", p(servingKey)},
		{"client-ca-file", p(clientCACert)},
		{"token-auth-file", p(tokenFile)},
		{"authorization-mode", "RBAC"},
		{"etcd-servers", etcdURL},
		{"service-account-issuer", "https://kubernetes.default.svc.cluster.local"},
		{"service-account-key-file", p(saPub)},
		{"service-account-signing-key-file", p(saKey)},
		{"service-cluster-ip-range", "10.96.0.0/16"},
		// The "kubernetes" Endpoints may not carry a loopback address; nothing
		// routes to the service anyway.
		{"endpoint-reconciler-type", "none"},
		{"allow-privileged", "true"},
		{"profiling", "false"},
	}
	return mergeArgs(defaults, extra)
}

func caPool(dir string) (*x509.CertPool, []byte, error) {
	ca, err := os.ReadFile(filepath.Join(dir, caCert))
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, nil, errors.New("bad CA PEM")
	}
	return pool, ca, nil
}

// readyz asks /readyz with the admin token; nil when it answers "ok".
func readyz(dir string, port int, timeout time.Duration) error {
	pool, _, err := caPool(dir)
	if err != nil {
		return err
	}
	tok, err := readToken(dir, "admin")
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/readyz", port), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("readyz: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func adminRESTConfig(dir string, port int) (*rest.Config, error) {
	_, ca, err := caPool(dir)
	if err != nil {
		return nil, err
	}
	tok, err := readToken(dir, "admin")
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", port),
		BearerToken:     tok,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		UserAgent:       "localcluster-bootstrap",
		QPS:             50,
		Burst:           100,
	}, nil
}

var bootstrapBindings = []rbacv1.ClusterRoleBinding{
	{
		ObjectMeta: metav1.ObjectMeta{Name: "kclient:limited-view", Labels: map[string]string{"kclient.io/localcluster": "bootstrap"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "limited"}},
	},
	{
		ObjectMeta: metav1.ObjectMeta{Name: "kclient:writer-cluster-admin", Labels: map[string]string{"kclient.io/localcluster": "bootstrap"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "writer"}},
	},
}

func i32(v int32) *int32 { return &v }

// The "writer" user's requests go to their own APF priority level with a
// short queue, so that in-flight limits turn a burst from "writer" into 429s
// (stock APF would mostly queue them: the global-default level holds up to
// 6 queues x 50 requests per flow). Seats of the level = ceil((
// --max-requests-inflight + --max-mutating-requests-inflight) * 100 / 345):
// 174 with the defaults, 1 with --max-requests-inflight=1
// --max-mutating-requests-inflight=1. Up to 50 more wait in one queue; the
// rest are rejected at once with 429 and Retry-After.
const writerAPFName = "kclient-writer"

var writerPriorityLevel = flowcontrolv1.PriorityLevelConfiguration{
	ObjectMeta: metav1.ObjectMeta{Name: writerAPFName, Labels: map[string]string{"kclient.io/localcluster": "bootstrap"}},
	Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
		Type: flowcontrolv1.PriorityLevelEnablementLimited,
		Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
			NominalConcurrencyShares: i32(100),
			LendablePercent:          i32(0),
			BorrowingLimitPercent:    i32(0),
			LimitResponse: flowcontrolv1.LimitResponse{
				Type: flowcontrolv1.LimitResponseTypeQueue,
				Queuing: &flowcontrolv1.QueuingConfiguration{
					Queues: 1, HandSize: 1, QueueLengthLimit: 50,
				},
			},
		},
	},
}

var writerFlowSchema = flowcontrolv1.FlowSchema{
	ObjectMeta: metav1.ObjectMeta{Name: writerAPFName, Labels: map[string]string{"kclient.io/localcluster": "bootstrap"}},
	Spec: flowcontrolv1.FlowSchemaSpec{
		PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: writerAPFName},
		MatchingPrecedence:         500,
		DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
		Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
			Subjects: []flowcontrolv1.Subject{{
				Kind: flowcontrolv1.SubjectKindUser,
				User: &flowcontrolv1.UserSubject{Name: "writer"},
			}},
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{{
				Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"},
				Namespaces: []string{"*"}, ClusterScope: true,
			}},
			NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{
				Verbs: []string{"*"}, NonResourceURLs: []string{"*"},
			}},
		}},
	},
}

// ensureWriterAPF creates or resets the writer's priority level and flow schema.
func ensureWriterAPF(ctx context.Context, cs kubernetes.Interface) error {
	pls := cs.FlowcontrolV1().PriorityLevelConfigurations()
	pl := writerPriorityLevel.DeepCopy()
	if _, err := pls.Create(ctx, pl, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		cur, err := pls.Get(ctx, pl.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec = pl.Spec
		cur.Labels = pl.Labels
		if _, err := pls.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	fss := cs.FlowcontrolV1().FlowSchemas()
	fs := writerFlowSchema.DeepCopy()
	if _, err := fss.Create(ctx, fs, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		cur, err := fss.Get(ctx, fs.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec = fs.Spec
		cur.Labels = fs.Labels
		if _, err := fss.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return nil
}

// bootstrap runs, inside the control plane process, the cluster-role
// aggregation controller (so "view", "edit", "admin" get their rules without
// a controller-manager), creates the harness' ClusterRoleBindings and the
// writer's API Priority and Fairness objects.
func bootstrap(ctx context.Context, dir string, port int) error {
	cfg, err := adminRESTConfig(dir, port)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	agg := clusterroleaggregation.NewClusterRoleAggregation(factory.Rbac().V1().ClusterRoles(), cs.RbacV1())
	factory.Start(ctx.Done())
	go agg.Run(ctx, 1)

	for _, b := range bootstrapBindings {
		b := b
		for {
			_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				var cur *rbacv1.ClusterRoleBinding
				cur, err = cs.RbacV1().ClusterRoleBindings().Get(ctx, b.Name, metav1.GetOptions{})
				if err == nil {
					cur.Subjects = b.Subjects
					cur.Labels = b.Labels
					if cur.RoleRef == b.RoleRef {
						_, err = cs.RbacV1().ClusterRoleBindings().Update(ctx, cur, metav1.UpdateOptions{})
					} else { // roleRef is immutable
						if err = cs.RbacV1().ClusterRoleBindings().Delete(ctx, b.Name, metav1.DeleteOptions{}); err == nil {
							continue
						}
					}
				}
			}
			if err == nil {
				break
			}
			logf("bootstrap: clusterrolebinding %s: %v (retrying)", b.Name, err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	for {
		err := ensureWriterAPF(ctx, cs)
		if err == nil {
			break
		}
		logf("bootstrap: APF objects for writer: %v (retrying)", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	// Wait for aggregation to fill "view" (what the limited user relies on).
	for {
		cr, err := cs.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		if err == nil && len(cr.Rules) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	dirFlag := fs.String("dir", "", "state directory (required)")
	portFlag := fs.Int("port", 0, "secure port (0: reuse the previous one if free, else pick a free one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dirFlag == "" {
		fmt.Fprintln(os.Stderr, "run: --dir is required")
		return 2
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		logf("%v", err)
		return 1
	}
	extra := fs.Args()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("%v", err)
		return 1
	}
	os.Remove(filepath.Join(dir, readyFile))

	// Creating the command installs the apiserver's SIGTERM/SIGINT handler;
	// do it first so a signal during start-up is handled too.
	cmd := app.NewAPIServerCommand()
	ctx := cmd.Context()

	t0 := time.Now()
	if err := ensurePKI(dir); err != nil {
		logf("pki: %v", err)
		return 1
	}
	port, err := choosePort(dir, *portFlag)
	if err != nil {
		logf("port: %v", err)
		return 1
	}
	if err := writeFileAtomic(filepath.Join(dir, "port"), []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	if err := writeKubeconfigs(dir, port); err != nil {
		logf("kubeconfigs: %v", err)
		return 1
	}

	etcd, etcdURL, err := startEtcd(dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer func() {
		logf("closing etcd")
		etcd.Close()
		logf("etcd closed")
	}()
	if err := writeFileAtomic(filepath.Join(dir, "etcd-endpoint"), []byte(etcdURL+"\n"), 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	logf("etcd ready at %s (data %s)", etcdURL, filepath.Join(dir, "etcd"))

	apiArgs := apiserverArgs(dir, port, etcdURL, extra)
	logf("kube-apiserver %s", strings.Join(apiArgs, " "))
	cmd.SetArgs(apiArgs)
	apiDone := make(chan int, 1)
	go func() { apiDone <- cli.Run(cmd) }()

	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	go func() {
		for {
			if err := readyz(dir, port, 2*time.Second); err == nil {
				break
			}
			select {
			case <-bctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		logf("apiserver ready on https://127.0.0.1:%d after %s; bootstrapping", port, time.Since(t0).Round(time.Millisecond))
		if err := bootstrap(bctx, dir, port); err != nil {
			if bctx.Err() == nil {
				logf("bootstrap failed: %v", err)
			}
			return
		}
		if err := writeFileAtomic(filepath.Join(dir, readyFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			logf("%v", err)
			return
		}
		logf("ready after %s", time.Since(t0).Round(time.Millisecond))
	}()

	var code int
	select {
	case code = <-apiDone:
	case err := <-etcd.Err():
		logf("etcd failed: %v", err)
		code = 1
	}
	bcancel()
	os.Remove(filepath.Join(dir, readyFile))
	klog.Flush()
	logf("kube-apiserver exited (code %d)", code)
	return code
}
