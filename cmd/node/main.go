// Command rsml-node runs rsml replicas and talks to them.
//
//	rsml-node run     one replica as a process (TCP between replicas, HTTP for clients)
//	rsml-node dev     a whole cluster in one process, for development
//	rsml-node kv      get, put, delete and list keys of a running cluster; transactions
//	rsml-node status  what every replica of a running cluster reports
//	rsml-node leader  move leadership (leader transfer [ID])
//	rsml-node member  list, add and remove replicas of a running cluster
//	rsml-node bench   write throughput and latency (DESIGN.md §4.3)
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `rsml-node: run rsml replicas and talk to them

Usage:
  rsml-node run --id N --peers 1=HOST:PORT,... --http HOST:PORT [flags]   one replica as a process
  rsml-node run --config FILE [flags]                                     the same, from a TOML or JSON file
  rsml-node dev [--nodes 3] [--http 127.0.0.1:8001] [--config FILE]        a whole cluster in this process
  rsml-node kv get|put|delete KEY [VALUE] [--endpoints URL,...]           read and write keys
  rsml-node kv list [PREFIX] [--all] [--endpoints URL,...]                list keys by prefix
  rsml-node kv txn [FILE|-] [--endpoints URL,...]                         run a transaction (JSON, see "kv txn -h")
  rsml-node status [--endpoints URL,...]                                  every replica's view
  rsml-node leader transfer [ID] [--endpoints URL,...]                    move leadership to replica ID (none: any other)
  rsml-node member list|add ID ADDR|remove ID [--endpoints URL,...]       the cluster's members; add or remove one
  rsml-node bench [--transport memory|tcp] [--storage memory|nutsdb]      measure puts per second and latency
  rsml-node certs --dir DIR [--replicas 3]                                a development CA and certificates
  rsml-node help                                                          this help

Run "rsml-node COMMAND --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "dev":
		return devCommand(args[1:], stdout, stderr)
	case "kv":
		return kvCommand(args[1:], stdin, stdout, stderr)
	case "status":
		return statusCommand(args[1:], stdout, stderr)
	case "leader":
		return leaderCommand(args[1:], stdout, stderr)
	case "member":
		return memberCommand(args[1:], stdout, stderr)
	case "bench":
		return benchCommand(args[1:], stdout, stderr)
	case "certs":
		return certsCommand(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "rsml-node: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
