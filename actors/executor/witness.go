package executor

import "io"

// Witness is the state machine of a witness replica (acceptor only): it
// applies nothing and its snapshots are empty. The executor still applies
// membership changes and keeps the session table, so a witness follows the
// configuration like any replica; a snapshot installed from a peer gives
// its state machine nothing (the bytes stay on disk until its next own
// snapshot replaces them).
type Witness struct{}

// Apply discards cmd: a witness answers no client.
func (Witness) Apply(uint64, []byte) []byte { return nil }

// Snapshot writes nothing.
func (Witness) Snapshot(io.Writer) error { return nil }

// Restore reads a peer's state and drops it.
func (Witness) Restore(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
