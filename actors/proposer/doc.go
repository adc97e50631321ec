// Package proposer is the replica's voice in Multi-Paxos: it elects a stable
// leader (phase 1 over every open slot), batches client commands into slots and
// proposes them with a window of slots in flight (phase 2), beacons heartbeats
// that carry the commit point, and grants read indexes for linearizable reads
// without writing to the log.
//
// A follower's proposer forwards client requests to the leader; a request that
// cannot reach a leader is rejected with a reason that guarantees it was never
// proposed, so the client may retry it safely.
//
// core.go is the protocol as a plain state machine driven by Step and Tick;
// actor.go is the thin Proto.Actor shell around it.
package proposer
