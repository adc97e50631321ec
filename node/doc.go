// Package node runs rsml replicas: one replica's four role actors under a
// supervisor, the Go API to propose commands and read linearizably, and the
// in-process cluster that tests, dev mode and embedding programs use.
//
// A replica is a supervisor actor named "rsml" with the children "proposer",
// "acceptor", "learner" and "executor". A role that panics is restarted with
// its state rebuilt from storage; one that keeps failing past the retry limit
// is respawned by the supervisor. Peers address roles by (replica address,
// role name) through the address book, so the same code runs over local
// mailboxes and over remoting.
//
// A host program embeds a replica in its own actor system by passing it as
// Config.System: the replica then starts TCP remoting on that system, or
// reuses the remoting the host started, and the host's actors share it (see
// Config.System for the cases, and examples/embed for a whole program).
package node
