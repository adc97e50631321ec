package executor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// StateMachine is what a replica replicates. Apply must be deterministic:
// every replica applies the same commands with the same revs and must reach
// the same state. Apply must not panic on malformed input; it should encode the
// error in its result instead.
type StateMachine interface {
	Apply(rev uint64, cmd []byte) []byte
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Reader is implemented by state machines that answer queries without
// writing to the log (linearizable reads via a read index, and stale reads).
type Reader interface {
	Read(query []byte) ([]byte, error)
}

// Capturer is implemented by state machines that take a snapshot in two
// steps, as hashicorp/raft's FSM.Snapshot and FSMSnapshot.Persist do: Capture
// runs on the apply path and only copies what the snapshot needs (it must be
// quick); the function it returns writes that snapshot later, on another
// goroutine, while Apply goes on, and must not touch the live state. Without
// it the executor encodes the snapshot on the apply path (only the save and
// its fsync leave it). The function may be called more than once (a
// snapshot saved to files is written twice, once only to count its size)
// and must write the same bytes each time. A state machine that wraps another and changes its
// Snapshot must change its Capture too: an embedded Capture is found and
// used.
type Capturer interface {
	Capture() func(w io.Writer) error
}

// ErrRestore marks a snapshot that could not be restored: the state machine
// may be half replaced, so the executor must restart from storage. (What the
// executor tells clients goes as a msg.ErrCode in Result and ReadResult.)
var ErrRestore = errors.New("executor: restore snapshot")

// Config holds the executor's settings.
type Config struct {
	ID msg.NodeID
	// SnapshotEvery is the number of applied commands between snapshots
	// (0: only the initial one).
	SnapshotEvery uint64
	// SnapshotBytes also starts a snapshot once the commands applied since
	// the last one add up to this many bytes (msg.Value.Size), or to the
	// last snapshot's size if that is larger (0: by count only). The logs
	// keep what follows the previous snapshot in memory, so this bounds
	// them when commands are large, as SnapshotEvery does when they are
	// many; the floor at the snapshot's size keeps a large state from being
	// rewritten for every few megabytes of writes.
	SnapshotBytes uint64
	// MaxSessions bounds the exactly-once table; past it the session idle the
	// longest (by rev) is forgotten, deterministically on every replica.
	MaxSessions int
	// Members is the cluster's first configuration: the membership of a
	// state without a snapshot, or of a snapshot taken before snapshots
	// carried it.
	Members *membership.History
}

type result struct {
	Slot uint64 `msgpack:"s"`
	Rev  uint64 `msgpack:"r"`
	Data []byte `msgpack:"d"`
}

type session struct {
	Acked   uint64      `msgpack:"a"`
	LastRev uint64      `msgpack:"l"`
	Results resultTable `msgpack:"r"`
	// maxSeq is at least every seq in Results, so a new seq (the common
	// case: a client's seqs grow) skips the lookup of an absent key, which
	// a map churned by inserts and deletes makes slow. Not in snapshots:
	// restore computes it.
	maxSeq uint64
}

// snapshotData is a snapshot's encoding. Members comes first, so that
// SnapshotMembers finds it without reading the rest.
type snapshotData struct {
	Members  []byte       `msgpack:"g,omitempty"`
	Sessions sessionTable `msgpack:"s"`
	State    []byte       `msgpack:"m"`
}

// SnapshotMembers returns the membership a snapshot's data carries, as of
// its slot; ok is false for a snapshot taken before snapshots carried it
// (its cluster never changed, so its membership is the first one). The
// learner needs it to count the votes of the slots that follow the
// snapshot, before the executor has restored it.
func SnapshotMembers(data []byte) (h *membership.History, ok bool, err error) {
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	n, err := dec.DecodeMapLen()
	if err != nil {
		return nil, false, fmt.Errorf("executor: snapshot membership: %w", err)
	}
	if n < 1 {
		return nil, false, nil
	}
	key, err := dec.DecodeString()
	if err != nil || key != "g" {
		return nil, false, err
	}
	b, err := dec.DecodeBytes()
	if err != nil {
		return nil, false, fmt.Errorf("executor: snapshot membership: %w", err)
	}
	h, err = membership.Decode(b)
	if err != nil {
		return nil, false, fmt.Errorf("executor: snapshot membership: %w", err)
	}
	return h, true, nil
}

// SnapshotHead is how much of a snapshot LoadSnapshotMembers reads into
// memory: the membership comes first, and is far shorter.
const SnapshotHead = 64 << 10

// LoadSnapshotMembers loads the latest snapshot in snaps without holding
// more than its head in memory (storage.LoadHead) and returns its slot and
// the membership it carries (see SnapshotMembers). A membership longer than
// the head is read from the whole snapshot.
func LoadSnapshotMembers(snaps storage.SnapshotStore) (slot uint64, h *membership.History, found, carried bool, err error) {
	snap, found, err := storage.LoadHead(snaps, SnapshotHead)
	if err != nil || !found {
		return 0, nil, found, false, err
	}
	h, carried, err = SnapshotMembers(snap.Data)
	if err != nil && len(snap.Data) == SnapshotHead {
		if snap, found, err = snaps.Load(); err != nil || !found {
			return 0, nil, found, false, err
		}
		h, carried, err = SnapshotMembers(snap.Data)
	}
	return snap.Slot, h, found, carried, err
}

// sessionTable and resultTable encode as ordinary msgpack maps, but with their
// keys in ascending order: msgpack's SetSortMapKeys sorts only string-keyed
// maps, and a snapshot must be the same bytes on every replica. They decode
// with msgpack's default map decoding.
type (
	sessionTable map[uint64]*session
	resultTable  map[uint64]result
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (t sessionTable) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeSorted(enc, t) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (t resultTable) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeSorted(enc, t) }

func encodeSorted[V any](enc *msgpack.Encoder, m map[uint64]V) error {
	if m == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := enc.Encode(k); err != nil {
			return err
		}
		if err := enc.Encode(m[k]); err != nil {
			return err
		}
	}
	return nil
}

type pendingRead struct {
	r *msg.Read
}

// Core is the executor's state. It is not safe for concurrent use.
type Core struct {
	cfg        Config
	sm         StateMachine
	members    *membership.History // as of applied
	applied    uint64
	rev        uint64
	sessions   sessionTable
	sinceSnap  uint64
	sinceBytes uint64 // msg.Value.Size of the slots applied since the last snapshot
	snapBytes  uint64 // the size of the last snapshot saved or restored
	saving     bool   // a snapshot is being saved: the one of slot savingAt
	savingAt   uint64
	job        *role.SnapshotJob // a snapshot to save, with the next Ready
	fail       error             // the core cannot go on (a failed restore)
	reads      []pendingRead
	out        []msg.Out
	now        int
	resyncAt   int
	resyncFor  uint64
}

// New restores the executor from its latest snapshot in snaps; when there is
// none, its first Ready saves the state machine's initial state, so that a
// restart always has a state to return to. The first Ready also asks the
// learner to deliver what follows the snapshot.
func New(cfg Config, sm StateMachine, snaps storage.SnapshotStore) (*Core, error) {
	c := &Core{cfg: cfg, sm: sm, sessions: sessionTable{}, resyncAt: -1 << 30, members: cfg.Members}
	found, err := c.restoreLatest(snaps)
	if err != nil {
		return nil, err
	}
	if !found {
		c.snapshot()
	}
	c.resync()
	return c, nil
}

// restoreLatest restores the latest snapshot in snaps, if there is one:
// read from its file as it is restored when the store can (a large state
// is then never in memory twice), else loaded whole.
func (c *Core) restoreLatest(snaps storage.SnapshotStore) (bool, error) {
	if op, ok := snaps.(storage.SnapshotOpener); ok {
		slot, rev, size, data, found, err := op.OpenLatest()
		if err != nil || !found {
			if err != nil {
				err = fmt.Errorf("executor: load snapshot: %w", err)
			}
			return false, err
		}
		defer data.Close()
		return true, c.restore(slot, rev, size, bufio.NewReaderSize(data, 256<<10))
	}
	snap, found, err := snaps.Load()
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("executor: load snapshot: %w", err)
		}
		return false, err
	}
	return true, c.restore(snap.Slot, snap.Rev, int64(len(snap.Data)), bytes.NewReader(snap.Data))
}

// byteReader is what msgpack's decoder reads without a buffer of its own,
// so that the state it leaves unread can be handed to the state machine.
type byteReader interface {
	io.Reader
	io.ByteScanner
}

// restore replaces the whole state with the snapshot of size bytes read
// from r: the membership and the sessions are decoded, and the state
// machine reads its state straight from r.
func (c *Core) restore(slot, rev uint64, size int64, r byteReader) error {
	fail := func(err error) error { return fmt.Errorf("%w at slot %d: %v", ErrRestore, slot, err) }
	dec := msgpack.NewDecoder(r)
	n, err := dec.DecodeMapLen()
	if err != nil {
		return fail(fmt.Errorf("decode: %w", err))
	}
	members := c.cfg.Members
	var sessions sessionTable
	for range n {
		key, err := dec.DecodeString()
		if err != nil {
			return fail(fmt.Errorf("decode: %w", err))
		}
		switch key {
		case "g":
			var b []byte
			if b, err = dec.DecodeBytes(); err == nil && b != nil {
				members, err = membership.Decode(b)
			}
		case "s":
			err = dec.Decode(&sessions)
		case "m":
			var n int
			if n, err = dec.DecodeBytesLen(); err == nil {
				state := &io.LimitedReader{R: r, N: int64(max(n, 0))}
				if err = c.sm.Restore(state); err == nil && state.N > 0 {
					err = fmt.Errorf("the state machine left %d of its %d bytes unread", state.N, n)
				}
			}
		default:
			err = dec.Skip()
		}
		if err != nil {
			return fail(fmt.Errorf("field %q: %w", key, err))
		}
	}
	c.members = members
	c.sessions = sessions
	if c.sessions == nil {
		c.sessions = sessionTable{}
	}
	for _, s := range c.sessions {
		for seq := range s.Results {
			s.maxSeq = max(s.maxSeq, seq)
		}
	}
	c.applied, c.rev = slot, rev
	c.sinceSnap, c.sinceBytes, c.snapBytes = 0, 0, uint64(size)
	return nil
}

// Members is the membership as of the last applied slot.
func (c *Core) Members() *membership.History { return c.members }

// Applied is the highest slot applied.
func (c *Core) Applied() uint64 { return c.applied }

// Rev is the rev of the last applied command.
func (c *Core) Rev() uint64 { return c.rev }

// Tick advances the clock.
func (c *Core) Tick() { c.now++ }

// Step handles one message.
func (c *Core) Step(m any) {
	if c.fail != nil {
		return
	}
	switch m := m.(type) {
	case *msg.Deliver:
		c.deliver(m)
	case *msg.Install:
		if m.Slot > c.applied {
			// Slots up to it were dropped where we would fetch them: take the
			// peer's state whole. (The learner saved it before sending.)
			if err := c.restore(m.Slot, m.Rev, int64(len(m.Data)), bytes.NewReader(m.Data)); err != nil {
				c.fail = err // half restored: only a restart from storage is safe
				return
			}
			c.serveReads()
		}
	case *msg.Read:
		if m.Index <= c.applied {
			c.serveRead(m)
		} else {
			c.reads = append(c.reads, pendingRead{r: m})
		}
	case *msg.SnapshotSaved:
		c.saved(m)
	}
}

// Ready implements role.Core: a snapshot to save (captured on the apply path,
// encoded and saved off it) and the answers.
func (c *Core) Ready() role.Ready {
	rd := role.Ready{Fail: c.fail, Snapshot: c.job, Messages: c.flush()}
	c.job = nil
	return rd
}

// Advance implements role.Core.
func (c *Core) Advance() {}

func (c *Core) flush() []msg.Out {
	out := c.out
	c.out = nil
	return out
}

func (c *Core) reply(ref string, m any) {
	if ref != "" {
		c.out = append(c.out, msg.Out{To: msg.Target{Node: c.cfg.ID, Role: msg.RoleWaiter, Ref: ref}, Msg: m})
	}
}

// resyncTicks is how long the executor waits for the learner's answer before
// it asks again from the same point. A request to the local learner is lost
// only if the learner restarts; asked every tick instead, a learner reading
// an 8 MiB part from disk answered most requests twice.
const resyncTicks = 10

func (c *Core) resync() {
	if c.resyncFor == c.applied+1 && c.now-c.resyncAt < resyncTicks {
		return
	}
	c.resyncFor, c.resyncAt = c.applied+1, c.now
	c.out = append(c.out, msg.Out{To: msg.Target{Node: c.cfg.ID, Role: msg.RoleLearner}, Msg: &msg.Resync{From: c.applied + 1}})
}

func (c *Core) deliver(d *msg.Deliver) {
	for i, v := range d.Values {
		slot := d.First + uint64(i)
		if slot <= c.applied {
			continue
		}
		if slot > c.applied+1 {
			c.resync()
			break
		}
		c.apply(slot, v)
		c.sinceBytes += uint64(v.Size())
		if c.snapshotDue() && !c.saving {
			c.snapshot()
		}
	}
	if d.More && c.applied == d.First+uint64(len(d.Values))-1 {
		c.resync() // the learner held back the rest of its answer
	}
	c.serveReads()
}

func (c *Core) apply(slot uint64, v *msg.Value) {
	if len(v.Change) > 0 && c.members != nil {
		var out membership.Outcome
		c.members, out = c.members.Apply(slot, v.Change)
		if ch := out.Change; ch != nil && ch.Origin == c.cfg.ID {
			r := &msg.ChangeResult{Slot: slot, Num: out.Num, From: out.From, Done: out.Done, Base: ch.Base, Latest: c.members.Latest().Num}
			if out.Err != nil && !out.Done {
				r.Err = out.Err.Error()
			}
			c.reply(ch.Reply, r)
		}
	}
	for i := range v.Cmds {
		cmd := &v.Cmds[i]
		res := c.applyOne(slot, cmd)
		if cmd.Origin == c.cfg.ID && cmd.Reply != "" {
			// Only this copy escapes (the reply keeps it): taking res's
			// address put every applied command's result on the heap, on
			// every replica, 14% of all allocations at 64 clients.
			r := res
			c.reply(cmd.Reply, &r)
		}
	}
	c.applied = slot
}

// snapshotDue says whether enough has been applied since the last snapshot,
// by count or by bytes, to take another.
func (c *Core) snapshotDue() bool {
	if c.cfg.SnapshotEvery > 0 && c.sinceSnap >= c.cfg.SnapshotEvery {
		return true
	}
	return c.cfg.SnapshotBytes > 0 && c.sinceBytes >= max(c.cfg.SnapshotBytes, c.snapBytes)
}

// applyOne returns the result by value: only the replica the command came
// from sends it, so the others allocate nothing for it.
func (c *Core) applyOne(slot uint64, cmd *msg.Command) msg.Result {
	if cmd.Client == 0 {
		c.rev++
		c.sinceSnap++
		return msg.Result{Slot: slot, Rev: c.rev, Data: c.sm.Apply(c.rev, cmd.Data)}
	}
	s := c.sessions[cmd.Client]
	if s == nil && cmd.Acked > 0 {
		// The client had answers before: its session existed and was evicted.
		return msg.Result{Slot: slot, Code: msg.ErrSessionExpired}
	}
	if s == nil {
		c.evictSession()
		s = &session{Results: resultTable{}}
		c.sessions[cmd.Client] = s
	}
	if cmd.Seq <= s.Acked {
		return msg.Result{Slot: slot, Code: msg.ErrStaleRequest}
	}
	if cmd.Seq <= s.maxSeq {
		if r, ok := s.Results[cmd.Seq]; ok {
			return msg.Result{Slot: r.Slot, Rev: r.Rev, Data: r.Data}
		}
	}
	c.rev++
	c.sinceSnap++
	data := c.sm.Apply(c.rev, cmd.Data)
	s.Results[cmd.Seq] = result{Slot: slot, Rev: c.rev, Data: data}
	s.maxSeq = max(s.maxSeq, cmd.Seq)
	s.LastRev = c.rev
	if cmd.Acked > s.Acked {
		// Forget the answers the client now has. Usually Acked moves by a
		// few seqs, so deleting them by key beats scanning the table.
		if cmd.Acked-s.Acked <= uint64(len(s.Results)) {
			for seq := s.Acked + 1; seq <= cmd.Acked; seq++ {
				delete(s.Results, seq)
			}
		} else {
			for seq := range s.Results {
				if seq <= cmd.Acked {
					delete(s.Results, seq)
				}
			}
		}
		s.Acked = cmd.Acked
	}
	return msg.Result{Slot: slot, Rev: c.rev, Data: data}
}

func (c *Core) evictSession() {
	if c.cfg.MaxSessions <= 0 || len(c.sessions) < c.cfg.MaxSessions {
		return
	}
	var oldest uint64
	var oldestRev uint64 = 1<<64 - 1
	for id, s := range c.sessions {
		if s.LastRev < oldestRev || (s.LastRev == oldestRev && id < oldest) {
			oldest, oldestRev = id, s.LastRev
		}
	}
	delete(c.sessions, oldest)
}

func (c *Core) serveReads() {
	if len(c.reads) == 0 {
		return
	}
	keep := c.reads[:0]
	for _, p := range c.reads {
		if p.r.Index <= c.applied {
			c.serveRead(p.r)
		} else {
			keep = append(keep, p)
		}
	}
	c.reads = keep
}

func (c *Core) serveRead(r *msg.Read) {
	rd, ok := c.sm.(Reader)
	if !ok {
		c.reply(r.Reply, &msg.ReadResult{Applied: c.applied, Code: msg.ErrNoReader})
		return
	}
	data, err := rd.Read(r.Query)
	res := &msg.ReadResult{Data: data, Applied: c.applied}
	if err != nil {
		res.Code, res.Detail = msg.ErrReadFailed, err.Error()
	}
	c.reply(r.Reply, res)
}

// Snapshot encodes the executor's whole state now: the state machine and the
// session table. Equal bytes at equal applied points mean equal replicas.
func (c *Core) Snapshot() ([]byte, error) { return c.capture().encode() }

// capture takes what a snapshot of the current state needs and returns it
// ready to encode, which may happen on another goroutine while the executor
// goes on.
func (c *Core) capture() *captured {
	cp := &captured{hint: int(c.snapBytes + c.snapBytes/16)}
	if c.members != nil {
		cp.members = c.members.Encode()
	}
	var sessions bytes.Buffer
	enc := msgpack.NewEncoder(&sessions)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(c.sessions); err != nil {
		cp.err = fmt.Errorf("executor: encode the session table: %w", err)
	}
	cp.sessions = sessions.Bytes()
	if sm, ok := c.sm.(Capturer); ok {
		cp.write = sm.Capture()
	} else {
		var state bytes.Buffer
		err := c.sm.Snapshot(&state)
		cp.write = func(w io.Writer) error {
			if err != nil {
				return err
			}
			_, err := w.Write(state.Bytes())
			return err
		}
	}
	return cp
}

// captured is a snapshot taken and not yet encoded.
type captured struct {
	members, sessions []byte
	write             func(io.Writer) error
	hint              int
	err               error
}

// encode returns the snapshot's bytes.
func (cp *captured) encode() ([]byte, error) {
	if cp.err != nil {
		return nil, cp.err
	}
	b, err := encodeSnapshot(cp.members, cp.sessions, cp.write, cp.hint)
	if err != nil {
		return nil, fmt.Errorf("executor: snapshot state machine: %w", err)
	}
	return b, nil
}

// stream returns the snapshot's size and a function that writes it: the
// same bytes as encode, never all in memory. The state machine writes its
// state twice, first only to count it (the format gives its length first).
func (cp *captured) stream() (int, func(io.Writer) error, error) {
	if cp.err != nil {
		return 0, nil, cp.err
	}
	var count countWriter
	if err := cp.write(&count); err != nil {
		return 0, nil, fmt.Errorf("executor: snapshot state machine: %w", err)
	}
	n := count.count
	head, err := snapshotHead(cp.members, cp.sessions, int(n))
	if err != nil {
		return 0, nil, err
	}
	write := func(w io.Writer) error {
		if _, err := w.Write(head); err != nil {
			return err
		}
		cw := &countWriter{w: w}
		if err := cp.write(cw); err != nil {
			return fmt.Errorf("executor: snapshot state machine: %w", err)
		}
		if cw.count != n {
			return fmt.Errorf("executor: the state machine wrote a snapshot of %d bytes, then of %d: Capture must write the same bytes each time", n, cw.count)
		}
		return nil
	}
	return len(head) + int(n), write, nil
}

// countWriter counts what goes through it to w (nil: nowhere).
type countWriter struct {
	w     io.Writer
	count int64
}

// Write implements io.Writer.
func (c *countWriter) Write(p []byte) (int, error) {
	c.count += int64(len(p))
	if c.w == nil {
		return len(p), nil
	}
	return c.w.Write(p)
}

// snapshotHead is what precedes a state of n bytes in a snapshot.
func snapshotHead(members, sessions []byte, n int) ([]byte, error) {
	var buf bytes.Buffer
	writeSnapshotFields(&buf, members, sessions)
	hdr, err := binHeader(n)
	if err != nil {
		return nil, err
	}
	buf.Write(hdr)
	return buf.Bytes(), nil
}

// writeSnapshotFields writes a snapshot up to the state's bin header: the
// map's length, the membership, the sessions and the state's key.
func writeSnapshotFields(buf *bytes.Buffer, members, sessions []byte) {
	enc := msgpack.NewEncoder(buf)
	fields := 2
	if len(members) > 0 {
		fields = 3
	}
	_ = enc.EncodeMapLen(fields) // a bytes.Buffer's writes do not fail
	if len(members) > 0 {
		_ = enc.EncodeString("g")
		_ = enc.EncodeBytes(members)
	}
	_ = enc.EncodeString("s")
	buf.Write(sessions)
	_ = enc.EncodeString("m")
}

// binHeader is msgpack's header of a byte string of n bytes, as msgpack
// writes it (the shortest; nil for none).
func binHeader(n int) ([]byte, error) {
	switch {
	case n == 0:
		return []byte{0xc0}, nil // an empty state encodes as nil
	case n <= 0xff:
		return []byte{0xc4, byte(n)}, nil
	case n <= 0xffff:
		return []byte{0xc5, byte(n >> 8), byte(n)}, nil
	case uint64(n) > 0xffffffff:
		return nil, fmt.Errorf("state of %d bytes: a snapshot holds at most 4 GiB", n)
	default:
		return []byte{0xc6, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, nil
	}
}

// encodeSnapshot writes the bytes msgpack.Marshal gives for snapshotOut (the
// format snapshots always had) into one buffer of about hint bytes: the
// state machine writes straight after a header whose length is filled in
// afterwards. Encoding the state apart and copying it into the snapshot
// took three times the snapshot's size in memory, at every snapshot.
func encodeSnapshot(members, sessions []byte, write func(io.Writer) error, hint int) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, max(hint, 64+len(members)+len(sessions))))
	writeSnapshotFields(buf, members, sessions)
	at := buf.Len()
	const room = 5 // the longest bin header: bin32
	buf.Write(make([]byte, room))
	if err := write(buf); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	hdr, err := binHeader(len(b) - at - room)
	if err != nil {
		return nil, err
	}
	if len(hdr) < room {
		copy(b[at+len(hdr):], b[at+room:])
		b = b[:len(b)-(room-len(hdr))]
	}
	copy(b[at:], hdr)
	return b, nil
}

// snapshot asks for a snapshot of the current state to be saved.
func (c *Core) snapshot() {
	cp := c.capture()
	c.job = &role.SnapshotJob{Slot: c.applied, Rev: c.rev, Encode: cp.encode, Stream: cp.stream}
	c.saving, c.savingAt = true, c.applied
	c.sinceSnap, c.sinceBytes = 0, 0
}

// saved hears how the save of our snapshot went. A snapshot only shortens a
// restart: after a failure (the Env logged it) the executor keeps applying,
// and tries again after another SnapshotEvery commands.
func (c *Core) saved(m *msg.SnapshotSaved) {
	if !c.saving || m.Slot != c.savingAt {
		return // another incarnation's save
	}
	c.saving = false
	if m.Err == nil {
		c.snapBytes = uint64(m.Size)
	}
	if m.Err == nil && m.Slot > 0 {
		// The learner may now let the logs go below it.
		c.out = append(c.out, msg.Out{To: msg.Target{Node: c.cfg.ID, Role: msg.RoleLearner}, Msg: &msg.Snapshotted{Slot: m.Slot}})
	}
}
