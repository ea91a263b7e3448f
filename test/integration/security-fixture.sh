#!/usr/bin/env bash
# CTest fixture: a local control plane for the security tests (test_tls,
# the operator part of test_secrets.sh).  Besides its normal serving
# certificate (which the harness's own readiness probe checks) the real
# kube-apiserver serves, through --tls-sni-cert-key, an EXPIRED certificate
# signed by the cluster's own CA for the name expired.kclient.test: a client
# that sends that server name (tls-server-name) meets a certificate that is
# right in every way but its dates.
#   security-fixture.sh up DIR | down DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
action=$1 dir=$2
case $action in
up)
	mkdir -p "$dir"
	if [ ! -s "$dir/ca.key" ]; then # let the harness make its PKI (CA, tokens) first
		"$top/test/local-cluster" start "$dir" >/dev/null
		"$top/test/local-cluster" stop "$dir" >/dev/null
	fi
	tls=$dir/expired-tls
	if [ ! -s "$tls/expired.crt" ] || ! openssl verify -no_check_time -CAfile "$dir/ca.crt" "$tls/expired.crt" >/dev/null 2>&1; then
		rm -rf "$tls"
		mkdir -p "$tls"
		: >"$tls/index.txt"
		echo 1000 >"$tls/serial"
		cat >"$tls/ca.cnf" <<CNF
[ca]
default_ca = fixture
[fixture]
database = $tls/index.txt
new_certs_dir = $tls
serial = $tls/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:expired.kclient.test
CNF
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/expired.key" 2>/dev/null
		chmod 600 "$tls/expired.key"
		openssl req -new -key "$tls/expired.key" -subj /CN=expired.kclient.test -out "$tls/expired.csr"
		# valid for one day, a year ago
		openssl ca -batch -config "$tls/ca.cnf" -extensions server -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
			-startdate "$(date -u -d '-366 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-365 days' +%Y%m%d%H%M%SZ)" \
			-in "$tls/expired.csr" -out "$tls/expired.crt" >/dev/null 2>&1
		openssl verify -no_check_time -CAfile "$dir/ca.crt" "$tls/expired.crt" >/dev/null
		! openssl verify -CAfile "$dir/ca.crt" "$tls/expired.crt" >/dev/null 2>&1 # expired indeed
	fi
	exec "$here/cluster-fixture.sh" up "$dir" \
		"--tls-sni-cert-key=$tls/expired.crt,$tls/expired.key:expired.kclient.test"
	;;
down)
	"$top/test/local-cluster" stop "$dir" || true
	;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
