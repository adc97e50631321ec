package remote

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rsml-go/rsml/msg"
)

// The TCP tests run every replica that talks over TCP in its own child
// process (this test binary, running TestTCPChild), as the TCP cluster does.
// Two replicas with remoting in one process cannot pass the race detector:
// protoactor's Remote.Start sets gRPC's global logger (grpclog.SetLoggerV2)
// on every call, while the gRPC goroutines of a replica started earlier read
// it. One replica per process has no such race, so the child runs under the
// race detector and goleak like any test, and its exit status tells the
// parent whether it saw a race, a leaked goroutine or a failed check.
//
// The parent drives a child by lines on its stdin and reads its events from
// stdout lines that start with childPrefix. Messages cross as TypeUrl and hex
// of Encode's bytes, so every hop exercises the wire.

const (
	childPrefix = "@rsml "
	envChild    = "RSML_TCP_CHILD"     // the replica id; set only in a child
	envBind     = "RSML_TCP_BIND"      // bind address (default 127.0.0.1:0)
	envAdvert   = "RSML_TCP_ADVERTISE" // WithAdvertisedAddr, if set
	envBusy     = "RSML_TCP_BUSY"      // "1": first try StartTCP on a port in use
	envTLS      = "RSML_TCP_TLS"       // CERT,KEY,CA: mutual TLS (WithTLS)
)

// child is the parent's handle on one child process.
type child struct {
	t       *testing.T
	id      msg.NodeID
	cmd     *exec.Cmd
	in      io.WriteCloser
	lines   chan []string // protocol lines, split in fields; closed at EOF
	pending map[string][][]string
	addr    string

	mu     sync.Mutex
	output bytes.Buffer // everything the child printed, for failure reports
	stderr bytes.Buffer // written by exec's copier, read after Wait
	waited bool
}

// startChild starts replica id in a child process and waits for its address.
func startChild(t *testing.T, id msg.NodeID, env ...string) *child {
	t.Helper()
	c := &child{t: t, id: id, lines: make(chan []string, 1024)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestTCPChild$", "-test.count=1", "-test.timeout=2m")
	c.cmd.Env = append(os.Environ(), append([]string{envChild + "=" + id.String()}, env...)...)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.output.WriteString(line + "\n")
			c.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, childPrefix); ok {
				c.lines <- strings.Fields(rest)
			}
		}
	}()
	t.Cleanup(func() {
		if !c.waited { // the test failed before finish: kill the child, by its pid
			_ = c.in.Close()
			_ = c.cmd.Process.Kill()
			for range c.lines {
			}
			_ = c.cmd.Wait()
		}
	})
	c.addr = c.expect("addr")[1]
	return c
}

// send writes one command line to the child.
func (c *child) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		c.t.Fatalf("child %d: %v\n%s", c.id, err, c.log())
	}
}

// expect returns the child's next protocol line of kind (its first field).
// Lines of each kind come in order; lines of different kinds may interleave
// in any order (an actor reports from its mailbox goroutine, a waiter from
// the gRPC goroutine that delivers to it), so lines of other kinds are kept
// for later.
func (c *child) expect(kind string) []string {
	c.t.Helper()
	if q := c.pending[kind]; len(q) > 0 {
		c.pending[kind] = q[1:]
		return q[0]
	}
	timeout := time.After(failsafe)
	for {
		select {
		case f, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("child %d ended while the test waited for %q:\n%s", c.id, kind, c.log())
			}
			if len(f) == 0 {
				continue
			}
			if f[0] == "fatal" {
				c.t.Fatalf("child %d: %q:\n%s", c.id, f, c.log())
			}
			if f[0] == kind {
				return f
			}
			if c.pending == nil {
				c.pending = map[string][][]string{}
			}
			c.pending[f[0]] = append(c.pending[f[0]], f)
		case <-timeout:
			c.t.Fatalf("child %d: no %q line:\n%s", c.id, kind, c.log())
			return nil
		}
	}
}

// expectMsg reads a line of kind carrying a message and decodes it.
func (c *child) expectMsg(kind string) any {
	c.t.Helper()
	f := c.expect(kind)
	m, err := decodeHex(f[1], f[2])
	if err != nil {
		c.t.Fatalf("child %d: %v", c.id, err)
	}
	return m
}

// stop asks the child to stop; finish then waits for it to exit.
func (c *child) stop() { c.send("stop") }

// finish collects the end of the stop sequence and checks that the child
// exited cleanly: no failed check, race or leaked goroutine.
func (c *child) finish() {
	c.t.Helper()
	d := c.expect("stopped")
	dropped := c.expect("dropped")
	c.t.Logf("replica %d: Shutdown took %s; %s message sent after it dropped", c.id, d[1], dropped[1])
	if dropped[1] != "1" {
		c.t.Errorf("replica %d: %s messages dropped after Shutdown, want 1", c.id, dropped[1])
	}
	_ = c.in.Close()
	for kind, q := range c.pending {
		for _, f := range q {
			c.t.Errorf("child %d: unexpected %s line %q", c.id, kind, f)
		}
	}
	for f := range c.lines {
		c.t.Errorf("child %d: unexpected line %q", c.id, f)
	}
	err := c.cmd.Wait()
	c.waited = true
	if err != nil {
		c.t.Errorf("child %d: %v:\n%s", c.id, err, c.log())
	}
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.output.String() + (func() string {
		if c.waited {
			return c.stderr.String()
		}
		return ""
	})()
}

// startChildren starts one child per env list and introduces them to each
// other; child i is replica i+1.
func startChildren(t *testing.T, envs ...[]string) []*child {
	t.Helper()
	cs := make([]*child, len(envs))
	var peers []string
	for i, env := range envs {
		cs[i] = startChild(t, msg.NodeID(i+1), env...)
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, cs[i].addr))
	}
	for _, c := range cs {
		c.send("peers %s", strings.Join(peers, ","))
	}
	for _, c := range cs {
		c.expect("ready")
	}
	return cs
}

// stopAll stops every child at once (peers disconnect while others stop) and
// checks each.
func stopAll(cs []*child) {
	for _, c := range cs {
		c.stop()
	}
	for _, c := range cs {
		c.finish()
	}
}

func encodeHex(t testing.TB, cluster string, m any) (string, string) {
	t.Helper()
	a, err := Encode(cluster, m)
	if err != nil {
		t.Fatal(err)
	}
	return a.TypeUrl, hexOrDash(a.Value)
}

func hexOrDash(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

func decodeHex(url, h string) (any, error) {
	var b []byte
	if h != "-" {
		var err error
		if b, err = hex.DecodeString(h); err != nil {
			return nil, err
		}
	}
	return Decode(testCluster, &anypb.Any{TypeUrl: url, Value: b})
}

func TestTCPRoundTripEveryType(t *testing.T) {
	cs := startChildren(t, []string{envBusy + "=1"}, nil, nil)
	c1, c2, c3 := cs[0], cs[1], cs[2]
	for _, m := range wireSamples() {
		url, h := encodeHex(t, testCluster, m)
		// A broadcast (one Send, two peers, encoded once), a send to a
		// waiter, and one back the other way.
		c1.send("bcast %s %s 2 3", url, h)
		c1.send("send 2 waiter w1 %s %s", url, h)
		c3.send("send 1 acceptor - %s %s", url, h)
		want := wireWant(m)
		for _, got := range []struct {
			c    *child
			kind string
		}{{c2, "got"}, {c3, "got"}, {c2, "waiter"}, {c1, "got"}} {
			if v := got.c.expectMsg(got.kind); !reflect.DeepEqual(v, want) {
				t.Errorf("%T at replica %d (%s):\n got %#v\nwant %#v", m, got.c.id, got.kind, v, want)
			}
		}
	}
	stopAll(cs)
}

// Replicas with mutual TLS talk as plaintext ones do (which peers a TLS
// replica refuses: TestPeerTLSAcceptsOnlyTheClusterCA).
func TestTCPMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "cluster")
	var envs [][]string
	for _, name := range []string{"r1", "r2"} {
		cert, key, caFile := tlsFiles(t, dir, name, ca, replicaLeaf(name))
		envs = append(envs, []string{envTLS + "=" + cert + "," + key + "," + caFile})
	}
	cs := startChildren(t, envs...)
	m := &msg.Heartbeat{From: 1, Ballot: msg.Ballot{Round: 2, ID: 1}, Seq: 9}
	url, h := encodeHex(t, testCluster, m)
	cs[0].send("send 2 acceptor - %s %s", url, h)
	cs[1].send("send 1 acceptor - %s %s", url, h)
	for _, c := range cs {
		if v := c.expectMsg("got"); !reflect.DeepEqual(v, m) {
			t.Errorf("replica %d got %#v, want %#v", c.id, v, m)
		}
	}
	stopAll(cs)
}

// TestTCPDropsForeignAndGarbage: what another cluster sends, and Anys that
// are not ours or do not decode, are dropped and reported, to an actor
// (DecodeMiddleware) and to the waiters (NewWaiters), as is a message for the
// waiters that names none; the replica keeps working. A
// marker sent afterwards on the same connection (FIFO) must be the next thing
// delivered, so nothing dropped slipped through.
func TestTCPDropsForeignAndGarbage(t *testing.T) {
	cs := startChildren(t, nil, nil)
	c1, c2 := cs[0], cs[1]
	ours := "rsml/" + testCluster + "/"
	foreignURL, foreignHex := encodeHex(t, "other-cluster", &msg.Heartbeat{From: 1, Seq: 5})
	tests := []struct {
		name   string
		url, h string
		reason string
		want   error
	}{
		{"another cluster", foreignURL, foreignHex, DropForeignCluster, ErrForeignCluster},
		{"not an rsml type", "junk", hex.EncodeToString([]byte("junk")), DropUndecodable, ErrUnknownType},
		{"unknown type", ours + "Crash", "80", DropUndecodable, ErrUnknownType},
		{"bad bytes", ours + "Accept", "ffff", DropUndecodable, ErrMalformed},
		{"huge length", ours + "Accept", "81a170ddffffffff80", DropUndecodable, ErrMalformed},
		{"empty", "-", "-", DropUndecodable, ErrUnknownType},
	}
	for i, tt := range tests {
		markURL, markHex := encodeHex(t, testCluster, &msg.ReadIndex{Index: uint64(1000 + i)})
		c1.send("raw 2 acceptor - %s %s", tt.url, tt.h)
		d := c2.expect("drop")
		if d[1] != tt.reason || !strings.Contains(strings.Join(d[2:], " "), tt.want.Error()) {
			t.Errorf("%s: dropped as %q, want %q with %q", tt.name, d[1:], tt.reason, tt.want)
		}
		c1.send("send 2 acceptor - %s %s", markURL, markHex)
		if got := c2.expectMsg("got"); !reflect.DeepEqual(got, &msg.ReadIndex{Index: uint64(1000 + i)}) {
			t.Errorf("%s: after the dropped message the actor got %#v, want the marker", tt.name, got)
		}
		c1.send("raw 2 waiter w1 %s %s", tt.url, tt.h)
		if d := c2.expect("waiterr"); d[1] != tt.reason || !strings.Contains(strings.Join(d[2:], " "), tt.want.Error()) {
			t.Errorf("%s: waiter error %q, want %q with %q", tt.name, d[1:], tt.reason, tt.want)
		}
		c1.send("send 2 waiter w1 %s %s", markURL, markHex)
		if got := c2.expectMsg("waiter"); !reflect.DeepEqual(got, &msg.ReadIndex{Index: uint64(1000 + i)}) {
			t.Errorf("%s: after the dropped message the waiter got %#v, want the marker", tt.name, got)
		}
	}
	markURL, markHex := encodeHex(t, testCluster, &msg.ReadIndex{Index: 2000})
	c1.send("raw 2 waiter - %s %s", markURL, markHex)
	if d := c2.expect("waiterr"); d[1] != DropNoWaiter {
		t.Errorf("a message for the waiters naming none: %q, want %q", d[1:], DropNoWaiter)
	}
	stopAll(cs)
}

// TestTCPAdvertised binds every interface and advertises the loopback
// address; the peer's Book names that address and reaches the replica.
func TestTCPAdvertised(t *testing.T) {
	var cs []*child
	for attempt := 0; ; attempt++ { // a port found free by listening may be taken again
		port := freePort(t)
		env := []string{envBind + "=0.0.0.0:" + port, envAdvert + "=127.0.0.1:" + port}
		if attempt < 5 && !childStarts(t, env) {
			continue
		}
		cs = startChildren(t, env, nil)
		if cs[0].addr != "127.0.0.1:"+port {
			t.Errorf("replica 1 has address %q, want the advertised 127.0.0.1:%s", cs[0].addr, port)
		}
		break
	}
	m := &msg.Heartbeat{From: 2, Seq: 1, Ballot: msg.Ballot{Round: 3, ID: 2}}
	url, h := encodeHex(t, testCluster, m)
	cs[1].send("send 1 acceptor - %s %s", url, h)
	if got := cs[0].expectMsg("got"); !reflect.DeepEqual(got, m) {
		t.Errorf("got %#v", got)
	}
	stopAll(cs)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// childStarts reports whether bind and advertise work: listening on the port
// here, briefly, is the check (a child would report the same error).
func childStarts(t *testing.T, env []string) bool {
	t.Helper()
	bind := strings.TrimPrefix(env[0], envBind+"=")
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestTCPChild is one replica, run in a child process by the tests above.
func TestTCPChild(t *testing.T) {
	idText := os.Getenv(envChild)
	if idText == "" {
		t.Skip("a child process of the TCP tests")
	}
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(childPrefix+format+"\n", args...)
	}
	fail := func(format string, args ...any) {
		say("fatal "+format, args...)
		t.Fatalf(format, args...)
	}
	id64, err := strconv.ParseUint(idText, 10, 32)
	if err != nil {
		fail("%s=%q: %v", envChild, idText, err)
	}
	id := msg.NodeID(id64)
	sys := newSystem(t)

	if os.Getenv(envBusy) == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail("%v", err)
		}
		busy := ln.Addr().String()
		if tcp, err := StartTCP(sys, busy); err == nil {
			tcp.Shutdown()
			fail("StartTCP on %s, which is in use, succeeded", busy)
		} else if !errors.Is(err, ErrTCP) || !strings.Contains(err.Error(), busy) {
			fail("StartTCP on a port in use: error %q does not wrap ErrTCP or name %s", err, busy)
		}
		ln.Close()
		if a := sys.ProcessRegistry.Address; a != localAddress {
			fail("a failed StartTCP left the system address %q", a)
		}
	}
	bind := os.Getenv(envBind)
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	var opts []TCPOption
	if adv := os.Getenv(envAdvert); adv != "" {
		opts = append(opts, WithAdvertisedAddr(adv))
	}
	if files := strings.Split(os.Getenv(envTLS), ","); len(files) == 3 {
		p, err := LoadPeerTLS(files[0], files[1], files[2])
		if err != nil {
			fail("%v", err)
		}
		opts = append(opts, WithTLS(p))
	}
	tcp, err := StartTCP(sys, bind, opts...)
	if err != nil {
		fail("%v", err)
	}
	t.Cleanup(tcp.Shutdown) // before sys.Shutdown, if the test fails early
	say("addr %s", tcp.Addr())

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 16<<20)
	var book *Book
	var sink *actor.PID
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "peers":
			addrs := map[msg.NodeID]string{}
			for _, p := range strings.Split(f[1], ",") {
				k, v, _ := strings.Cut(p, "=")
				n, err := strconv.ParseUint(k, 10, 32)
				if err != nil {
					fail("peers %q: %v", f[1], err)
				}
				addrs[msg.NodeID(n)] = v
			}
			if book, err = NewBook(id, addrs, WithWire(testCluster, func(err error) { say("wireerr %v", err) })); err != nil {
				fail("%v", err)
			}
			report := func(kind string, m any) {
				url, h := encodeHex(t, testCluster, m)
				say("%s %s %s", kind, url, h)
			}
			props := actor.PropsFromFunc(func(ctx actor.Context) {
				switch m := ctx.Message().(type) {
				case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
				default:
					report("got", m)
				}
			}, actor.WithReceiverMiddleware(DecodeMiddleware(testCluster, func(reason string, err error) {
				say("drop %s %v", reason, err)
			})))
			if sink, err = sys.Root.SpawnNamed(props, ActorName(msg.RoleAcceptor)); err != nil {
				fail("%v", err)
			}
			// The waiters process reports only answers for w1: one that
			// reached another ref (a lost header) never shows as "waiter".
			w := NewWaiters(testCluster, func(ref string, m any) {
				if ref != "w1" {
					say("waiterref %s", ref)
					return
				}
				report("waiter", m)
			}, func(reason string, err error) { say("waiterr %s %v", reason, err) })
			if _, ok := sys.ProcessRegistry.Add(w, WaitersName); !ok {
				fail("%s exists", WaitersName)
			}
			say("ready")
		case "send", "raw": // send|raw TO ROLE REF URL HEX
			to64, _ := strconv.ParseUint(f[1], 10, 32)
			target := msg.Target{Node: msg.NodeID(to64), Role: msg.RoleAcceptor}
			if f[2] == "waiter" {
				target.Role, target.Ref = msg.RoleWaiter, f[3]
			}
			url, h := f[4], f[5]
			if f[0] == "send" {
				m, err := decodeHex(url, h)
				if err != nil {
					fail("send: %v", err)
				}
				book.Send(sys.Root, []msg.Out{{To: target, Msg: m}})
				continue
			}
			b, _ := hex.DecodeString(strings.TrimPrefix(h, "-"))
			if url == "-" {
				url = ""
			}
			var m any = &anypb.Any{TypeUrl: url, Value: b}
			pid := book.PID(target.Node, target.Role)
			if target.Role == msg.RoleWaiter {
				pid = book.WaitersPID(target.Node)
				if target.Ref != "-" { // "-": bare, naming no waiter
					m = WaiterEnvelope(target.Ref, m)
				}
			}
			sys.Root.Send(pid, m)
		case "bcast": // bcast URL HEX TO...
			m, err := decodeHex(f[1], f[2])
			if err != nil {
				fail("bcast: %v", err)
			}
			var outs []msg.Out
			for _, to := range f[3:] {
				n, _ := strconv.ParseUint(to, 10, 32)
				outs = append(outs, msg.Out{To: msg.Target{Node: msg.NodeID(n), Role: msg.RoleAcceptor}, Msg: m})
			}
			book.Send(sys.Root, outs)
		case "stop":
			if sink != nil {
				if err := sys.Root.StopFuture(sink).Wait(); err != nil {
					fail("stop sink: %v", err)
				}
			}
			begin := time.Now()
			tcp.Shutdown()
			took := time.Since(begin)
			tcp.Shutdown() // a second call does nothing
			say("stopped %v", took.Round(time.Microsecond))
			// A send after Shutdown is dropped, not a panic.
			for _, peer := range book.IDs() {
				if peer != id {
					book.Send(sys.Root, []msg.Out{{To: msg.Target{Node: peer, Role: msg.RoleLearner}, Msg: &msg.ReadIndex{Index: 1}}})
					break
				}
			}
			say("dropped %d", tcp.Dropped())
			return // cleanups: sys.Shutdown; then TestMain's goleak check
		default:
			fail("unknown command %q", f)
		}
	}
	if err := in.Err(); err != nil {
		fail("stdin: %v", err)
	}
}

// newBookSystem is an actor system without remoting and a Book WithWire whose
// replica 1 is that system (its address is protoactor's local "nonhost") and
// replica 2 an address nothing resolves: what Book.Send does before any
// network is involved.
func newBookSystem(t *testing.T) (*actor.ActorSystem, *Book, chan error) {
	t.Helper()
	sys := newSystem(t)
	errs := make(chan error, 4)
	book, err := NewBook(1, map[msg.NodeID]string{1: sys.Address(), 2: "127.0.0.1:9"}, WithWire(testCluster, func(err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	return sys, book, errs
}

func TestBookLocalSendsStayPointers(t *testing.T) {
	sys, book, errs := newBookSystem(t)
	inbox := make(chan any, 4)
	pid, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped:
		default:
			inbox <- ctx.Message()
		}
	}, actor.WithReceiverMiddleware(DecodeMiddleware(testCluster, nil))), ActorName(msg.RoleAcceptor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	m := &msg.Accepted{From: 1, Slots: []uint64{4}, Values: []*msg.Value{{Cmds: []msg.Command{{Data: []byte("v")}}}}}
	tick := &msg.Tick{} // not a wire type: fine locally
	book.Send(sys.Root, []msg.Out{{To: to(1, msg.RoleAcceptor), Msg: m}, {To: to(1, msg.RoleAcceptor), Msg: tick}})
	for _, want := range []any{m, tick} {
		select {
		case got := <-inbox:
			if got != want {
				t.Errorf("local send delivered %#v, want the same pointer %p", got, want)
			}
		case <-time.After(failsafe):
			t.Fatal("nothing delivered")
		}
	}
	// An Any sent locally goes through the middleware too.
	a, err := Encode(testCluster, &msg.ReadIndex{Index: 8})
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pid, a)
	select {
	case got := <-inbox:
		if !reflect.DeepEqual(got, &msg.ReadIndex{Index: 8}) {
			t.Errorf("middleware passed %#v", got)
		}
	case <-time.After(failsafe):
		t.Fatal("nothing delivered")
	}
	if w, err := book.Wrap(1, m); err != nil || w != any(m) {
		t.Errorf("Wrap(self) = %v, %v; want the message itself", w, err)
	}
	if w, err := book.Wrap(2, m); err != nil || reflect.TypeOf(w) != reflect.TypeOf(&anypb.Any{}) {
		t.Errorf("Wrap(peer) = %T, %v; want *anypb.Any", w, err)
	}
	if w, err := book.Wrap(2, tick); !errors.Is(err, ErrUnknownType) || w != nil {
		t.Errorf("Wrap(peer, Tick) = %v, %v; want ErrUnknownType", w, err)
	}
	select {
	case err := <-errs:
		t.Errorf("onError called: %v", err)
	default:
	}
}

func TestBookEncodeErrorIsReported(t *testing.T) {
	sys, book, errs := newBookSystem(t)
	book.Send(sys.Root, []msg.Out{
		{To: to(2, msg.RoleLearner), Msg: &msg.Deliver{First: 1}}, // local-only type
		{To: to(2, msg.RoleAcceptor), Msg: msg.Prepare{}},         // not a pointer
	})
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "replica 2") {
			t.Errorf("onError got %v, want ErrUnknownType naming replica 2", err)
		}
	}
	if b, err := NewBook(1, map[msg.NodeID]string{1: "a"}, WithWire("bad/cluster", nil)); !errors.Is(err, ErrBadBook) || !errors.Is(err, ErrBadClusterID) {
		t.Errorf("NewBook with a bad cluster id = %v, %v", b, err)
	}
	if b, _ := NewBook(1, map[msg.NodeID]string{1: "a"}); b.Cluster() != "" {
		t.Errorf("Cluster() without wire = %q", b.Cluster())
	}
	if b, _ := NewBook(1, map[msg.NodeID]string{1: "a"}, WithWire(testCluster, nil)); b.Cluster() != testCluster {
		t.Errorf("Cluster() = %q, want %q", b.Cluster(), testCluster)
	}
}

// to is shorthand for a Target.
func to(node msg.NodeID, role msg.Role) msg.Target { return msg.Target{Node: node, Role: role} }

func TestUnwrapPlainMessages(t *testing.T) {
	m := &msg.ReadIndex{Index: 3}
	if got, err := Unwrap(testCluster, m); got != any(m) || err != nil {
		t.Errorf("Unwrap(plain) = %v, %v", got, err)
	}
	if got, err := Unwrap(testCluster, &actor.MessageEnvelope{Message: m}); got != any(m) || err != nil {
		t.Errorf("Unwrap(envelope) = %v, %v", got, err)
	}
	a, err := Encode(testCluster, m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unwrap(testCluster, &actor.MessageEnvelope{Message: a}); !reflect.DeepEqual(got, m) || err != nil {
		t.Errorf("Unwrap(envelope of Any) = %v, %v", got, err)
	}
}

// TestStartTCPAddressInUse runs in this process: remoting that never
// connects to a peer leaves no gRPC goroutine behind Shutdown, so a later
// StartTCP here is race-free (see the child tests for why that matters).
func TestStartTCPAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	sys := newSystem(t)
	tcp, err := StartTCP(sys, busy)
	if err == nil {
		tcp.Shutdown()
		t.Fatalf("StartTCP on %s, which is in use, succeeded", busy)
	}
	if !errors.Is(err, ErrTCP) || !strings.Contains(err.Error(), busy) {
		t.Errorf("error %q does not wrap ErrTCP or name %s", err, busy)
	}
	if a := sys.ProcessRegistry.Address; a != localAddress || !Unaddressed(sys) {
		t.Errorf("a failed start left the system address %q", a)
	}
	if Remoting(sys) != nil || TCPOf(sys) != nil {
		t.Errorf("a failed start left remoting registered: %v, %v", Remoting(sys), TCPOf(sys))
	}
	tcp, err = StartTCP(sys, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if Remoting(sys) == nil || TCPOf(sys) != tcp || tcp.Stopped() || Unaddressed(sys) {
		t.Errorf("after StartTCP: Remoting %v, TCPOf %p (want %p), Stopped %v, Unaddressed %v",
			Remoting(sys), TCPOf(sys), tcp, tcp.Stopped(), Unaddressed(sys))
	}
	if _, port, _ := net.SplitHostPort(tcp.Addr()); port == "0" || port == "" || tcp.Addr() != sys.ProcessRegistry.Address {
		t.Errorf("Addr() = %q, system address %q", tcp.Addr(), sys.ProcessRegistry.Address)
	}
	if _, err := StartTCP(sys, "127.0.0.1:0"); !errors.Is(err, ErrTCP) {
		t.Errorf("a second StartTCP on one system: %v, want ErrTCP", err)
	}
	begin := time.Now()
	tcp.Shutdown()
	t.Logf("Shutdown took %v", time.Since(begin))
	if !tcp.Stopped() || TCPOf(sys) != tcp {
		t.Errorf("after Shutdown: Stopped %v, TCPOf %p (want %p)", tcp.Stopped(), TCPOf(sys), tcp)
	}
	sys.Root.Send(actor.NewPID("127.0.0.1:9", "rsml/acceptor"), &anypb.Any{})
	if n := tcp.Dropped(); n != 1 {
		t.Errorf("Dropped() = %d after one send past Shutdown, want 1", n)
	}
}

func TestStartTCPBadConfig(t *testing.T) {
	tests := []struct {
		name string
		bind string
		opts []TCPOption
	}{
		{"no port", "127.0.0.1", nil},
		{"port too big", "127.0.0.1:65536", nil},
		{"negative port", "127.0.0.1:-1", nil},
		{"port name", "127.0.0.1:http", nil},
		{"every interface", "0.0.0.0:0", nil},
		{"empty host", ":0", nil},
		{"every ipv6 interface", "[::]:0", nil},
		{"advertised with port 0", "127.0.0.1:0", []TCPOption{WithAdvertisedAddr("example.com:7001")}},
		{"advertised port 0", "127.0.0.1:7001", []TCPOption{WithAdvertisedAddr("example.com:0")}},
		{"advertised no port", "127.0.0.1:7001", []TCPOption{WithAdvertisedAddr("example.com")}},
		{"zero queue", "127.0.0.1:0", []TCPOption{WithWriterQueueSize(0)}},
		{"zero batch", "127.0.0.1:0", []TCPOption{WithWriterBatchSize(0)}},
		{"zero max message", "127.0.0.1:0", []TCPOption{WithMaxMessageSize(0)}},
		{"zero shutdown timeout", "127.0.0.1:0", []TCPOption{WithShutdownTimeout(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newSystem(t)
			tcp, err := StartTCP(sys, tt.bind, tt.opts...)
			if err == nil {
				tcp.Shutdown()
				t.Fatalf("StartTCP(%q) succeeded", tt.bind)
			}
			if !errors.Is(err, ErrTCP) {
				t.Errorf("error %v does not wrap ErrTCP", err)
			}
			if a := sys.ProcessRegistry.Address; a != localAddress {
				t.Errorf("system address became %q", a)
			}
			if Remoting(sys) != nil || TCPOf(sys) != nil {
				t.Errorf("a refused start left remoting registered")
			}
		})
	}
	if _, err := StartTCP(nil, "127.0.0.1:0"); !errors.Is(err, ErrTCP) {
		t.Errorf("StartTCP(nil) = %v", err)
	}
	sys := newSystem(t)
	net := NewNetwork(1)
	t.Cleanup(net.Close)
	net.Attach(1, sys)
	if _, err := StartTCP(sys, "127.0.0.1:0"); !errors.Is(err, ErrTCP) {
		t.Errorf("StartTCP on a system attached to a Network = %v, want ErrTCP", err)
	}
}

// BenchmarkTCPSend measures one-way remoting over loopback: Book.Send of an
// Accept carrying 16 commands of 128 bytes, from one replica to another's
// actor behind DecodeMiddleware. Both replicas are in this process, which
// the race detector rejects (see the child tests), so it does not run with
// -race.
func BenchmarkTCPSend(b *testing.B) {
	if raceEnabled {
		b.Skip("two remoting systems in one process race in protoactor's Start")
	}
	var systems [2]*actor.ActorSystem
	var tcps [2]*TCP
	for i := range systems {
		systems[i] = newSystem(b)
		tcp, err := StartTCP(systems[i], "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(tcp.Shutdown)
		tcps[i] = tcp
	}
	var got atomic.Int64
	pid, err := systems[1].Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*msg.Accept); ok {
			got.Add(1)
		}
	}, actor.WithReceiverMiddleware(DecodeMiddleware(testCluster, nil))), ActorName(msg.RoleAcceptor))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = systems[1].Root.StopFuture(pid).Wait() })
	book, err := NewBook(1, map[msg.NodeID]string{1: tcps[0].Addr(), 2: tcps[1].Addr()}, WithWire(testCluster, nil))
	if err != nil {
		b.Fatal(err)
	}
	out := []msg.Out{{To: to(2, msg.RoleAcceptor), Msg: benchAccept()}}
	waitFor := func(n int64) {
		deadline := time.Now().Add(failsafe)
		for got.Load() < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d messages arrived", got.Load(), n)
			}
			runtime.Gosched()
		}
	}
	book.Send(systems[0].Root, out) // connect
	waitFor(1)
	got.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	var sent int64
	for b.Loop() {
		book.Send(systems[0].Root, out)
		if sent++; sent%1024 == 0 {
			waitFor(sent - 4096) // keep the writer's queue bounded
		}
	}
	waitFor(sent)
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
}
