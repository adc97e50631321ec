package membership

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/actors/quorum"
	"github.com/rsml-go/rsml/msg"
)

// Roles is the set of Paxos roles a member runs.
type Roles uint8

// The roles a configuration gives a member. A learner also runs the
// executor: it applies what it learns.
const (
	Proposer Roles = 1 << iota
	Acceptor
	Learner
	// All is what a replica runs unless its configuration says otherwise.
	All = Proposer | Acceptor | Learner
)

var roleNames = [...]struct {
	r    Roles
	name string
}{{Proposer, "proposer"}, {Acceptor, "acceptor"}, {Learner, "learner"}}

// Has reports whether every role of o is in r.
func (r Roles) Has(o Roles) bool { return r&o == o }

// Names returns the roles' names in the HTTP API's order.
func (r Roles) Names() []string {
	out := []string{}
	for _, n := range roleNames {
		if r.Has(n.r) {
			out = append(out, n.name)
		}
	}
	return out
}

// String renders the roles as a comma-separated list of names.
func (r Roles) String() string { return strings.Join(r.Names(), ",") }

// ParseRoles reads role names ("proposer", "acceptor", "learner"), each at
// most once.
func ParseRoles(names []string) (Roles, error) {
	var r Roles
	for _, s := range names {
		i := slices.IndexFunc(roleNames[:], func(n struct {
			r    Roles
			name string
		}) bool {
			return n.name == s
		})
		if i < 0 {
			return 0, fmt.Errorf("unknown role %q: want proposer, acceptor or learner", s)
		}
		if r.Has(roleNames[i].r) {
			return 0, fmt.Errorf("role %q given twice", s)
		}
		r |= roleNames[i].r
	}
	if r == 0 {
		return 0, errors.New("no role given")
	}
	return r, nil
}

// Member is one replica of a configuration.
type Member struct {
	ID msg.NodeID `msgpack:"i"`
	// Addr is the consensus (remoting) address, HOST:PORT.
	Addr string `msgpack:"a"`
	// HTTP is the client URL, if the member serves one.
	HTTP  string `msgpack:"h,omitempty"`
	Roles Roles  `msgpack:"r"`
}

// Config is one configuration of the cluster. Num counts configurations:
// 1 is the one the cluster was created with, and each valid change adds one.
type Config struct {
	Num     uint64   `msgpack:"n"`
	Members []Member `msgpack:"m"` // sorted by ID

	acceptors quorum.Majority
}

// Member returns the member id, if it is one.
func (c *Config) Member(id msg.NodeID) (Member, bool) {
	i, ok := slices.BinarySearchFunc(c.Members, id, func(m Member, id msg.NodeID) int {
		return int(int64(m.ID) - int64(id))
	})
	if !ok {
		return Member{}, false
	}
	return c.Members[i], true
}

// Runs reports whether id is a member with every role of r.
func (c *Config) Runs(id msg.NodeID, r Roles) bool {
	m, ok := c.Member(id)
	return ok && m.Roles.Has(r)
}

// With returns the ids of the members that run every role of r, in id order.
func (c *Config) With(r Roles) []msg.NodeID {
	var ids []msg.NodeID
	for _, m := range c.Members {
		if m.Roles.Has(r) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// IDs returns every member's id, in order.
func (c *Config) IDs() []msg.NodeID {
	ids := make([]msg.NodeID, len(c.Members))
	for i, m := range c.Members {
		ids[i] = m.ID
	}
	return ids
}

// Quorum is the majority quorum of the configuration's acceptors: every
// phase 1 and phase 2 quorum for a slot this configuration governs.
func (c *Config) Quorum() quorum.Majority { return c.acceptors }

func (c *Config) seal() *Config {
	c.acceptors = quorum.New(c.With(Acceptor))
	return c
}

// ErrInvalid wraps what is wrong with a configuration (Validate).
var ErrInvalid = errors.New("invalid configuration")

// Validate checks what every configuration must satisfy: members sorted by
// distinct nonzero ids with distinct addresses, each with a role; at least
// one acceptor and at most quorum.MaxVoters; at least one proposer, and
// every proposer also a learner (a leader's learner counts its votes).
func Validate(c *Config) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	addrs := make(map[string]msg.NodeID, len(c.Members))
	for i, m := range c.Members {
		switch {
		case m.ID == 0:
			return bad("member id 0")
		case i > 0 && c.Members[i-1].ID >= m.ID:
			return bad("members not in increasing id order at %v", m.ID)
		case m.Roles == 0 || m.Roles&^All != 0:
			return bad("member %v: roles %#x", m.ID, uint8(m.Roles))
		case m.Roles.Has(Proposer) && !m.Roles.Has(Learner):
			return bad("member %v: a proposer must also be a learner", m.ID)
		case m.Addr == "":
			return bad("member %v: no address", m.ID)
		}
		if o, ok := addrs[m.Addr]; ok {
			return bad("members %v and %v share the address %s", o, m.ID, m.Addr)
		}
		addrs[m.Addr] = m.ID
	}
	switch n := len(c.With(Acceptor)); {
	case n == 0:
		return bad("no acceptor")
	case n > quorum.MaxVoters:
		return bad("%d acceptors, at most %d", n, quorum.MaxVoters)
	}
	if len(c.With(Proposer)) == 0 {
		return bad("no proposer")
	}
	return nil
}

// Op is what a change does.
type Op uint8

// The changes. One member per change: a join is an Add as a learner and,
// once it has caught up, a SetRoles that makes it an acceptor.
const (
	Add Op = iota + 1
	Remove
	SetRoles
)

func (o Op) String() string {
	switch o {
	case Add:
		return "add"
	case Remove:
		return "remove"
	case SetRoles:
		return "set-roles"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Change is a membership change, the value of a slot of its own
// (msg.Value.Change holds its encoding).
type Change struct {
	// Base is the Num of the configuration the change was made against:
	// Apply refuses it if another change came first.
	Base   uint64 `msgpack:"b"`
	Op     Op     `msgpack:"o"`
	Member Member `msgpack:"m"` // Remove reads only the id
	// Origin and Reply name the waiter, as in msg.Command.
	Origin msg.NodeID `msgpack:"w,omitempty"`
	Reply  string     `msgpack:"y,omitempty"`
}

// Encode returns the change as a slot value carries it.
func (ch *Change) Encode() []byte {
	b, err := msgpack.Marshal(ch)
	if err != nil {
		panic(fmt.Sprintf("membership: encode a change: %v", err)) // plain data: cannot fail
	}
	return b
}

// DecodeChange reads a change a slot value carries.
func DecodeChange(b []byte) (*Change, error) {
	var ch Change
	if err := msgpack.Unmarshal(b, &ch); err != nil {
		return nil, fmt.Errorf("membership: decode a change: %w", err)
	}
	return &ch, nil
}

// Epoch is a configuration and the first slot it governs.
type Epoch struct {
	From   uint64  `msgpack:"f"`
	Config *Config `msgpack:"c"`
}

// History is what a replica knows of the configurations: the one in force
// at the slot after the last applied one, and the one pending, if any. It is
// immutable: Apply returns a new History when something changes, so the
// learner can hand it to the proposer and the executor without a copy.
type History struct {
	// Alpha is how many slots after the slot where it is chosen a change
	// takes effect.
	Alpha uint64 `msgpack:"a"`
	// Epochs, by increasing From; the first governs every slot the
	// replica has not applied yet, the others are pending.
	Epochs []Epoch `msgpack:"e"`
	// Retired are the ids ever removed. They are never reused: a replica
	// under a used id with an empty disk would have forgotten its
	// promises, and could reuse its ballots.
	Retired []msg.NodeID `msgpack:"t,omitempty"`
}

// DefaultAlpha is α for a new cluster: at least the proposer's window, so
// that the gate never holds back a leader that is keeping up.
const DefaultAlpha = 64

// Bootstrap returns the history of a new cluster: config 1 of members, in
// force from slot 1.
func Bootstrap(alpha uint64, members []Member) (*History, error) {
	if alpha == 0 {
		return nil, fmt.Errorf("%w: alpha 0", ErrInvalid)
	}
	c := &Config{Num: 1, Members: slices.Clone(members)}
	slices.SortFunc(c.Members, func(a, b Member) int { return int(int64(a.ID) - int64(b.ID)) })
	if err := Validate(c); err != nil {
		return nil, err
	}
	return &History{Alpha: alpha, Epochs: []Epoch{{From: 1, Config: c.seal()}}}, nil
}

// For returns the configuration that governs slot s. It is only known for
// s ≤ applied+Alpha, where applied is the last slot whose value went through
// Apply; callers keep to that (the proposer's gate). Slots before the
// earliest kept epoch get it.
func (h *History) For(s uint64) *Config {
	c := h.Epochs[0].Config
	for _, e := range h.Epochs[1:] {
		if e.From > s {
			break
		}
		c = e.Config
	}
	return c
}

// Latest returns the newest configuration, in force or pending.
func (h *History) Latest() *Config { return h.Epochs[len(h.Epochs)-1].Config }

// LatestFrom is the first slot the latest configuration governs.
func (h *History) LatestFrom() uint64 { return h.Epochs[len(h.Epochs)-1].From }

// Span returns the distinct configurations that govern slots lo to hi, in
// slot order.
func (h *History) Span(lo, hi uint64) []*Config {
	out := []*Config{h.For(lo)}
	for _, e := range h.Epochs[1:] {
		if lo < e.From && e.From <= hi {
			out = append(out, e.Config)
		}
	}
	return out
}

// IsRetired reports whether id was ever removed.
func (h *History) IsRetired(id msg.NodeID) bool { return slices.Contains(h.Retired, id) }

// ErrConflict wraps why a change was refused where it was chosen: the
// cluster is as it was, and the change took its slot.
var ErrConflict = errors.New("membership change refused")

// Outcome is what applying a change did.
type Outcome struct {
	// Change is the change applied (nil for a value that carries none).
	Change *Change
	// Num is the configuration the change made (or, when Done, the one
	// that already had its effect); 0 if refused.
	Num uint64
	// From is the first slot Num governs.
	From uint64
	// Done: the change was refused only because the latest configuration
	// already does what it asks, as after a retry of a change that was
	// chosen. Its caller gets success.
	Done bool
	// Err is why the change was refused (wraps ErrConflict).
	Err error
}

// Apply applies the change chosen at slot (the encoding a msg.Value's
// Change carries). slot must follow every slot already applied. It returns
// the new history (h itself when nothing changed) and what happened. A
// change that cannot be decoded is refused like any invalid one: every
// replica decodes the same bytes the same way.
func (h *History) Apply(slot uint64, change []byte) (*History, Outcome) {
	ch, err := DecodeChange(change)
	if err != nil {
		return h, Outcome{Err: fmt.Errorf("%w: %v", ErrConflict, err)}
	}
	out := Outcome{Change: ch}
	latest := h.Latest()
	refuse := func(format string, a ...any) (*History, Outcome) {
		out.Err = fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, a...))
		return h, out
	}
	next := &Config{Num: latest.Num + 1, Members: slices.Clone(latest.Members)}
	id := ch.Member.ID
	cur, member := latest.Member(id)
	switch ch.Op {
	case Add:
		m := ch.Member
		switch {
		case member && cur == m:
			out.Done = true
		case member:
			return refuse("id %v is a member", id)
		case h.IsRetired(id):
			return refuse("id %v was removed and cannot be reused", id)
		}
		next.Members = append(next.Members, m)
		slices.SortFunc(next.Members, func(a, b Member) int { return int(int64(a.ID) - int64(b.ID)) })
	case Remove:
		if !member {
			if h.IsRetired(id) {
				out.Done = true
			} else {
				return refuse("id %v is not a member", id)
			}
		}
		next.Members = slices.DeleteFunc(next.Members, func(m Member) bool { return m.ID == id })
	case SetRoles:
		if !member {
			return refuse("id %v is not a member", id)
		}
		if cur.Roles == ch.Member.Roles {
			out.Done = true
		}
		for i := range next.Members {
			if next.Members[i].ID == id {
				next.Members[i].Roles = ch.Member.Roles
			}
		}
	default:
		return refuse("unknown operation %d", ch.Op)
	}
	if out.Done {
		out.Num, out.From = latest.Num, h.LatestFrom()
		out.Err = fmt.Errorf("%w: config %d already does it", ErrConflict, latest.Num)
		return h, out
	}
	if h.LatestFrom() > slot {
		return refuse("config %d is not in force yet (from slot %d)", latest.Num, h.LatestFrom())
	}
	if ch.Base != latest.Num {
		return refuse("made against config %d, the latest is %d", ch.Base, latest.Num)
	}
	if err := Validate(next); err != nil {
		return refuse("%v", err)
	}
	from := slot + h.Alpha
	nh := &History{Alpha: h.Alpha, Retired: h.Retired}
	// Keep the epoch that governs slot+1 and those after it.
	for i, e := range h.Epochs {
		if i+1 < len(h.Epochs) && h.Epochs[i+1].From <= slot+1 {
			continue
		}
		nh.Epochs = append(nh.Epochs, e)
	}
	nh.Epochs = append(nh.Epochs, Epoch{From: from, Config: next.seal()})
	if ch.Op == Remove {
		nh.Retired = append(slices.Clone(h.Retired), id)
	}
	out.Num, out.From = next.Num, from
	return nh, out
}

// Encode returns the history as snapshots carry it.
func (h *History) Encode() []byte {
	b, err := msgpack.Marshal(h)
	if err != nil {
		panic(fmt.Sprintf("membership: encode: %v", err)) // plain data: cannot fail
	}
	return b
}

// Decode reads a history Encode wrote, and checks it: a damaged one is an
// error, never a cluster with the wrong members.
func Decode(b []byte) (*History, error) {
	var h History
	if err := msgpack.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("membership: decode: %w", err)
	}
	if h.Alpha == 0 || len(h.Epochs) == 0 {
		return nil, fmt.Errorf("membership: decode: %w: alpha %d, %d epochs", ErrInvalid, h.Alpha, len(h.Epochs))
	}
	for i, e := range h.Epochs {
		if e.Config == nil {
			return nil, fmt.Errorf("membership: decode: %w: epoch %d has no config", ErrInvalid, i)
		}
		if i > 0 && (e.From <= h.Epochs[i-1].From || e.Config.Num <= h.Epochs[i-1].Config.Num) {
			return nil, fmt.Errorf("membership: decode: %w: epochs out of order at %d", ErrInvalid, i)
		}
		if err := Validate(e.Config); err != nil {
			return nil, fmt.Errorf("membership: decode: config %d: %w", e.Config.Num, err)
		}
		e.Config.seal()
	}
	return &h, nil
}
