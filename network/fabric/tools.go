//go:build tools

// Package tools lists the Fabric commands this module builds, so that `go mod tidy` keeps
// every module they need. It is never compiled (build tag "tools").
package tools

import (
	_ "github.com/hyperledger/fabric/cmd/configtxgen"
	_ "github.com/hyperledger/fabric/cmd/cryptogen"
	_ "github.com/hyperledger/fabric/cmd/orderer"
	_ "github.com/hyperledger/fabric/cmd/peer"
)
