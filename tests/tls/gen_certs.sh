#!/bin/bash
# tests/tls/gen_certs.sh DIR -- x509 credentials for the TLS tests, made
# fresh with certtool (gnutls-bin) each run, never committed.
#
# Each DIR/NAME is a credentials directory laid out as QEMU's (ca-cert.pem,
# server-cert.pem, server-key.pem, client-cert.pem, client-key.pem):
#   good         one CA; server "rmig-dest" for localhost, 127.0.0.1 and ::1;
#                client "CN=rmig-source,O=rmig"
#   other-ca     the same names, signed by another CA (unknown to "good")
#   expired      good's CA, but the server's and client's certificates expired
#   other-client good's CA and server, client "CN=intruder,O=rmig"
#   otherhost    good's CA, the server's certificate only for "elsewhere.example"
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"

tmpl() { # NAME then template lines
	local name=$1; shift
	printf '%s\n' "$@" >"$name.tmpl"
}
key() { certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$1" 2>/dev/null; }

make_ca() { # NAME CN
	key "$1-key.pem"
	tmpl "$1" "cn = $2" "ca" "cert_signing_key" "expiration_days = 30"
	certtool --hash SHA256 --generate-self-signed --load-privkey "$1-key.pem" --template "$1.tmpl" \
		--outfile "$1-cert.pem" 2>/dev/null
}

make_cert() { # OUT CA ROLE(server|client) EXTRA-TEMPLATE-LINES...
	local out=$1 ca=$2 role=$3; shift 3
	key "$out-key.pem"
	if [[ $role == server ]]; then
		tmpl "$out" "$@" "tls_www_server" "signing_key" "encryption_key"
	else
		tmpl "$out" "$@" "tls_www_client" "signing_key"
	fi
	certtool --hash SHA256 --generate-certificate --load-privkey "$out-key.pem" --load-ca-certificate \
		"$ca-cert.pem" --load-ca-privkey "$ca-key.pem" --template "$out.tmpl" \
		--outfile "$out-cert.pem" 2>/dev/null
}

layout() { # DIR CA SERVER CLIENT
	mkdir -p "$1"
	cp "$2-cert.pem" "$1/ca-cert.pem"
	cp "$3-cert.pem" "$1/server-cert.pem"
	cp "$3-key.pem" "$1/server-key.pem"
	cp "$4-cert.pem" "$1/client-cert.pem"
	cp "$4-key.pem" "$1/client-key.pem"
}

SERVER=("cn = rmig-dest" "dns_name = localhost" "ip_address = 127.0.0.1" "ip_address = ::1"
	"expiration_days = 30")
CLIENT=("cn = rmig-source" "organization = rmig" "expiration_days = 30")

make_ca ca "rmig test CA"
make_ca ca2 "another CA"
make_cert server ca server "${SERVER[@]}"
make_cert client ca client "${CLIENT[@]}"
make_cert server2 ca2 server "${SERVER[@]}"
make_cert client2 ca2 client "${CLIENT[@]}"
make_cert intruder ca client "cn = intruder" "organization = rmig" "expiration_days = 30"
make_cert otherhost ca server "cn = elsewhere" "dns_name = elsewhere.example" \
	"expiration_days = 30"
# Expired: valid from two days ago to yesterday.
past=$(date -u -d '2 days ago' '+%Y-%m-%d %H:%M:%S')
gone=$(date -u -d '1 day ago' '+%Y-%m-%d %H:%M:%S')
make_cert oldserver ca server "cn = rmig-dest" "ip_address = 127.0.0.1" \
	"activation_date = \"$past\"" "expiration_date = \"$gone\""
make_cert oldclient ca client "cn = rmig-source" "organization = rmig" \
	"activation_date = \"$past\"" "expiration_date = \"$gone\""

layout good ca server client
# The other CA's everything: a side holding it trusts nothing "good" holds.
layout other-ca ca2 server2 client2
layout expired ca oldserver oldclient
layout other-client ca server intruder
layout otherhost ca otherhost client
# A PSK pair, and one with another key.
printf 'rmig:%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >psk.key
printf 'rmig:%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >psk-other.key
chmod 600 ./*-key.pem ./*/*-key.pem psk.key psk-other.key
echo "gen_certs: credentials in $dir"
