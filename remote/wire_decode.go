package remote

import (
	"bytes"
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/rsml-go/rsml/msg"
)

// A hand-written decoder for the canonical encoding of the wire types, the
// bytes the encoder in wire_encode.go writes: maps keyed by the msgpack tags,
// unsigned integers in any width, nil for nil pointers and slices. It is
// about ten times faster than msgpack's reflective decoder, which stays the
// reference: on anything else (another form of a value, an unknown or
// repeated key, a number out of range) fastDecode gives up and Decode runs
// msgpack, so both accept the same inputs with the same result (FuzzDecode
// checks it). Its input has passed checkMsgpack, so every length fits in the
// bytes that follow it and reads cannot run past the end; it checks anyway.
//
// The strings and byte strings of the message it returns share b's memory
// (one allocation per message instead of two per command): the caller hands
// b over and must not modify it. Byte strings are capped at their length, so
// an append to one cannot write into its neighbour.

// fastDecode decodes b as wire type i into a new message, or reports false.
func fastDecode(i int, b []byte) (any, bool) {
	m, d := wireTypes[i].dec(fastDec{b: b})
	if d.failed || d.i != len(d.b) {
		return nil, false
	}
	return m, true
}

func decPrepare(d fastDec, v *msg.Prepare) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "s":
			return d.uint64(&v.FromSlot)
		case "p":
			return d.bool(&v.Probe)
		case "x":
			return d.ballot(&v.Handover)
		}
		return false
	})
	return d
}

func decTransferLeader(d fastDec, v *msg.TransferLeader) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "t":
			return d.nodeID(&v.Target)
		case "o":
			return d.nodeID(&v.Origin)
		case "r":
			return d.str(&v.Reply)
		}
		return false
	})
	return d
}

func decTransferStarted(d fastDec, v *msg.TransferStarted) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "t":
			return d.nodeID(&v.Target)
		case "b":
			return d.ballot(&v.Ballot)
		}
		return false
	})
	return d
}

func decProgress(d fastDec, v *msg.Progress) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "d":
			return d.uint64(&v.Delivered)
		case "c":
			return d.uint64(&v.Commit)
		case "x":
			return d.bool(&v.Witness)
		case "s":
			return d.uint64(&v.Snapshot)
		}
		return false
	})
	return d
}

func decTimeoutNow(d fastDec, v *msg.TimeoutNow) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "c":
			return d.uint64(&v.Commit)
		}
		return false
	})
	return d
}

func decPromise(d fastDec, v *msg.Promise) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "e":
			return d.entries(&v.Entries)
		case "p":
			return d.bool(&v.Probe)
		case "t":
			return d.uint64(&v.Truncated)
		}
		return false
	})
	return d
}

func decNack(d fastDec, v *msg.Nack) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "p":
			return d.ballot(&v.Promised)
		case "l":
			return d.bool(&v.LeaderAlive)
		}
		return false
	})
	return d
}

func decAccept(d fastDec, v *msg.Accept) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "p":
			return d.proposals(&v.Proposals)
		case "k":
			return d.run(&v.Chosen)
		}
		return false
	})
	return d
}

func decAccepted(d fastDec, v *msg.Accepted) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "s":
			return d.slots(&v.Slots)
		}
		return false
	})
	return d
}

func decHeartbeat(d fastDec, v *msg.Heartbeat) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "q":
			return d.uint64(&v.Seq)
		case "c":
			return d.uint64(&v.Commit)
		case "k":
			return d.run(&v.Chosen)
		}
		return false
	})
	return d
}

func decHeartbeatAck(d fastDec, v *msg.HeartbeatAck) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "q":
			return d.uint64(&v.Seq)
		case "p":
			return d.ballot(&v.Promised)
		case "t":
			return d.uint64(&v.Truncated)
		case "x":
			return d.bool(&v.Witness)
		}
		return false
	})
	return d
}

func decCatchupRequest(d fastDec, v *msg.CatchupRequest) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "a":
			return d.uint64(&v.First)
		case "z":
			return d.uint64(&v.Last)
		}
		return false
	})
	return d
}

func decCatchupReply(d fastDec, v *msg.CatchupReply) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "c":
			return d.proposals(&v.Chosen)
		case "t":
			return d.uint64(&v.Through)
		case "s":
			return d.uint64(&v.Snapshot)
		}
		return false
	})
	return d
}

func decClientRequest(d fastDec, v *msg.ClientRequest) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "c":
			return d.command(&v.Cmd)
		case "h":
			return d.uint8(&v.Hops)
		case "a":
			return d.uint32(&v.Attempt)
		}
		return false
	})
	return d
}

func decReadRequest(d fastDec, v *msg.ReadRequest) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "o":
			return d.nodeID(&v.Origin)
		case "w":
			return d.str(&v.Reply)
		case "h":
			return d.uint8(&v.Hops)
		}
		return false
	})
	return d
}

func decReadIndex(d fastDec, v *msg.ReadIndex) fastDec {
	d.fields(func(key []byte) bool {
		if string(key) == "i" {
			return d.uint64(&v.Index)
		}
		return false
	})
	return d
}

func decReject(d fastDec, v *msg.Reject) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "r":
			var r uint8
			ok := d.uint8(&r)
			v.Reason = msg.RejectReason(r)
			return ok
		case "l":
			return d.nodeID(&v.Leader)
		case "a":
			return d.uint32(&v.Attempt)
		}
		return false
	})
	return d
}

func decResult(d fastDec, v *msg.Result) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "Slot":
			return d.uint64(&v.Slot)
		case "Rev":
			return d.uint64(&v.Rev)
		case "Data":
			return d.bin(&v.Data)
		case "Code":
			return d.code(&v.Code)
		}
		return false
	})
	return d
}

func decReadResult(d fastDec, v *msg.ReadResult) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "Data":
			return d.bin(&v.Data)
		case "Applied":
			return d.uint64(&v.Applied)
		case "Code":
			return d.code(&v.Code)
		case "Detail":
			return d.str(&v.Detail)
		}
		return false
	})
	return d
}

func decSnapshotRequest(d fastDec, v *msg.SnapshotRequest) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "s":
			return d.uint64(&v.Slot)
		case "o":
			return d.uint64(&v.Offset)
		}
		return false
	})
	return d
}

func decSnapshotChunk(d fastDec, v *msg.SnapshotChunk) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "s":
			return d.uint64(&v.Slot)
		case "r":
			return d.uint64(&v.Rev)
		case "n":
			return d.uint64(&v.Size)
		case "c":
			var crc uint64
			if !d.uint64(&crc) || crc > 1<<32-1 {
				return d.fail()
			}
			v.CRC = uint32(crc)
			return true
		case "o":
			return d.uint64(&v.Offset)
		case "d":
			return d.bin(&v.Data)
		}
		return false
	})
	return d
}

func decChosenRun(d fastDec, v *msg.ChosenRun) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "f":
			return d.nodeID(&v.From)
		case "b":
			return d.ballot(&v.Ballot)
		case "r":
			return d.run(&v.Run)
		}
		return false
	})
	return d
}

// fastDec reads b from i; failed is set at the first surprise and stays set.
type fastDec struct {
	b      []byte
	i      int
	failed bool
}

func (d *fastDec) fail() bool {
	d.failed = true
	return false
}

// fields reads a fixmap (at most 15 entries) with distinct fixstr keys (every
// struct of ours), calling field for each key with the
// reader at its value. field reports false for an unknown key or a bad value.
func (d *fastDec) fields(field func(key []byte) bool) bool {
	if d.failed || d.i >= len(d.b) {
		return d.fail()
	}
	c := d.b[d.i]
	if c < 0x80 || c > 0x8f { // fixmap only
		return d.fail()
	}
	d.i++
	n := int(c & 0x0f)
	var seen [16][]byte
	for j := range n {
		k, ok := d.key()
		if !ok {
			return false
		}
		for _, s := range seen[:j] {
			if bytes.Equal(s, k) {
				return d.fail() // a repeated key: leave it to msgpack
			}
		}
		seen[j] = k
		if !field(k) || d.failed {
			return d.fail()
		}
	}
	return true
}

// key reads a fixstr map key, as a slice of b (keys are only compared).
func (d *fastDec) key() ([]byte, bool) {
	if d.i >= len(d.b) {
		return nil, d.fail()
	}
	c := d.b[d.i]
	if c < 0xa0 || c > 0xaf { // fixstr of at most 15 bytes
		return nil, d.fail()
	}
	n := int(c & 0x1f)
	if d.i+1+n > len(d.b) {
		return nil, d.fail()
	}
	k := d.b[d.i+1 : d.i+1+n]
	d.i += 1 + n
	return k, true
}

// uint reads a non-negative integer in any msgpack width.
func (d *fastDec) uint() (uint64, bool) {
	if d.i >= len(d.b) {
		return 0, d.fail()
	}
	c := d.b[d.i]
	var size int
	switch {
	case c <= 0x7f:
		d.i++
		return uint64(c), true
	case c == 0xcc:
		size = 1
	case c == 0xcd:
		size = 2
	case c == 0xce:
		size = 4
	case c == 0xcf:
		size = 8
	default:
		return 0, d.fail()
	}
	if d.i+1+size > len(d.b) {
		return 0, d.fail()
	}
	p := d.b[d.i+1:]
	d.i += 1 + size
	switch size {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), true
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), true
	}
	return binary.BigEndian.Uint64(p), true
}

func (d *fastDec) uint64(v *uint64) bool {
	n, ok := d.uint()
	*v = n
	return ok
}

func (d *fastDec) nodeID(v *msg.NodeID) bool {
	n, ok := d.uint()
	if !ok || n > math.MaxUint32 {
		return d.fail()
	}
	*v = msg.NodeID(n)
	return true
}

func (d *fastDec) uint32(v *uint32) bool {
	n, ok := d.uint()
	if !ok || n > 1<<32-1 {
		return d.fail()
	}
	*v = uint32(n)
	return true
}

func (d *fastDec) uint8(v *uint8) bool {
	n, ok := d.uint()
	if !ok || n > math.MaxUint8 {
		return d.fail()
	}
	*v = uint8(n)
	return true
}

func (d *fastDec) code(v *msg.ErrCode) bool {
	var c uint8
	ok := d.uint8(&c)
	*v = msg.ErrCode(c)
	return ok
}

func (d *fastDec) bool(v *bool) bool {
	if d.i >= len(d.b) {
		return d.fail()
	}
	switch d.b[d.i] {
	case 0xc2:
		*v = false
	case 0xc3:
		*v = true
	default:
		return d.fail()
	}
	d.i++
	return true
}

// length reads the length of a str (bin false) or bin (bin true) header.
func (d *fastDec) length(bin bool) (int, bool) {
	if d.i >= len(d.b) {
		return 0, d.fail()
	}
	c := d.b[d.i]
	var size int
	switch {
	case !bin && c >= 0xa0 && c <= 0xbf:
		n := int(c & 0x1f)
		if n > len(d.b)-d.i-1 {
			return 0, d.fail()
		}
		d.i++
		return n, true
	case (!bin && c == 0xd9) || (bin && c == 0xc4):
		size = 1
	case (!bin && c == 0xda) || (bin && c == 0xc5):
		size = 2
	case (!bin && c == 0xdb) || (bin && c == 0xc6):
		size = 4
	default:
		return 0, d.fail()
	}
	n, ok := readLen(d.b[d.i+1:], size)
	if !ok || n > uint64(len(d.b)-d.i-1-size) {
		return 0, d.fail()
	}
	d.i += 1 + size
	return int(n), true
}

func (d *fastDec) str(v *string) bool {
	n, ok := d.length(false)
	if !ok {
		return false
	}
	if n > 0 {
		*v = unsafe.String(&d.b[d.i], n)
	} else {
		*v = ""
	}
	d.i += n
	return true
}

// bin reads bytes: nil stays nil, empty is empty (as msgpack's decoder).
func (d *fastDec) bin(v *[]byte) bool {
	if d.i < len(d.b) && d.b[d.i] == 0xc0 {
		d.i++
		*v = nil
		return true
	}
	n, ok := d.length(true)
	if !ok {
		return false
	}
	*v = d.b[d.i : d.i+n : d.i+n]
	if *v == nil {
		*v = []byte{}
	}
	d.i += n
	return true
}

// array reads an array header: nil (isNil), or n elements.
func (d *fastDec) array() (n int, isNil, ok bool) {
	if d.i >= len(d.b) {
		return 0, false, d.fail()
	}
	c := d.b[d.i]
	var size int
	switch {
	case c == 0xc0:
		d.i++
		return 0, true, true
	case c >= 0x90 && c <= 0x9f:
		d.i++
		return int(c & 0x0f), false, true
	case c == 0xdc:
		size = 2
	case c == 0xdd:
		size = 4
	default:
		return 0, false, d.fail()
	}
	l, ok := readLen(d.b[d.i+1:], size)
	if !ok || l > uint64(len(d.b)-d.i-1-size) { // each element takes a byte at least
		return 0, false, d.fail()
	}
	d.i += 1 + size
	return int(l), false, true
}

func (d *fastDec) run(v *msg.Run) bool {
	return d.fields(func(key []byte) bool {
		switch string(key) {
		case "a":
			return d.uint64(&v.First)
		case "z":
			return d.uint64(&v.Through)
		}
		return false
	})
}

func (d *fastDec) ballot(v *msg.Ballot) bool {
	return d.fields(func(key []byte) bool {
		switch string(key) {
		case "r":
			return d.uint64(&v.Round)
		case "i":
			return d.nodeID(&v.ID)
		}
		return false
	})
}

func (d *fastDec) slots(v *[]uint64) bool {
	n, isNil, ok := d.array()
	if !ok || isNil {
		return ok
	}
	s := make([]uint64, n)
	for j := range s {
		if !d.uint64(&s[j]) {
			return false
		}
	}
	*v = s
	return true
}

func (d *fastDec) proposals(v *[]msg.Proposal) bool {
	n, isNil, ok := d.array()
	if !ok || isNil {
		return ok
	}
	s := make([]msg.Proposal, n)
	for j := range s {
		p := &s[j]
		if !d.fields(func(key []byte) bool {
			switch string(key) {
			case "s":
				return d.uint64(&p.Slot)
			case "v":
				return d.value(&p.Value)
			}
			return false
		}) {
			return false
		}
	}
	*v = s
	return true
}

func (d *fastDec) entries(v *[]msg.Entry) bool {
	n, isNil, ok := d.array()
	if !ok || isNil {
		return ok
	}
	s := make([]msg.Entry, n)
	for j := range s {
		e := &s[j]
		if !d.fields(func(key []byte) bool {
			switch string(key) {
			case "s":
				return d.uint64(&e.Slot)
			case "b":
				return d.ballot(&e.Ballot)
			case "v":
				return d.value(&e.Value)
			}
			return false
		}) {
			return false
		}
	}
	*v = s
	return true
}

func (d *fastDec) value(v **msg.Value) bool {
	if d.i < len(d.b) && d.b[d.i] == 0xc0 {
		d.i++
		*v = nil
		return true
	}
	val := new(msg.Value)
	if !d.fields(func(key []byte) bool {
		switch string(key) {
		case "g":
			return d.bin(&val.Change)
		case "w":
			return d.bin(&val.Floor)
		}
		if string(key) != "c" {
			return false
		}
		n, isNil, ok := d.array()
		if !ok || isNil {
			return ok
		}
		cmds := make([]msg.Command, n)
		for j := range cmds {
			if !d.command(&cmds[j]) {
				return false
			}
		}
		val.Cmds = cmds
		return true
	}) {
		return false
	}
	*v = val
	return true
}

func (d *fastDec) command(c *msg.Command) bool {
	return d.fields(func(key []byte) bool {
		switch string(key) {
		case "c":
			return d.uint64(&c.Client)
		case "s":
			return d.uint64(&c.Seq)
		case "a":
			return d.uint64(&c.Acked)
		case "o":
			return d.nodeID(&c.Origin)
		case "w":
			return d.str(&c.Reply)
		case "d":
			return d.bin(&c.Data)
		}
		return false
	})
}

func decChangeRequest(d fastDec, v *msg.ChangeRequest) fastDec {
	d.fields(func(key []byte) bool {
		switch string(key) {
		case "c":
			return d.bin(&v.Change)
		case "o":
			return d.nodeID(&v.Origin)
		case "w":
			return d.str(&v.Reply)
		case "h":
			return d.uint8(&v.Hops)
		}
		return false
	})
	return d
}
