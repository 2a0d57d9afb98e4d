#!/usr/bin/env bash
# Builds the deployment linters CI runs on the shipped artifacts (tests/deploy), pinned, from
# the Go module proxy, into .cache/tools/bin (git-ignored; reused on the next run):
#   helm        helm lint / helm template of deploy/helm/dictamesh
#   actionlint  the GitHub Actions workflows in .github/workflows
# The first build takes a few minutes (helm pulls the Kubernetes client modules).
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v4.3.2
ACTIONLINT_VERSION=v1.7.12
root="$PWD/.cache"
export GOPATH="$root/go" GOMODCACHE="$root/go/mod" GOBIN="$root/tools/bin" GOFLAGS=-modcacherw
mkdir -p "$GOBIN"

build() {  # build NAME VERSION MODULE: skip when the pinned version is already there
  local name=$1 version=$2 module=$3 stamp="$GOBIN/.$1-$2"
  if [[ -x "$GOBIN/$name" && -f "$stamp" ]]; then
    return
  fi
  echo "[deploy-tools] building $name $version" >&2
  go install "$module@$version"
  rm -f "$GOBIN/.$name-"*
  touch "$stamp"
}

build helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm
build actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint
echo "[deploy-tools] ready in $GOBIN" >&2
