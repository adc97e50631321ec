// Package remote decides how the actors of one replica address the actors of
// another, so that the Paxos roles never need to know which network they are on.
//
// A role sees only a Book: it maps a replica id to that replica's actor-system
// address and hands out the PID of a (replica, role) pair. Sending to that PID
// is an ordinary Proto.Actor send. What carries the message is decided by the
// actor system the Book belongs to:
//
//   - In the in-process cluster every replica has its own ActorSystem, and a
//     Network attached to it resolves the addresses of the other replicas to
//     simulated links. A link is the fault-injection seam: it can partition
//     replicas, cut one direction, take a replica down, and drop, duplicate or
//     delay messages, reproducibly for a seed, while keeping the per-link FIFO
//     order that real remoting gives.
//   - In the TCP cluster each replica is its own process: StartTCP starts
//     Proto.Actor remoting (gRPC) on its system, and the same addresses, now
//     host:port, resolve to gRPC endpoints. Remoting carries only protobuf,
//     so a Book made WithWire sends a message for another replica as an
//     *anypb.Any holding its msgpack encoding and naming the cluster (Encode),
//     and the receiving actors turn it back with DecodeMiddleware (other
//     receivers with Unwrap), dropping what belongs to another cluster or does
//     not decode.
//
// Because a *actor.PID caches the process it first resolved to, PIDs (and so
// Books) must never be shared between actor systems: build one Book per system.
package remote
