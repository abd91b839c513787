#!/usr/bin/env bash
# Key material that cryptogen cannot make, created with openssl. Sourced by up.sh.
#
#  issue_verifiers ORG N   verifier1..verifierN@ORG: client identities (OU=client) signed by the
#                          org's CA, laid out exactly like cryptogen's User1 (msp/ and tls/).
#                          cryptogen only knows `Users: Count` (names User1..UserN).
#  make_chaincode_tls DIR  a small TLS CA for the orgs' chaincode servers and the client
#                          certificate the peers present (DIR/ca.crt, client.crt/key)
#  make_chaincode_server_tls DIR ORG HOST
#                          ORG's chaincode server certificate (HOST, 127.0.0.1, localhost)

# _sign_cert CA_CERT CA_KEY KEY_OUT CERT_OUT SUBJECT EXTENSIONS: new P-256 key (PKCS#8) + cert.
_sign_cert() {
  local ca_cert=$1 ca_key=$2 key=$3 cert=$4 subj=$5 ext=$6 tmp
  tmp=$(mktemp -d)
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
  openssl req -new -key "$key" -subj "$subj" -out "$tmp/csr" 2>/dev/null
  printf '%s\n' "$ext" > "$tmp/ext"
  openssl x509 -req -in "$tmp/csr" -CA "$ca_cert" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" -sha256 \
    -days 3650 -extfile "$tmp/ext" -out "$cert" 2>/dev/null
  rm -rf "$tmp"
  chmod 600 "$key"
}

issue_verifiers() {
  local org=$1 n=$2 domain dir i name user ext_sign ext_tls
  domain=$(org_domain "$org"); dir=$(org_dir "$org")
  ext_sign=$'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid'
  for i in $(seq 1 "$n"); do
    name="verifier$i@$domain"; user="$dir/users/$name"
    [ -f "$user/msp/signcerts/$name-cert.pem" ] && continue
    mkdir -p "$user/msp/"{cacerts,keystore,signcerts,tlscacerts} "$user/tls"
    cp "$dir/ca/ca.$domain-cert.pem" "$user/msp/cacerts/"
    cp "$dir/tlsca/tlsca.$domain-cert.pem" "$user/msp/tlscacerts/"
    cp "$dir/users/User1@$domain/msp/config.yaml" "$user/msp/config.yaml"   # NodeOUs
    _sign_cert "$dir/ca/ca.$domain-cert.pem" "$dir/ca/priv_sk" "$user/msp/keystore/priv_sk" \
      "$user/msp/signcerts/$name-cert.pem" "/C=US/ST=California/L=San Francisco/OU=client/CN=$name" "$ext_sign"
    ext_tls="$ext_sign"$'\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:verifier'"$i"
    cp "$dir/tlsca/tlsca.$domain-cert.pem" "$user/tls/ca.crt"
    _sign_cert "$dir/tlsca/tlsca.$domain-cert.pem" "$dir/tlsca/priv_sk" "$user/tls/client.key" \
      "$user/tls/client.crt" "/C=US/ST=California/L=San Francisco/CN=$name" "$ext_tls"
  done
}

make_chaincode_tls() {
  local d=$1
  [ -f "$d/client.crt" ] && return 0
  mkdir -p "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca.key" 2>/dev/null
  openssl req -new -x509 -key "$d/ca.key" -sha256 -days 3650 -subj "/O=trainproof/CN=trainproof-chaincode-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$d/ca.crt" 2>/dev/null
  _sign_cert "$d/ca.crt" "$d/ca.key" "$d/client.key" "$d/client.crt" "/O=trainproof/CN=peer" \
    "$_CC_TLS_BASE"$'\nextendedKeyUsage=clientAuth'
  chmod 600 "$d/ca.key"
}

make_chaincode_server_tls() {
  local d=$1 org=$2 host=$3
  [ -f "$d/$org/server.crt" ] && return 0
  mkdir -p "$d/$org"
  _sign_cert "$d/ca.crt" "$d/ca.key" "$d/$org/server.key" "$d/$org/server.crt" "/O=trainproof/CN=chaincode.$org" \
    "$_CC_TLS_BASE"$'\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,IP:'"$host"
}
_CC_TLS_BASE=$'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nauthorityKeyIdentifier=keyid'
