#!/bin/sh
# A client-go credential plugin for tests.
#   $1  counter file: holds how many times the plugin ran
#   $2  mode (below); cert mode takes the cert and key files as $3 and $4
#   $KC_TEST_INFO_OUT  if set, $KUBERNETES_EXEC_INFO is copied there
#   $KC_TEST_API       apiVersion to answer with (default v1)
n=$(cat "$1" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$1"
if [ -n "$KC_TEST_INFO_OUT" ]; then
    printf '%s' "$KUBERNETES_EXEC_INFO" > "$KC_TEST_INFO_OUT"
fi
api=${KC_TEST_API:-client.authentication.k8s.io/v1}
emit() {
    printf '{"apiVersion":"%s","kind":"ExecCredential","status":{%s}}\n' "$api" "$1"
}
pem() { awk '{printf "%s\\n", $0}' "$1"; }
case "$2" in
future) emit "\"token\":\"exec-token-$n\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"" ;;
expired) emit "\"token\":\"exec-token-$n\",\"expirationTimestamp\":\"2000-01-01T00:00:00Z\"" ;;
noexpiry) emit "\"token\":\"exec-token-$n\"" ;;
env) emit "\"token\":\"$KC_TEST_TOKEN\"" ;;
cert) emit "\"clientCertificateData\":\"$(pem "$3")\",\"clientKeyData\":\"$(pem "$4")\"" ;;
fail)
    echo '{"status":{"token":"leaked-stdout-token"}}'
    echo "plugin: could not log in" >&2
    echo "second line" >&2
    exit 3 ;;
garbage) echo 'not json leaked-stdout-token' ;;
sleep) exec sleep 5 ;;
big) head -c 2000000 /dev/zero | tr '\0' 'a' ;;
*) echo "unknown mode $2" >&2; exit 2 ;;
esac
