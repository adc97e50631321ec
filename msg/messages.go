package msg

import "fmt"

// Role names one of a replica's actors. Peers address each other by
// (replica, role); the address book turns that into a PID.
type Role uint8

// The roles of a replica. RoleWaiter is not an actor but a client waiting on
// its origin replica for an answer; Target.Ref names it.
const (
	RoleProposer Role = iota + 1
	RoleAcceptor
	RoleLearner
	RoleExecutor
	RoleWaiter
)

// String returns the role's actor name.
func (r Role) String() string {
	switch r {
	case RoleProposer:
		return "proposer"
	case RoleAcceptor:
		return "acceptor"
	case RoleLearner:
		return "learner"
	case RoleExecutor:
		return "executor"
	case RoleWaiter:
		return "waiter"
	}
	return "unknown"
}

// Target says where a core's output goes. The pure cores only produce Targets;
// the actors turn them into PIDs, so a core never knows which network it is on.
type Target struct {
	Node NodeID
	Role Role
	Ref  string // the waiter's name when Role is RoleWaiter
}

// Out is one message a core wants sent.
type Out struct {
	To  Target
	Msg any
}

// Prepare is phase 1a: a candidate asks acceptors to promise Ballot and to
// report what they accepted in every slot from FromSlot on.
//
// With Probe set it only asks whether the acceptor would promise (the pre-vote
// idea): nothing is promised or persisted. A candidate prepares for real only
// after a quorum said yes, so a replica cut off from a live leader cannot raise
// even its own acceptor's promise and disrupt that leader when it returns.
//
// Handover, when set, is the ballot of the leader that asked for this
// election (TimeoutNow): an acceptor whose lease is on that very leader
// promises anyway. A lease on any other leader still holds, so a stale
// handover cannot unseat a newer leader. The lease only keeps a live leader
// from being disrupted; safety never rests on it.
type Prepare struct {
	From     NodeID `msgpack:"f"`
	Ballot   Ballot `msgpack:"b"`
	FromSlot uint64 `msgpack:"s"`
	Probe    bool   `msgpack:"p,omitempty"`
	Handover Ballot `msgpack:"x,omitempty"`
}

// TransferLeader asks the leader's proposer to hand its leadership to
// Target, or with Target 0 to the follower whose acceptor answered its
// heartbeats most recently. The leader answers the waiter Reply on replica
// Origin with TransferStarted; a proposer that does not lead, or a leader
// with nobody to hand over to, answers with a Reject naming the leader it
// knows.
type TransferLeader struct {
	Target NodeID `msgpack:"t,omitempty"`
	Origin NodeID `msgpack:"o,omitempty"`
	Reply  string `msgpack:"r,omitempty"`
}

// TransferStarted is a leader's answer to TransferLeader: it hands over to
// Target (itself: it leads already), leading at Ballot until then. The
// transfer is done when Target leads at a higher ballot.
type TransferStarted struct {
	Target NodeID `msgpack:"t"`
	Ballot Ballot `msgpack:"b"`
}

// TimeoutNow is a leader handing over to the replica it is sent to: that
// proposer campaigns at once (no pre-vote, past the acceptors' lease) once
// its learner knows every slot up to Commit chosen, which the leader's
// were all before it sent this. Ballot is the sender's, so a stale one is
// ignored.
type TimeoutNow struct {
	From   NodeID `msgpack:"f"`
	Ballot Ballot `msgpack:"b"`
	Commit uint64 `msgpack:"c,omitempty"`
}

// Promise is phase 1b: the acceptor will ignore lower ballots and reports its
// accepted entries at or above the Prepare's FromSlot. Truncated is the
// acceptor's truncation point: every slot up to it is chosen and its entry
// dropped, so the leader must neither take it for empty (a no-op there could
// be a second value) nor propose there at all.
type Promise struct {
	From      NodeID  `msgpack:"f"`
	Ballot    Ballot  `msgpack:"b"`
	Entries   []Entry `msgpack:"e"`
	Probe     bool    `msgpack:"p,omitempty"` // answers a probe: nothing was promised
	Truncated uint64  `msgpack:"t,omitempty"`
}

// Nack refuses a Prepare or an Accept for Ballot. Promised is the acceptor's
// current promise, so the proposer learns how high it must go. LeaderAlive says
// the refusal is because the acceptor heard a live leader recently (the
// check-quorum rule), not because of a higher promise.
type Nack struct {
	From        NodeID `msgpack:"f"`
	Ballot      Ballot `msgpack:"b"`
	Promised    Ballot `msgpack:"p"`
	LeaderAlive bool   `msgpack:"l,omitempty"`
}

// Accept is phase 2a for one or more slots, all in one ballot. Chosen, if
// set, says that a quorum accepted every slot of it in this same ballot: the
// receiving acceptor passes it to its learner, which delivers those slots
// from its own acceptor's copies accepted in this ballot (one ballot carries
// one value per slot). Only the leader's learner counts votes.
type Accept struct {
	From      NodeID     `msgpack:"f"`
	Ballot    Ballot     `msgpack:"b"`
	Proposals []Proposal `msgpack:"p"`
	Chosen    Run        `msgpack:"k"`
}

// Run is a range of slots First..Through (Through 0: none) that a learner
// saw chosen, each by a quorum of acceptances in one ballot.
type Run struct {
	First   uint64 `msgpack:"a"`
	Through uint64 `msgpack:"z"`
}

// Empty reports whether r holds no slot.
func (r Run) Empty() bool { return r.Through == 0 || r.First > r.Through }

// ChosenRun tells a learner that a quorum accepted every slot of Run in
// Ballot. The leader sends it to the other learners when it has no Accept to
// carry it; acceptors pass on the one an Accept or a Heartbeat carries.
type ChosenRun struct {
	From   NodeID `msgpack:"f"`
	Ballot Ballot `msgpack:"b"`
	Run    Run    `msgpack:"r"`
}

// Accepted is phase 2b, sent by an acceptor to every learner once the
// acceptance is durable. Values is set only on the send to the acceptor's own
// learner (a local pointer, never on the wire): a learner uses its local copy
// of a chosen slot only when that copy was accepted in the chosen ballot.
type Accepted struct {
	From   NodeID   `msgpack:"f"`
	Ballot Ballot   `msgpack:"b"`
	Slots  []uint64 `msgpack:"s"`
	Values []*Value `msgpack:"-"`
}

// Heartbeat is the leader's periodic beacon to every replica's proposer,
// acceptor and learner. It keeps followers from starting an election, lets
// acceptors refuse challengers while the leader is alive, and tells learners
// how far the log is chosen. Seq numbers the leader's heartbeats so that the
// acks prove leadership at a point in time (read-index).
//
// Chosen is as in Accept: slots a quorum accepted in this ballot.
type Heartbeat struct {
	From   NodeID `msgpack:"f"`
	Ballot Ballot `msgpack:"b"`
	Seq    uint64 `msgpack:"q"`
	Commit uint64 `msgpack:"c"`
	Chosen Run    `msgpack:"k"`
}

// HeartbeatAck answers a Heartbeat from an acceptor with its current promise.
// An ack whose Promised is not above the leader's ballot confirms that no
// higher ballot had been accepted by this acceptor when it answered.
// Truncated is the acceptor's truncation point: a leader whose own log is
// behind it learns that those slots are chosen (the acceptor ignores Accepts
// for them, so without this the leader would resend them forever).
//
// Witness says the acceptor is a witness's, whatever its roles.
type HeartbeatAck struct {
	From      NodeID `msgpack:"f"`
	Ballot    Ballot `msgpack:"b"`
	Seq       uint64 `msgpack:"q"`
	Promised  Ballot `msgpack:"p"`
	Truncated uint64 `msgpack:"t,omitempty"`
	Witness   bool   `msgpack:"x,omitempty"`
}

// Progress answers a Heartbeat from a follower's proposer: how far its
// learner had delivered (Delivered) when the leader's commit point was
// Commit. A leader promotes a learner to acceptor only once it is within α
// of the log, so that a replica still fetching a snapshot or the log never
// counts in a quorum the cluster waits on.
//
// Snapshot is the slot of the older of the two newest durable snapshots
// the replica keeps: what a leader puts in a witness floor
// (membership.Floor).
//
// Witness says the sender is a witness (it holds no data, whatever its
// roles): it never counts as holding what it delivered or snapshotted.
type Progress struct {
	From      NodeID `msgpack:"f"`
	Ballot    Ballot `msgpack:"b"`
	Delivered uint64 `msgpack:"d,omitempty"`
	Commit    uint64 `msgpack:"c,omitempty"`
	Witness   bool   `msgpack:"x,omitempty"`
	Snapshot  uint64 `msgpack:"s,omitempty"`
}

// Committed tells the replica's own proposer how far its learner has delivered
// the chosen log (every slot up to Commit is chosen). Run, in Ballot, is the
// latest stretch of delivered slots each seen chosen by a quorum in Ballot:
// a leader passes it on for its own ballot.
//
// Snapshot is the slot of the older of the two newest snapshots the
// learner knows durable, and Floor the highest witness floor it delivered
// that held (membership.Floor).
type Committed struct {
	Commit   uint64
	Ballot   Ballot
	Run      Run
	Snapshot uint64
	Floor    uint64
	// Members is the membership as of Commit (immutable; a
	// *membership.History, kept as any so that msg stays data only).
	Members any
}

// CatchupRequest asks a peer's learner for the chosen values of slots First to
// Last inclusive.
type CatchupRequest struct {
	From  NodeID `msgpack:"f"`
	First uint64 `msgpack:"a"`
	Last  uint64 `msgpack:"z"`
}

// CatchupReply carries chosen values a peer's learner had delivered. Every
// proposal in it is chosen; the receiver may deliver it without a quorum.
//
// Snapshot, when set, says the sender no longer keeps the first requested
// slot: the requester must install the sender's snapshot, which covers slots
// up to Snapshot, before it can catch up by slots.
type CatchupReply struct {
	From     NodeID     `msgpack:"f"`
	Chosen   []Proposal `msgpack:"c"`
	Through  uint64     `msgpack:"t"` // the sender's delivered point
	Snapshot uint64     `msgpack:"s,omitempty"`
}

// SnapshotRequest asks a peer's learner for the chunk of its latest snapshot
// that starts at Offset. Slot 0 asks for whatever snapshot the peer has; a
// non-zero Slot continues a transfer, and the peer answers with that
// snapshot while it can. The requester pulls one chunk at a time, so a
// transfer never floods the link or the sender's memory.
type SnapshotRequest struct {
	From   NodeID `msgpack:"f"`
	Slot   uint64 `msgpack:"s"`
	Offset uint64 `msgpack:"o"`
}

// SnapshotChunk is part of a snapshot: Data is its bytes from Offset on.
// Size and CRC (CRC-32C of the whole snapshot) let the receiver know when it
// is complete and that it arrived whole. Slot 0 says the sender has no
// snapshot to give (it cannot serve that slot any more, or has none).
type SnapshotChunk struct {
	From   NodeID `msgpack:"f"`
	Slot   uint64 `msgpack:"s"`
	Rev    uint64 `msgpack:"r"`
	Size   uint64 `msgpack:"n"`
	CRC    uint32 `msgpack:"c"`
	Offset uint64 `msgpack:"o"`
	Data   []byte `msgpack:"d"`
}

// Snapshotted tells the replica's learner that the executor's snapshot of
// every slot up to Slot is durable: slots up to it may be dropped from the
// logs.
type Snapshotted struct {
	Slot uint64
}

// SnapshotSaved tells a role how the save of a snapshot it asked for
// (role.Ready.Snapshot) went: Err is nil once the snapshot of slots up to
// Slot is durable. It never leaves the replica.
type SnapshotSaved struct {
	Slot uint64
	Err  error
	// Size is the snapshot's encoded size: the executor waits for at least
	// as many bytes of commands before the next one, so that a large state
	// is not rewritten for every few megabytes of writes.
	Size int
}

// Truncate tells the replica's acceptor that every slot up to Through is
// chosen, applied and in a durable snapshot, so its entries may go.
//
// A witness's snapshots hold nothing, so its acceptor truncates no further
// than Floor, the highest floor its learner delivered that held
// (membership.History.Holds): every replica with state has those slots in
// a durable snapshot. A Truncate carries one of the two (the other 0).
type Truncate struct {
	Through uint64
	Floor   uint64
}

// Install hands the executor a peer's snapshot that the learner received and
// saved: the executor restores it when it is ahead of what it applied.
type Install struct {
	Slot uint64
	Rev  uint64
	Data []byte
}

// Deliver hands chosen slots First, First+1, ... to the executor, in order.
type Deliver struct {
	First  uint64
	Values []*Value
	// More: an answer to Resync that stopped before the learner's delivered
	// point, to bound what is in memory at once; the executor asks again
	// once it has applied these.
	More bool
}

// Resync asks the learner to deliver again from slot From on; the executor
// sends it after a restart or when it sees a gap.
type Resync struct {
	From uint64
}

// ClientRequest carries a command to a proposer; followers forward it to the
// leader. Hops bounds forwarding while replicas disagree about the leader.
//
// Attempt numbers the origin's sends of one command; a Reject echoes it, so
// the origin knows which send was turned away even when the network
// duplicates a request (and with it the Reject).
type ClientRequest struct {
	Cmd     Command `msgpack:"c"`
	Hops    uint8   `msgpack:"h"`
	Attempt uint32  `msgpack:"a,omitempty"`
}

// ReadRequest asks the leader for a read index: a slot such that a read served
// once that slot is applied reflects every write acknowledged before the
// request arrived. The answer (ReadIndex or Reject) goes to the waiter.
type ReadRequest struct {
	Origin NodeID `msgpack:"o"`
	Reply  string `msgpack:"w"`
	Hops   uint8  `msgpack:"h"`
}

// ReadIndex answers a ReadRequest.
type ReadIndex struct {
	Index uint64 `msgpack:"i"`
}

// Read asks the local executor to answer Query once it has applied Index.
type Read struct {
	Query []byte
	Index uint64
	Reply string
}

// ErrCode says why the executor refused a command or could not answer a
// read; the zero code is no error. It crosses the wire as a number, and the
// node maps each code to one sentinel error.
type ErrCode uint8

// The executor's error codes.
const (
	ErrNone ErrCode = iota
	// ErrStaleRequest: the client already acknowledged this seq, so its
	// result is forgotten; the request was not applied again.
	ErrStaleRequest
	// ErrSessionExpired: a tagged request of a session the executor no
	// longer knows (evicted) that claims earlier answers; applying it could
	// apply a retried request twice, so it is refused.
	ErrSessionExpired
	// ErrNoReader: the state machine does not answer reads without the log.
	ErrNoReader
	// ErrReadFailed: the state machine could not answer the read; Detail
	// says why.
	ErrReadFailed
)

// String describes the code.
func (c ErrCode) String() string {
	switch c {
	case ErrNone:
		return "ok"
	case ErrStaleRequest:
		return "request already acknowledged by its client"
	case ErrSessionExpired:
		return "client session expired"
	case ErrNoReader:
		return "state machine does not serve reads"
	case ErrReadFailed:
		return "read failed"
	}
	return fmt.Sprintf("error code %d", uint8(c))
}

// ReadResult answers a Read. Detail explains an ErrReadFailed.
type ReadResult struct {
	Data    []byte
	Applied uint64
	Code    ErrCode
	Detail  string
}

// Result answers a client command after it is chosen and applied. Rev is the
// command's rev (0 if the executor refused it, as told by Code).
type Result struct {
	Slot uint64
	Rev  uint64
	Data []byte
	Code ErrCode
}

// RejectReason says why a request was turned away before it was proposed.
type RejectReason uint8

// Reject reasons. Every one of them means the request was certainly not
// proposed, so the client may retry it without risk of applying it twice.
const (
	RejectNoLeader RejectReason = iota + 1
	RejectOverloaded
	RejectStopping
	// RejectCannotLead answers a TransferLeader whose target has not
	// answered the leader's heartbeats lately (down, or cut off): it could
	// not take over, and asking again would only pause the leader.
	RejectCannotLead
	// RejectConfigBusy answers a membership change while another is in
	// flight or not yet in force: one change at a time.
	RejectConfigBusy
	// RejectNotCaughtUp answers a membership change that would make a
	// replica an acceptor before it has caught up with the log (or, for a
	// new id, before it was added as a learner): it would count in quorums
	// while it cannot vote on what the cluster is deciding.
	RejectNotCaughtUp
	// RejectWitnessRoles answers a change that would make a witness (a
	// replica that holds no data, by its own Progress reports) both an
	// acceptor and a learner: it would count as a full replica.
	RejectWitnessRoles
)

// String describes the reason.
func (r RejectReason) String() string {
	switch r {
	case RejectNoLeader:
		return "no leader"
	case RejectOverloaded:
		return "overloaded"
	case RejectStopping:
		return "stopping"
	case RejectCannotLead:
		return "target cannot lead"
	case RejectConfigBusy:
		return "another membership change is under way"
	case RejectNotCaughtUp:
		return "the replica has not caught up with the log"
	case RejectWitnessRoles:
		return "a witness takes the acceptor role only"
	}
	return "rejected"
}

// Reject tells a waiter its request was not proposed. Leader is a hint (0 if
// none is known).
type Reject struct {
	Reason  RejectReason `msgpack:"r"`
	Leader  NodeID       `msgpack:"l"`
	Attempt uint32       `msgpack:"a,omitempty"` // the rejected ClientRequest's
}

// Tick drives a role's logical clock; the replica sends one every tick
// interval to each role.
type Tick struct{}

// Crash makes the receiving role panic. It exists for tests of supervision:
// the role must come back with its durable state and lose nothing that was
// acknowledged.
type Crash struct{}

// ChangeRequest asks the leader to propose a membership change (Change is
// package membership's encoding of it). It is routed like a ClientRequest;
// its waiter, on Origin, gets a Reject or the executor's ChangeResult.
type ChangeRequest struct {
	Change []byte `msgpack:"c"`
	Origin NodeID `msgpack:"o"`
	Reply  string `msgpack:"w"`
	Hops   uint8  `msgpack:"h,omitempty"`
}

// ChangeResult answers a membership change once it is chosen and applied at
// Slot: it made configuration Num, in force from slot From, or (Err set) it
// was refused there and changed nothing. Done: refused only because the
// configuration already did what it asked (a retry); the caller succeeds.
// Base is the change's own (which of several attempts this answers), and
// Latest the latest configuration's number after it: a change refused as
// made against an older one may be asked again against this one.
type ChangeResult struct {
	Slot, Num, From uint64
	Base, Latest    uint64
	Done            bool
	Err             string
}
