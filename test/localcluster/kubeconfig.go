package main

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterName is the kubeconfig cluster name of a DIR: "local-" + its base name.
func clusterName(dir string) string {
	return "local-" + filepath.Base(dir)
}

// writeKubeconfigs writes every kubeconfig of DIR for the given port.
func writeKubeconfigs(dir string, port int) error {
	ca, err := os.ReadFile(filepath.Join(dir, caCert))
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(filepath.Join(dir, certUserCert))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(filepath.Join(dir, certUserKey))
	if err != nil {
		return err
	}
	tok := map[string]string{}
	for _, u := range tokenUsers {
		t, err := readToken(dir, u.name)
		if err != nil {
			return err
		}
		tok[u.name] = t
	}
	cluster := clusterName(dir)
	server := fmt.Sprintf("https://127.0.0.1:%d", port)

	files := []struct {
		file, user string
		auth       *clientcmdapi.AuthInfo
	}{
		{"kubeconfig", "admin", &clientcmdapi.AuthInfo{Token: tok["admin"]}},
		{"limited.kubeconfig", "limited", &clientcmdapi.AuthInfo{Token: tok["limited"]}},
		{"writer.kubeconfig", "writer", &clientcmdapi.AuthInfo{Token: tok["writer"]}},
		{"tokenfile.kubeconfig", "admin-tokenfile", &clientcmdapi.AuthInfo{TokenFile: filepath.Join(dir, "admin.token")}},
		{"cert.kubeconfig", "certuser", &clientcmdapi.AuthInfo{
			ClientCertificate: filepath.Join(dir, certUserCert),
			ClientKey:         filepath.Join(dir, certUserKey),
		}},
		{"cert-data.kubeconfig", "certuser-data", &clientcmdapi.AuthInfo{
			ClientCertificateData: cert,
			ClientKeyData:         key,
		}},
	}
	for _, f := range files {
		ctxName := f.user + "@" + cluster
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
		cfg.AuthInfos[f.user] = f.auth
		cfg.Contexts[ctxName] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: f.user, Namespace: "default"}
		cfg.CurrentContext = ctxName
		data, err := clientcmd.Write(*cfg)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, f.file), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
