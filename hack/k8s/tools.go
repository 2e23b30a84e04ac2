//go:build tools

// Package tools pins the Kubernetes commands that hack/build-bins.sh builds.
// This module exists only because k8s.io/kubernetes cannot be `go install`ed
// (its go.mod replaces the staging modules with local paths); here every
// staging module is replaced with its published v0.Y.Z instead.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
