// Package acceptor is Paxos's memory: it promises ballots (phase 1) and accepts
// values (phase 2), and it never answers before what it answered is durable.
//
// core.go is the protocol as a plain state machine; actor.go drives it from a
// Proto.Actor mailbox and does the I/O. Accepts that arrive together share one
// durable write (group commit): the actor buffers them and flushes when its
// mailbox has drained what was queued behind the first one.
package acceptor
