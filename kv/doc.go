// Package kv is rsml's built-in state machine: a key-value store that every
// replica's executor feeds the same chosen commands in the same order, so every
// replica holds the same map.
//
// The executor numbers each applied command with a rev and passes it to Apply.
// Every write consumes its rev, even a delete of an absent key or a write whose
// condition fails, because the rev sequence must not depend on the outcome; a
// key's rev is the rev of the last write that set it, which is what the HTTP
// API shows as the key's ETag.
//
// A write may carry a condition (IfRev, IfExists, IfAbsent). When it fails the
// write reports so and changes nothing: compare-and-set is decided inside the
// log order, so it is linearizable with every other write.
//
// Commands, queries, results and snapshots are compact msgpack arrays; the
// encodings are private, so callers use the builders and decoders here.
package kv
