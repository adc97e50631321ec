package remote

import (
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
)

func TestNewBookErrors(t *testing.T) {
	tests := []struct {
		name  string
		self  msg.NodeID
		addrs map[msg.NodeID]string
	}{
		{"empty", 1, map[msg.NodeID]string{}},
		{"nil", 1, nil},
		{"self zero", 0, map[msg.NodeID]string{1: "a"}},
		{"id zero", 1, map[msg.NodeID]string{0: "z", 1: "a"}},
		{"empty address", 1, map[msg.NodeID]string{1: "a", 2: ""}},
		{"duplicate address", 1, map[msg.NodeID]string{1: "a", 2: "b", 3: "a"}},
		{"self missing", 4, map[msg.NodeID]string{1: "a", 2: "b", 3: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBook(tt.self, tt.addrs)
			if err == nil {
				t.Fatalf("NewBook(%d, %v) = %v, want error", tt.self, tt.addrs, b)
			}
			if !errors.Is(err, ErrBadBook) {
				t.Errorf("error %v does not wrap ErrBadBook", err)
			}
		})
	}
}

func TestBookPIDs(t *testing.T) {
	tests := []struct {
		name  string
		addrs map[msg.NodeID]string
	}{
		{"dense", map[msg.NodeID]string{3: "r3", 1: "r1", 2: "r2"}},
		{"sparse", map[msg.NodeID]string{3: "r3", 1: "r1", 1 << 20: "big"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBook(1, tt.addrs)
			if err != nil {
				t.Fatal(err)
			}
			if b.Self() != 1 {
				t.Errorf("Self() = %d, want 1", b.Self())
			}
			var want []msg.NodeID
			for id := range tt.addrs {
				want = append(want, id)
			}
			slices.Sort(want)
			if !slices.Equal(b.IDs(), want) {
				t.Errorf("IDs() = %v, want %v", b.IDs(), want)
			}
			for id, addr := range tt.addrs {
				if got := b.Addr(id); got != addr {
					t.Errorf("Addr(%d) = %q, want %q", id, got, addr)
				}
				for _, r := range []msg.Role{msg.RoleProposer, msg.RoleAcceptor, msg.RoleLearner, msg.RoleExecutor} {
					pid := b.PID(id, r)
					if pid == nil || pid.Address != addr || pid.Id != "rsml/"+r.String() {
						t.Errorf("PID(%d, %v) = %v, want %s/rsml/%v", id, r, pid, addr, r)
					}
					if b.PID(id, r) != pid {
						t.Errorf("PID(%d, %v) is not cached", id, r)
					}
				}
				if pid := b.PID(id, msg.RoleWaiter); pid != nil {
					t.Errorf("PID(%d, waiter) = %v, want nil", id, pid)
				}
				w := b.WaitersPID(id)
				if w == nil || w.Address != addr || w.Id != WaitersName || b.WaitersPID(id) != w {
					t.Errorf("WaitersPID(%d) = %v, want %s/%s, cached", id, w, addr, WaitersName)
				}
			}
			for _, id := range []msg.NodeID{0, 2 << 20, 7} {
				if _, known := tt.addrs[id]; known {
					continue
				}
				if b.PID(id, msg.RoleAcceptor) != nil || b.WaitersPID(id) != nil || b.Addr(id) != "" {
					t.Errorf("unknown id %d resolves", id)
				}
			}
			if b.PID(1, msg.Role(0)) != nil || b.PID(1, msg.Role(200)) != nil {
				t.Error("PID of a bad role is not nil")
			}
		})
	}
}

func TestActorName(t *testing.T) {
	if got := ActorName(msg.RoleAcceptor); got != "rsml/acceptor" {
		t.Errorf("ActorName(acceptor) = %q", got)
	}
	if got := ActorName(msg.RoleProposer); got != "rsml/proposer" {
		t.Errorf("ActorName(proposer) = %q", got)
	}
}

func TestBookPIDAllocatesNothing(t *testing.T) {
	b, err := NewBook(1, map[msg.NodeID]string{1: "r1", 2: "r2", 3: "r3"})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = b.PID(2, msg.RoleLearner) }); n != 0 {
		t.Errorf("PID allocates %v times", n)
	}
}

func BenchmarkBookPID(b *testing.B) {
	book, err := NewBook(1, map[msg.NodeID]string{1: "r1", 2: "r2", 3: "r3", 4: "r4", 5: "r5"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		_ = book.PID(msg.NodeID(i%5+1), msg.RoleAcceptor)
	}
}

func TestBookLearnsJoiningReplicas(t *testing.T) {
	b, err := NewBook(1, map[msg.NodeID]string{1: "h:1", 2: "h:2"})
	if err != nil {
		t.Fatal(err)
	}
	if b.PID(3, msg.RoleLearner) != nil {
		t.Fatal("a PID for a replica nobody named")
	}
	if !b.Learn(map[msg.NodeID]string{2: "h:2", 3: "h:3"}) {
		t.Fatal("Learn of a new replica reported no change")
	}
	if p := b.PID(3, msg.RoleLearner); p == nil || p.Address != "h:3" {
		t.Fatalf("PID of the new replica: %v", p)
	}
	if got := b.IDs(); !slices.Equal(got, []msg.NodeID{1, 2, 3}) {
		t.Fatalf("IDs %v", got)
	}
	if b.Learn(map[msg.NodeID]string{3: "h:3"}) {
		t.Fatal("Learn of what the Book knows reported a change")
	}
	if !b.Learn(map[msg.NodeID]string{3: "h:33"}) || b.Addr(3) != "h:33" {
		t.Fatalf("a moved replica: %q", b.Addr(3))
	}
}

func TestSendReportsUnknownReplicas(t *testing.T) {
	var dropped []msg.NodeID
	b, err := NewBook(1, map[msg.NodeID]string{1: "nonhost"}, WithUnknownReplica(func(to msg.NodeID) { dropped = append(dropped, to) }))
	if err != nil {
		t.Fatal(err)
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	b.Send(sys.Root, []msg.Out{{To: msg.Target{Node: 7, Role: msg.RoleLearner}, Msg: &msg.Heartbeat{}}})
	if !slices.Equal(dropped, []msg.NodeID{7}) {
		t.Fatalf("dropped %v, want the message to 7 reported", dropped)
	}
}
