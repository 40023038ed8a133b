//go:build tools

// Package tools pins the etcd server command (the module root is its main package) so
// `go mod tidy` keeps its dependencies. Never compiled (build tag "tools").
package tools

import _ "go.etcd.io/etcd/server/v3"
