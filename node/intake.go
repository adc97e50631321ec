package node

import (
	"sync"

	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/msg"
)

// intake is where Propose leaves this replica's client requests for the
// proposer (proposer.Intake). Sent through the mailbox, every request woke
// the proposer's goroutine for a message it mostly just queued: about one
// goroutine wake per write at 64 clients, on the same two CPUs as the
// messages of the slot in flight. Here a request rings the proposer only
// when the proposer asked for it (it has room to act on it); otherwise the
// proposer takes it at its next message.
type intake struct {
	mu    sync.Mutex
	reqs  []*msg.ClientRequest
	bytes int
	wantN int // ring once this many requests wait; 0: a Doorbell is on its way
	wantB int // or once their batchSize bytes reach this (0: no byte bound)
	ring  func()
}

func newIntake(ring func()) *intake {
	return &intake{wantN: 1, ring: ring}
}

// push adds a request and rings the proposer if it asked for as many.
func (in *intake) push(r *msg.ClientRequest) {
	in.mu.Lock()
	in.reqs = append(in.reqs, r)
	in.bytes += len(r.Cmd.Data) + 32
	ring := in.due()
	if ring {
		in.wantN, in.wantB = 0, 0
	}
	in.mu.Unlock()
	if ring {
		in.ring()
	}
}

// due reports whether the waiting requests reach what the proposer asked for.
func (in *intake) due() bool {
	if in.wantN == 0 || len(in.reqs) == 0 {
		return false
	}
	return len(in.reqs) >= in.wantN || (in.wantB > 0 && in.bytes >= in.wantB)
}

// Take implements proposer.Intake.
func (in *intake) Take(dst []*msg.ClientRequest) []*msg.ClientRequest {
	in.mu.Lock()
	dst = append(dst, in.reqs...)
	clear(in.reqs)
	in.reqs, in.bytes = in.reqs[:0], 0
	in.mu.Unlock()
	return dst
}

// Want implements proposer.Intake.
func (in *intake) Want(n, bytes int) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.wantN, in.wantB = max(n, 1), max(bytes, 0)
	if in.due() {
		in.wantN, in.wantB = 0, 0 // the caller takes them; it will ask again
		return true
	}
	return false
}

var _ proposer.Intake = (*intake)(nil)
