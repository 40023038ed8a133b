//go:build tools

// Package tools pins the helm command so `go mod tidy` keeps its dependencies.
// Never compiled (build tag "tools").
package tools

import _ "helm.sh/helm/v3/cmd/helm"
