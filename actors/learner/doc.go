// Package learner decides when a slot is chosen — a quorum of acceptors
// accepted it in one ballot — and hands chosen slots to the executor in slot
// order, with no gaps and no repeats.
//
// A learner takes a chosen slot's value from its own acceptor only when that
// acceptor accepted it in the chosen ballot; otherwise, and whenever it falls
// behind the commit point that leaders' heartbeats carry, it fetches chosen
// values from peers' learners. Delivered values are kept in storage so that
// the executor can replay them after a restart and peers can catch up.
package learner
