// Command etcd is a thin wrapper around etcdmain.Main: go.etcd.io/etcd/server/v3
// cannot be `go install`ed directly because its go.mod has replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
