package msg

// Command is one client request inside a slot's batch. Everything but Data is
// routing and deduplication metadata that the executor reads; Data is opaque to
// consensus and goes to the state machine.
type Command struct {
	// Client and Seq tag a request for exactly-once execution: the executor
	// answers a retried (Client, Seq) from its session table instead of applying
	// it again. Client 0 means untagged.
	Client uint64 `msgpack:"c,omitempty"`
	Seq    uint64 `msgpack:"s,omitempty"`
	// Acked tells the executor that the client has its answers for every Seq up
	// to Acked, so their cached results may be forgotten.
	Acked uint64 `msgpack:"a,omitempty"`
	// Origin is the replica that took the request; only its executor answers.
	Origin NodeID `msgpack:"o,omitempty"`
	// Reply names the waiter on Origin that receives the result ("" if none).
	Reply string `msgpack:"w,omitempty"`
	// Data is the state machine command.
	Data []byte `msgpack:"d"`
}

// Value is what one slot decides: a batch of commands, so one round of Paxos
// (and one fsync) carries many client requests, or a membership change. An
// empty Value is a no-op: it fills a hole left by a failed leader and takes a
// slot but no rev.
type Value struct {
	Cmds []Command `msgpack:"c"`
	// Change is a membership change (package membership's encoding), alone
	// in its slot: it takes no rev.
	Change []byte `msgpack:"g,omitempty"`
	// Floor lets witnesses truncate their acceptor logs (package
	// membership's encoding of a Floor), alone in its slot: it takes no rev.
	Floor []byte `msgpack:"w,omitempty"`
}

// IsNoop reports whether the value carries neither a command, a change nor
// a floor.
func (v *Value) IsNoop() bool {
	return v == nil || len(v.Cmds) == 0 && len(v.Change) == 0 && len(v.Floor) == 0
}

// Size estimates the value's encoded size, used to bound batches and replies.
func (v *Value) Size() int {
	if v == nil {
		return 1
	}
	n := 4 + len(v.Change) + len(v.Floor)
	for i := range v.Cmds {
		n += len(v.Cmds[i].Data) + len(v.Cmds[i].Reply) + 24
	}
	return n
}

// Entry is an acceptor's record for one slot: the value it accepted and the
// ballot it accepted it in.
type Entry struct {
	Slot   uint64 `msgpack:"s"`
	Ballot Ballot `msgpack:"b"`
	Value  *Value `msgpack:"v"`
}

// Proposal pairs a slot with the value a leader proposes for it.
type Proposal struct {
	Slot  uint64 `msgpack:"s"`
	Value *Value `msgpack:"v"`
}
