// Package sim is the seeded, deterministic simulation of a whole rsml cluster.
//
// It runs every replica's four pure role cores (proposer, acceptor, learner,
// executor) in one goroutine, under a simulated clock and a simulated network,
// all driven by one seed: the same seed replays the same run, message for
// message. A nemesis drops, duplicates, delays and reorders messages,
// partitions the network (both ways and one way), crashes and restarts
// replicas (their storage survives, everything else is rebuilt from it as
// node/ does) and restarts single roles (as the supervisor does after a
// panic), while clients put, conditionally put, delete and read keys, and run
// transactions over them, through the same protocol messages node/api.go
// uses. Some transactions run a bank (bank.go): transfers between accounts
// conditional on the revs last seen, and audits that read every account.
//
// Every run is checked: the client history is linearizable (porcupine, with
// the KV model of internal/linearize), every bank audit sees the accounts'
// opening total, no slot is chosen with two values, no
// two replicas' executors differ at the same applied point, every
// acknowledged write is in the agreed log, and after the faults heal a write
// commits within a bound. A failing run names its seed and writes porcupine's
// visualization.
//
// The cores are reached only through replica.go; messages are routed by
// msg.Target alone, so new message types need no change here.
package sim
