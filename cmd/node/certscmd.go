package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/rsml-go/rsml/internal/devcerts"
)

const certsUsage = `Usage: rsml-node certs --dir DIR [--replicas 3] [--hosts NAME,IP,...]

Writes a development CA and certificates into DIR (DESIGN.md §4.1): ca.crt and
ca.key (the peer CA), replica-I.crt and replica-I.key for I = 1..N (server and
client, valid for localhost, 127.0.0.1, ::1 and --hosts), client-ca.crt and
client-ca.key (a CA apart, for clients), client.crt and client.key (signed by
the client CA). Keys are unencrypted, mode 0600: for development and tests;
use your own PKI in production. A DIR that already holds a ca.crt is refused.

Then, for replica 1 of a cluster:
  rsml-node run --id 1 ... --peer-cert DIR/replica-1.crt --peer-key DIR/replica-1.key --peer-ca DIR/ca.crt

Flags:
`

func certsCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rsml-node certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory to write the CA and certificates into (created if missing)")
	replicas := fs.Int("replicas", 3, "number of replica certificates: replica-1 .. replica-N")
	hosts := fs.String("hosts", "", "comma-separated extra DNS names and IP addresses the replica certificates are valid for (besides localhost, 127.0.0.1 and ::1)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), certsUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rsml-node certs: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "rsml-node certs: --dir is required")
		return 2
	}
	if *replicas < 1 || *replicas > 100 {
		fmt.Fprintf(stderr, "rsml-node certs: --replicas %d: want 1 to 100\n", *replicas)
		return 2
	}
	var extra []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			extra = append(extra, h)
		}
	}
	if err := devcerts.WriteDir(*dir, *replicas, extra); err != nil {
		fmt.Fprintf(stderr, "rsml-node certs: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote a development CA and %d replica certificates to %s\n", *replicas, *dir)
	fmt.Fprintf(stdout, "replica 1: --peer-cert %s --peer-key %s --peer-ca %s\n",
		filepath.Join(*dir, "replica-1.crt"), filepath.Join(*dir, "replica-1.key"), filepath.Join(*dir, "ca.crt"))
	return 0
}
