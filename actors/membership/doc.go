// Package membership decides which replicas make up the cluster at each slot
// of the log: pure data and rules, shared by the learner (which applies
// changes as it delivers them), the proposer (which needs each slot's
// acceptors before it proposes there), the executor (whose snapshots carry
// the state) and the simulator's oracle. One implementation, so every
// process folds the same function over the same chosen values.
//
// The rule is the α rule of Lamport, Malkhi and Zhou ("Reconfiguring a State
// Machine"): a change chosen at slot c, if valid there, governs every slot
// from c+α on. α is a cluster constant fixed in the first configuration. So
// the configuration of slot s is a function of the chosen values of slots up
// to s−α, which are decided before anyone may act on s: a leader proposes at
// s only once it has delivered s−α (the proposer's gate), and a learner
// counts votes for s only then. Every slot is thus ordinary single-decree
// Paxos over one acceptor set that every process computes alike, and no slot
// is decided under two configurations. docs/design/reconfiguration.md has
// the full argument.
//
// Changes are decided valid or not when applied, by Apply, at the slot where
// they are chosen: a change made against a configuration that is no longer
// the latest, or one made while another is pending (chosen but not yet in
// force), or one that would leave the cluster without a majority of
// acceptors or a proposer, takes its slot and changes nothing. Valid changes
// are therefore at least α slots apart, and any α consecutive slots span at
// most two configurations.
package membership
