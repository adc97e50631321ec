// Package golden holds data-driven tests of the role cores in the style of
// etcd raft's testdata/*.txt: a readable script of inputs, and the messages
// and records they produce. A reviewer can see a protocol rule (a pre-vote
// refused while a leader lives, a slot recovered by a new leader, a replica
// that installs a snapshot) without reading the code.
//
// The harness runs whole replicas (the four cores, built by actors/roles as
// node builds them, each under the production role.Driver with an Env that
// does everything at once) over one FIFO network that the script steps by
// hand. Run with -rewrite to regenerate the expected output after a
// deliberate change, and read the diff.
package golden
