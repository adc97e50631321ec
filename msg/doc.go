// Package msg holds the types every Paxos role shares: ballots, slots, client
// commands and their batches, and the messages the roles exchange.
//
// Roles never import each other; they agree only on these types. Messages are
// immutable once sent: local sends pass pointers without copying, so a receiver
// must never modify what it was given.
package msg
