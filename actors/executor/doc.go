// Package executor applies chosen slots, in slot order, to the replica's state
// machine and answers the clients waiting on this replica — only after their
// command is applied. It numbers every applied command with the next rev (the
// same on every replica), answers retried (client, seq) requests from its
// session table instead of applying them twice, serves reads once it has
// applied past their read index, and saves snapshots so that a restart does
// not replay the whole history.
package executor
