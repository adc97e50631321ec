package remote

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rsml-go/rsml/internal/mpenc"
)

// The wire format of a message between replicas.
//
// Proto.Actor remoting carries only protobuf messages, so every message that
// crosses replicas travels as an *anypb.Any:
//
//	TypeUrl: "rsml/" + cluster id + "/" + type name, e.g. "rsml/demo/Accept"
//	Value:   the msgpack encoding of the message (struct tags from package msg)
//
// The cluster id in every message keeps two clusters that share hosts from
// mixing: a replica drops a message of another cluster (a peer list that
// points at the wrong process) instead of acting on it. Decode never panics and
// bounds what it allocates by the size of its input, so a corrupt or hostile
// message costs an error, never the process.

// Errors of Encode, Decode and ValidClusterID.
var (
	// ErrForeignCluster: the message names another cluster id.
	ErrForeignCluster = errors.New("remote: message of another cluster")
	// ErrUnknownType: the type is not one that crosses replicas (Encode), or
	// the TypeUrl is not an rsml message type (Decode).
	ErrUnknownType = errors.New("remote: unknown message type")
	// ErrMalformed wraps the decode error of bytes that are not a valid
	// encoding of the type their TypeUrl names.
	ErrMalformed = errors.New("remote: malformed message")
	// ErrBadClusterID: a cluster id that ValidClusterID rejects.
	ErrBadClusterID = errors.New("remote: bad cluster id")
)

// typeURLPrefix starts every TypeUrl of ours.
const typeURLPrefix = "rsml/"

// maxClusterID is the longest cluster id ValidClusterID accepts.
const maxClusterID = 64

// ValidClusterID checks that s is 1 to 64 characters of [A-Za-z0-9._-], so it
// fits in a TypeUrl path segment as it is.
func ValidClusterID(s string) error {
	if s == "" || len(s) > maxClusterID {
		return fmt.Errorf("%w: %q: want 1 to %d characters", ErrBadClusterID, s, maxClusterID)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: %q: character %q at %d: want [A-Za-z0-9._-]", ErrBadClusterID, s, c, i)
		}
	}
	return nil
}

// wireType is one message type that crosses replicas: its name in TypeUrls,
// and how to make, encode and decode one.
type wireType struct {
	name  string
	ptr   reflect.Type // the message's pointer type, the key of typeIndex
	new   func() any   // a pointer to a new zero value
	isNil func(m any) bool
	enc   func(e *encoder, b []byte, m any) []byte
	dec   func(d fastDec) (any, fastDec)
}

// wire makes the wireType of *T from its name and its hand-written encoder
// and decoder.
// The decoder takes and returns its state by value: through a function value
// a pointer to it would escape, an allocation per message.
func wire[T any](name string, enc func(*encoder, []byte, *T) []byte, dec func(fastDec, *T) fastDec) wireType {
	return wireType{
		name:  name,
		ptr:   reflect.TypeFor[*T](),
		new:   func() any { return new(T) },
		isNil: func(m any) bool { return m.(*T) == nil },
		enc:   func(e *encoder, b []byte, m any) []byte { return enc(e, b, m.(*T)) },
		dec: func(d fastDec) (any, fastDec) {
			v := new(T)
			return v, dec(d, v)
		},
	}
}

// wireTypes lists every message type that crosses replicas, with its codec:
// the one list everything else is derived from. The index is the type's
// number; the name goes into the TypeUrl and must never change (a rolling
// upgrade mixes versions).
var wireTypes = [...]wireType{
	wire("Prepare", encPrepare, decPrepare),
	wire("Promise", encPromise, decPromise),
	wire("Nack", encNack, decNack),
	wire("Accept", encAccept, decAccept),
	wire("Accepted", encAccepted, decAccepted),
	wire("Heartbeat", encHeartbeat, decHeartbeat),
	wire("HeartbeatAck", encHeartbeatAck, decHeartbeatAck),
	wire("CatchupRequest", encCatchupRequest, decCatchupRequest),
	wire("CatchupReply", encCatchupReply, decCatchupReply),
	wire("ClientRequest", encClientRequest, decClientRequest),
	wire("ReadRequest", encReadRequest, decReadRequest),
	wire("ReadIndex", encReadIndex, decReadIndex),
	wire("Reject", encReject, decReject),
	wire("Result", encResult, decResult),
	wire("ReadResult", encReadResult, decReadResult),
	wire("SnapshotRequest", encSnapshotRequest, decSnapshotRequest),
	wire("SnapshotChunk", encSnapshotChunk, decSnapshotChunk),
	wire("ChosenRun", encChosenRun, decChosenRun),
	wire("TransferLeader", encTransferLeader, decTransferLeader),
	wire("TimeoutNow", encTimeoutNow, decTimeoutNow),
	wire("TransferStarted", encTransferStarted, decTransferStarted),
	wire("ChangeRequest", encChangeRequest, decChangeRequest),
	wire("Progress", encProgress, decProgress),
}

// typeByPtr maps a message's pointer type to its index in wireTypes.
var typeByPtr = func() map[reflect.Type]int {
	m := make(map[reflect.Type]int, len(wireTypes))
	for i, t := range wireTypes {
		m[t.ptr] = i
	}
	return m
}()

// typeIndex returns m's index in wireTypes, or -1 if m is not a wire type or
// is a nil pointer (which would decode as a zero message, not as nil).
func typeIndex(m any) int {
	i, ok := typeByPtr[reflect.TypeOf(m)]
	if !ok || wireTypes[i].isNil(m) {
		return -1
	}
	return i
}

// typeByName maps a TypeUrl's last segment to its index in wireTypes.
var typeByName = func() map[string]int {
	m := make(map[string]int, len(wireTypes))
	for i, t := range wireTypes {
		m[t.name] = i
	}
	return m
}()

// codec holds the TypeUrls of one cluster, built once so Encode does not
// concatenate strings per message.
type codec struct {
	urls [len(wireTypes)]string
}

func newCodec(cluster string) (*codec, error) {
	if err := ValidClusterID(cluster); err != nil {
		return nil, err
	}
	c := &codec{}
	for i, t := range wireTypes {
		c.urls[i] = typeURLPrefix + cluster + "/" + t.name
	}
	return c, nil
}

// codecs caches the codec of each cluster Encode has seen. A process talks
// for one cluster, maybe a few in tests; maxCodecs bounds the cache anyway.
var (
	codecs     sync.Map // string -> *codec
	codecCount atomic.Int32
)

const maxCodecs = 64

func codecFor(cluster string) (*codec, error) {
	if c, ok := codecs.Load(cluster); ok {
		return c.(*codec), nil
	}
	c, err := newCodec(cluster)
	if err != nil {
		return nil, err
	}
	if codecCount.Load() < maxCodecs {
		if prev, loaded := codecs.LoadOrStore(cluster, c); loaded {
			return prev.(*codec), nil
		}
		codecCount.Add(1)
	}
	return c, nil
}

// encoder is a pooled output buffer: Encode runs once per message sent to
// another replica, and with the buffer pooled it allocates only the Any and
// its bytes.
type encoder struct {
	b []byte
	mpenc.Enc
}

var encoders = sync.Pool{New: func() any { return &encoder{b: make([]byte, 0, 512)} }}

// maxPooledBuffer keeps an encoder that once wrote a huge message from pinning
// that much memory in the pool.
const maxPooledBuffer = 1 << 20

// Encode wraps m, one of the message types that cross replicas, for
// Proto.Actor remoting: an Any whose TypeUrl names the cluster and m's type,
// and whose Value is m in msgpack. The Any owns its bytes. Accepted.Values is
// not encoded (it is for the local learner only).
func Encode(cluster string, m any) (*anypb.Any, error) {
	c, err := codecFor(cluster)
	if err != nil {
		return nil, err
	}
	return c.encode(m)
}

func (c *codec) encode(m any) (*anypb.Any, error) {
	i := typeIndex(m)
	if i < 0 {
		return nil, fmt.Errorf("%w: cannot send %T to another replica", ErrUnknownType, m)
	}
	e := encoders.Get().(*encoder)
	e.b, e.Err = e.b[:0], nil
	e.message(i, m)
	err := e.Err
	var value []byte
	if err == nil {
		value = bytes.Clone(e.b)
	}
	if cap(e.b) <= maxPooledBuffer {
		encoders.Put(e)
	}
	if err != nil {
		return nil, fmt.Errorf("remote: encode %s: %w", wireTypes[i].name, err)
	}
	return &anypb.Any{TypeUrl: c.urls[i], Value: value}, nil
}

// decoder is a pooled msgpack decoder reading from a pooled bytes.Reader (an
// io.ByteScanner, so msgpack adds no buffering of its own).
type decoder struct {
	rd  bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.rd)
	return d
}}

// Decode turns an Any made by Encode back into the message, a pointer of the
// type that was encoded. It fails with ErrForeignCluster if the TypeUrl names
// another cluster, ErrUnknownType if it names no type of ours, and an error
// wrapping ErrMalformed if the bytes do not decode. It never panics, and it
// allocates at most a small multiple of len(a.Value) (msgpack would otherwise
// trust a length field and try to allocate gigabytes).
//
// The message may share a.Value's memory: Decode takes the Any over, and the
// caller must not modify a.Value afterwards. (A received Any is the
// receiver's alone: protobuf copies its bytes out of the network buffer.)
func Decode(cluster string, a *anypb.Any) (any, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: nil Any", ErrUnknownType)
	}
	url := a.GetTypeUrl()
	rest, ok := strings.CutPrefix(url, typeURLPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: type url %.80q", ErrUnknownType, url)
	}
	from, name, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, fmt.Errorf("%w: type url %.80q", ErrUnknownType, url)
	}
	if from != cluster {
		return nil, fmt.Errorf("%w: %.80q, this is %q", ErrForeignCluster, from, cluster)
	}
	i, ok := typeByName[name]
	if !ok {
		return nil, fmt.Errorf("%w: type url %.80q", ErrUnknownType, url)
	}
	if err := checkMsgpack(a.Value); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	}
	if m, ok := fastDecode(i, a.Value); ok {
		return m, nil
	}
	m := wireTypes[i].new()
	if err := decodeInto(a.Value, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	}
	return m, nil
}

// decodeInto runs msgpack on b, which checkMsgpack has accepted. msgpack has
// not been seen to panic on such input (FuzzDecode), but a panic here would
// take the whole replica down from a gRPC goroutine: recover it into an error.
func decodeInto(b []byte, m any) (err error) {
	d := decoders.Get().(*decoder)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack panicked: %v", r)
			return // do not pool a decoder in an unknown state
		}
		d.rd.Reset(nil)
		decoders.Put(d)
	}()
	d.rd.Reset(b)
	d.dec.Reset(&d.rd)
	return d.dec.Decode(m)
}

// maxDepth bounds how deeply arrays and maps may nest. The deepest message
// (Promise: entries, entry, value, commands, command, data) needs 6; msgpack
// recurses per level, so unbounded nesting could overflow the stack.
const maxDepth = 32

var (
	errTruncated = errors.New("truncated msgpack")
	errTrailing  = errors.New("bytes after the msgpack value")
	errTooDeep   = errors.New("msgpack nested too deeply")
	errBadCode   = errors.New("invalid msgpack code 0xc1")
)

// checkMsgpack walks b without allocating and accepts it only if it holds
// exactly one well-formed msgpack value whose every length field fits in the
// bytes that follow it: a string or binary of n bytes needs n bytes, an array
// of n elements needs at least n bytes and a map of n entries 2n (every value
// takes a byte at least). So whatever msgpack then allocates for slices,
// strings and maps is bounded by a small multiple of len(b).
func checkMsgpack(b []byte) error {
	var stack [maxDepth]uint64 // values still to read at each open level
	depth := 0
	pos := 0
	need := uint64(1) // values still to read at the current level
	for {
		for need == 0 {
			if depth == 0 {
				if pos != len(b) {
					return errTrailing
				}
				return nil
			}
			depth--
			need = stack[depth]
		}
		if pos >= len(b) {
			return errTruncated
		}
		need--
		c := b[pos]
		pos++
		var skip, items uint64 // bytes to skip; child values to read
		var open bool
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3: // fixint, nil, bool
		case c >= 0x80 && c <= 0x8f: // fixmap
			items, open = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f: // fixarray
			items, open = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		case c == 0xc1:
			return errBadCode
		case c == 0xcc || c == 0xd0:
			skip = 1
		case c == 0xcd || c == 0xd1:
			skip = 2
		case c == 0xca || c == 0xce || c == 0xd2:
			skip = 4
		case c == 0xcb || c == 0xcf || c == 0xd3:
			skip = 8
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16 plus the type byte
			skip = 1 + 1<<(c-0xd4)
		case c == 0xc4 || c == 0xd9 || c == 0xc7: // bin8, str8, ext8
			n, ok := readLen(b[pos:], 1)
			if !ok {
				return errTruncated
			}
			pos++
			skip = n
			if c == 0xc7 {
				skip++ // the ext type byte
			}
		case c == 0xc5 || c == 0xda || c == 0xc8: // bin16, str16, ext16
			n, ok := readLen(b[pos:], 2)
			if !ok {
				return errTruncated
			}
			pos += 2
			skip = n
			if c == 0xc8 {
				skip++
			}
		case c == 0xc6 || c == 0xdb || c == 0xc9: // bin32, str32, ext32
			n, ok := readLen(b[pos:], 4)
			if !ok {
				return errTruncated
			}
			pos += 4
			skip = n
			if c == 0xc9 {
				skip++
			}
		case c == 0xdc || c == 0xde: // array16, map16
			n, ok := readLen(b[pos:], 2)
			if !ok {
				return errTruncated
			}
			pos += 2
			items, open = n, true
			if c == 0xde {
				items *= 2
			}
		case c == 0xdd || c == 0xdf: // array32, map32
			n, ok := readLen(b[pos:], 4)
			if !ok {
				return errTruncated
			}
			pos += 4
			items, open = n, true
			if c == 0xdf {
				items *= 2
			}
		}
		rest := uint64(len(b) - pos)
		if skip > rest {
			return errTruncated
		}
		pos += int(skip)
		if !open || items == 0 {
			continue
		}
		if items > rest { // each child needs one byte at least
			return errTruncated
		}
		if depth == maxDepth {
			return errTooDeep
		}
		stack[depth] = need
		depth++
		need = items
	}
}

// readLen reads a big-endian length of size 1, 2 or 4 bytes.
func readLen(b []byte, size int) (uint64, bool) {
	if len(b) < size {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), true
	default:
		return uint64(binary.BigEndian.Uint32(b)), true
	}
}

// Reasons DecodeMiddleware gives onDrop for a message it drops.
const (
	DropForeignCluster = "foreign_cluster" // the message names another cluster id
	DropUndecodable    = "undecodable"     // an unknown type or bytes that do not decode
)

// DropReason classifies an error of Decode, Unwrap or Waiters as
// DropForeignCluster, DropNoWaiter or DropUndecodable, for logs and metrics.
func DropReason(err error) string {
	switch {
	case errors.Is(err, ErrForeignCluster):
		return DropForeignCluster
	case errors.Is(err, ErrNoWaiter):
		return DropNoWaiter
	}
	return DropUndecodable
}

// DecodeMiddleware returns the receiver middleware every role actor of a TCP
// replica needs (actor.WithReceiverMiddleware): it turns an incoming
// *anypb.Any, bare or inside an *actor.MessageEnvelope, into the message Encode
// wrapped, before the actor sees it. Every other message passes unchanged, so
// local sends cost nothing but the envelope Proto.Actor makes for any
// middleware. A message of another cluster or one that does not decode is
// dropped (the actor never sees it) and reported to onDrop, if not nil, with
// DropReason(err) and the error. onDrop runs in the actor's goroutine: keep it
// short (log and count).
//
// Replies to a RequestFuture bypass receiver middleware (they go to the
// future's process): between replicas, send with an explicit reply target.
// Answers to waiters go to the Waiters process, which decodes them itself.
func DecodeMiddleware(cluster string, onDrop func(reason string, err error)) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			a, ok := env.Message.(*anypb.Any)
			if !ok {
				next(c, env)
				return
			}
			m, err := Decode(cluster, a)
			if err != nil {
				if onDrop != nil {
					onDrop(DropReason(err), err)
				}
				return
			}
			next(c, &actor.MessageEnvelope{Header: env.Header, Message: m, Sender: env.Sender})
		}
	}
}

// Unwrap returns the message a receiver that is not an actor (a process whose
// SendUserMessage gets what remoting delivers) should act on: the envelope, if
// any, is removed, and an *anypb.Any is decoded as by Decode. Any other
// message is returned as it is. A waiter drops the message on error.
func Unwrap(cluster string, m any) (any, error) {
	if env, ok := m.(*actor.MessageEnvelope); ok {
		m = env.Message
	}
	if a, ok := m.(*anypb.Any); ok {
		return Decode(cluster, a)
	}
	return m, nil
}
