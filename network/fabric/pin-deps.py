#!/usr/bin/env python3
"""Writes go.mod for the Fabric v2.1.1 build wrapper from Fabric's own Gopkg.lock.

Run once by a maintainer (the generated go.mod/go.sum are committed); build.sh never runs it.
  src=$(GOTOOLCHAIN=go1.21.13 go mod download -json github.com/hyperledger/fabric@v2.1.1+incompatible | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  python3 pin-deps.py "$src/Gopkg.lock" > go.mod      # then re-add the header comment
  GOTOOLCHAIN=go1.21.13 GOFLAGS=-mod=mod go mod tidy   # must print no "finding module" lines
  GOTOOLCHAIN=go1.21.13 go list -m -f '{{.Path}} {{.Version}} {{.Time}}' all | sort -k3   # all <= 2020-06

Fabric 2.1 used dep, not modules. Each Gopkg.lock project becomes one require line at its
locked `version`, or, for branch-only entries, at the pseudo-version of its locked `revision`.
The Go module proxy reachable here cannot resolve bare commit hashes, so the pseudo-versions
(commit time + hash; the hash is checked by the proxy/sumdb) are listed in PSEUDO below.
OVERRIDE records the few pins that had to move because the exact version is not served or is not
a valid module version; every one is still a release from before mid-2020.
"""
import sys, tomllib

PSEUDO = {  # revision prefix (12) -> module version
    "02e53af36e6c": "v0.0.0-20180518195852-02e53af36e6c",   # code.cloudfoundry.org/clock
    "d6e3b3328b78": "v0.0.0-20170929234023-d6e3b3328b78",   # Azure/go-ansiterm
    "a0175ee3bccc": "v0.0.0-20160405071501-a0175ee3bccc",   # alecthomas/template
    "2efee857e7cf": "v0.0.0-20151022065526-2efee857e7cf",   # alecthomas/units
    "aaeac12a7ffc": "v0.0.0-20190426062206-aaeac12a7ffc",   # containerd/continuity
    "e64a0ec8b42a": "v0.0.0-20190620071333-e64a0ec8b42a",   # coreos/go-systemd (tag "v20" is not semver)
    "97fdf19511ea": "v0.0.0-20180108230652-97fdf19511ea",   # coreos/pkg (tag "v4" is not semver)
    "70f67c6240bb": "v17.12.0-ce-rc1.0.20190628135806-70f67c6240bb+incompatible",  # docker/docker
    "776d5712da21": "v0.0.0-20180814174437-776d5712da21",   # eapache/go-xerial-snappy
    "d1aa2665426a": "v0.0.0-20200128223036-d1aa2665426a",   # hyperledger/fabric-amcl
    "2d899240a7ed": "v0.0.0-20200128192331-2d899240a7ed",   # hyperledger/fabric-chaincode-go
    "d7d9b8e1fcde": "v0.0.0-20200326212758-d7d9b8e1fcde",   # hyperledger/fabric-protos-go
    "a8b993ba6abd": "v0.0.0-20170406111628-a8b993ba6abd",   # ijc/Gotty
    "b84e30acd515": "v0.0.0-20140226030751-b84e30acd515",   # kr/logfmt
    "fd36f4220a90": "v0.0.0-20190129233127-fd36f4220a90",   # prometheus/client_model
    "3113b8401b8a": "v0.0.0-20181016184325-3113b8401b8a",   # rcrowley/go-metrics
    "1967d93db724": "v0.0.0-20150908122457-1967d93db724",   # spf13/viper (2015 snapshot Fabric relies on)
    "02440ea7a285": "v1.0.1-0.20190625010220-02440ea7a285", # syndtr/goleveldb
    "bea94bb476cc": "v0.0.0-20180802180643-bea94bb476cc",   # tedsuo/ifrit
    "23731bf9ba55": "v0.5.0-alpha.5.0.20181228115726-23731bf9ba55",  # go.etcd.io/etcd
    "2aa609cf4a9d": "v0.0.0-20200221231518-2aa609cf4a9d",   # golang.org/x/crypto
    "959b441ac422": "v0.0.0-20190409202823-959b441ac422",   # golang.org/x/lint
    "3b0461eec859": "v0.0.0-20190620200207-3b0461eec859",   # golang.org/x/net
    "04f50cda93cb": "v0.0.0-20190626221950-04f50cda93cb",   # golang.org/x/sys
    "65e3620a7ae7": "v0.0.0-20190821162956-65e3620a7ae7",   # golang.org/x/tools (release-branch.go1.13)
    "9bdfabe68543": "v0.0.0-20191204190536-9bdfabe68543",   # golang.org/x/xerrors
    "eb59cef1c072": "v0.0.0-20190627203621-eb59cef1c072",   # google.golang.org/genproto
    "dd632973f1e7": "v1.0.0-20141024135613-dd632973f1e7",   # gopkg.in/tomb.v1
}
OVERRIDE = {  # module -> (version, why)
    "github.com/sykesm/zap-logfmt": ("v0.0.2", "locked master ccbdde42f96b has no resolvable pseudo-version here; v0.0.2 is what Fabric 2.2 pinned"),
    "github.com/kr/pretty": ("v0.1.0", "locked master 73f6ac0b30a9 not served; test-only dependency"),
    "github.com/pierrec/lz4": ("v2.2.6+incompatible", "v2.2.3 not served; nearest served 2019 release"),
    "github.com/cespare/xxhash": None,  # replaced by the /v2 module path below
    "github.com/inconshreveable/mousetrap": ("v1.0.0", "lock says v1.0 (not semver)"),
}
EXTRA = {  # modules Fabric imports under a path dep mapped differently
    "github.com/cespare/xxhash/v2": "v2.1.0",  # fastcache imports the /v2 path (GOPATH minimal module compatibility)
    # Needed only by tests of dependencies (sarama, lz4, go-kit), which `go mod tidy` still
    # resolves; pinned so that tidy never reaches for @latest.
    "github.com/frankban/quicktest": "v1.10.0",
    "github.com/Shopify/toxiproxy": "v2.1.4+incompatible",
    "github.com/VividCortex/gohistogram": "v1.0.0",
}
# Fabric 2.1 depends on the 2015 viper snapshot (its config layer relies on that behaviour),
# but cobra v0.0.5's go.mod asks for viper v1.3.2, which minimal version selection would pick.
# A replace keeps the snapshot, as Fabric 2.2's own go.mod does.
FORCE = {"github.com/spf13/viper": "v0.0.0-20150908122457-1967d93db724"}
INCOMPATIBLE = {  # v2+ tags of repositories without a go.mod at that tag
    "github.com/Knetic/govaluate", "github.com/docker/distribution",
}

lock = tomllib.load(open(sys.argv[1], "rb"))
req, repl = {}, []
for p in lock["projects"]:
    name, ver, rev = p["name"], p.get("version"), p["revision"]
    if name in OVERRIDE:
        if OVERRIDE[name] is None:
            continue
        req[name] = OVERRIDE[name][0] + "  // " + OVERRIDE[name][1]
        continue
    if ver and ver.startswith("v") and ver.count(".") == 2:
        v = ver + ("+incompatible" if name in INCOMPATIBLE else "")
    else:
        v = PSEUDO[rev[:12]]
    if "source" in p:
        repl.append(f"{name} => {p['source']} {v}")
    req[name] = v
req.update(EXTRA)
print("module trainproof.local/fabricbuild\n\ngo 1.21\n\nrequire (\n\tgithub.com/hyperledger/fabric v2.1.1+incompatible")
for k in sorted(req):
    print(f"\t{k} {req[k]}")
print(")\n")
for m, v in FORCE.items():
    repl.append(f"{m} => {m} {v}")
for r in repl:
    print(f"replace {r}")
