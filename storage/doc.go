// Package storage keeps what the Paxos roles must not forget: the acceptor's
// promise and accepted values, the learner's log of chosen values, and the
// executor's snapshots.
//
// Each is a small interface with an in-memory implementation. The in-memory
// stores live outside the actors, so a role that panics and is restarted by its
// supervisor finds its state where it left it — exactly what a disk gives a
// restarted process.
package storage
