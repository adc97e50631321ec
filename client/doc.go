// Package client is the Go client of an rsml cluster's HTTP API (DESIGN.md
// §4.2); the rsml-node kv and status commands are built on it.
//
// Any replica accepts any request and forwards writes and linearizable reads
// to the leader, so the client needs no map from replica ids to HTTP
// addresses (a status's peers are consensus addresses, not HTTP ones). It asks
// every endpoint for its status, prefers the one that says it leads (saving
// the forwarding hop), caches that choice and looks again after a failure.
//
// Retries follow what the server can promise. Reads are idempotent and are
// retried on any failure, on the next endpoint. A write is retried only when
// it certainly was not applied: a 503 (no leader; Retry-After is honoured) or
// a failure before the request reached a server (the connection could not be
// made). A 504, or a connection that failed after the request may have been
// sent, leaves the outcome unknown: the write is never retried then, and the
// error matches ErrIndeterminate.
package client
