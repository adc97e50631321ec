package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// copyFile writes the concatenation of srcs to dst.
func copyFile(t *testing.T, dst string, srcs ...string) {
	t.Helper()
	var b bytes.Buffer
	for _, s := range srcs {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Three replicas with mutual TLS (certificates from rsml-node certs) serve
// writes, and keep serving across a rotation to a new CA: each trusts both
// CAs (SIGHUP), then takes a certificate of the new one (SIGHUP), and a
// replica restarted on the new material is accepted by the others, which
// started with the old CA alone, and catches up.
func TestProcessPeerTLS(t *testing.T) {
	bin := buildBinary(t)
	root := t.TempDir()
	oldDir, newDir, work := filepath.Join(root, "old"), filepath.Join(root, "new"), filepath.Join(root, "work")
	for _, d := range []string{oldDir, newDir} {
		if code := run([]string{"certs", "--dir", d, "--replicas", "3"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
			t.Fatalf("certs --dir %s: exit %d", d, code)
		}
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	use := func(from string) {
		for i := 1; i <= 3; i++ {
			copyFile(t, filepath.Join(work, fmt.Sprintf("replica-%d.crt", i)), filepath.Join(from, fmt.Sprintf("replica-%d.crt", i)))
			copyFile(t, filepath.Join(work, fmt.Sprintf("replica-%d.key", i)), filepath.Join(from, fmt.Sprintf("replica-%d.key", i)))
		}
	}
	use(oldDir)
	copyFile(t, filepath.Join(work, "ca.crt"), filepath.Join(oldDir, "ca.crt"))

	cons, https := freePorts(t, 3), freePorts(t, 3)
	peers := fmt.Sprintf("1=%s,2=%s,3=%s", cons[0], cons[1], cons[2])
	start := func(i int) *proc {
		return startProc(t, bin, i, peers, https[i-1], filepath.Join(root, fmt.Sprint("data-", i)),
			"--peer-cert", filepath.Join(work, fmt.Sprintf("replica-%d.crt", i)),
			"--peer-key", filepath.Join(work, fmt.Sprintf("replica-%d.key", i)),
			"--peer-ca", filepath.Join(work, "ca.crt"))
	}
	procs := []*proc{start(1), start(2), start(3)}
	cl, err := client.New([]string{procs[0].url, procs[1].url, procs[2].url})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := cl.Put(ctx, fmt.Sprintf("k%03d", i), []byte(fmt.Sprint("v", i)), client.Cond{}); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
	}
	put(0, 50)

	hup := func() {
		t.Helper()
		for _, p := range procs {
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Trust both CAs, then present certificates of the new one. SIGHUP is
	// handled in order, so a write after each one proves nothing; the
	// restart below does: replicas 1 and 2 began with the old CA alone.
	copyFile(t, filepath.Join(work, "ca.crt"), filepath.Join(oldDir, "ca.crt"), filepath.Join(newDir, "ca.crt"))
	hup()
	use(newDir)
	hup()
	put(50, 60)

	_ = procs[2].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[2].exited
	cl.CloseIdleConnections() // see TestProcessWitness
	put(60, 100)
	procs[2] = start(3)
	var lead uint64
	waitUntil(t, "the leader to apply every write", func() bool {
		for _, p := range procs[:2] {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				lead = st.Applied
				return true
			}
		}
		return false
	})
	waitUntil(t, "the replica restarted with the new CA's certificate to catch up", func() bool {
		st, err := getStatus(procs[2].url)
		return err == nil && st.Applied >= lead
	})
	c3, err := client.New([]string{procs[2].url})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.CloseIdleConnections()
	if v, _, err := c3.Get(ctx, "k099"); err != nil || string(v) != "v99" {
		t.Fatalf("read k099 through the restarted replica: %q, %v", v, err)
	}
}
