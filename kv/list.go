package kv

import (
	"fmt"
	"strings"
)

// Bounds of one listing. A page stops at Limit keys or once it holds
// MaxListBytes of keys and values (a single larger key still comes alone), so
// an answer stays a size a client can take; More then says there is more.
const (
	// DefaultListLimit is the page size the HTTP API uses when none is given.
	DefaultListLimit = 1000
	// MaxListLimit is the largest page size.
	MaxListLimit = 10000
	// MaxListBytes bounds the keys and values of one page.
	MaxListBytes = 4 << 20
)

// ListRequest asks for the keys that start with Prefix and sort after
// StartAfter (byte order), at most Limit of them (1 to MaxListLimit).
// Paging: pass the last key of a page as the next request's StartAfter.
type ListRequest struct {
	Prefix     string
	StartAfter string
	Limit      int
}

// Encode checks the request and builds its query, for Read.
func (r ListRequest) Encode() ([]byte, error) {
	if r.Limit < 1 || r.Limit > MaxListLimit {
		return nil, fmt.Errorf("%w: list limit %d: want 1 to %d", ErrBadCommand, r.Limit, MaxListLimit)
	}
	return build(len(r.Prefix)+len(r.StartAfter)+cmdOverhead, func(e *encoder) {
		e.arrayLen(4)
		e.uint(uint64(opList))
		e.str(r.Prefix)
		e.str(r.StartAfter)
		e.uint(uint64(r.Limit))
	}), nil
}

// Item is one key of a listing.
type Item struct {
	Key   string
	Value []byte // non-nil, even if empty
	Rev   uint64 // the rev of the write that set it
}

// ListResult is one page of a listing.
type ListResult struct {
	// Rev is the store's last rev when the page was read.
	Rev   uint64
	Items []Item
	// More says that keys with the prefix follow the last item.
	More bool
}

// list answers a ListRequest. The values alias the stored ones, which are
// never modified in place.
func (s *Store) list(r *ListRequest) ListResult {
	s.mu.RLock()
	defer s.mu.RUnlock()
	res := ListResult{Rev: s.rev}
	pivot := &item{key: max(r.Prefix, r.StartAfter)}
	size := 0
	s.tree.Ascend(pivot, func(it *item) bool {
		if !strings.HasPrefix(it.key, r.Prefix) {
			return false
		}
		if it.key == r.StartAfter {
			return true
		}
		n := len(it.key) + len(it.value)
		if len(res.Items) == r.Limit || (len(res.Items) > 0 && size+n > MaxListBytes) {
			res.More = true
			return false
		}
		size += n
		res.Items = append(res.Items, Item{Key: it.key, Value: it.value, Rev: it.rev})
		return true
	})
	return res
}

// List is a listing for Go callers in the same process, skipping the
// encoding. The values are copies. It panics on a Limit out of range, a
// programming error.
func (s *Store) List(r ListRequest) ListResult {
	if r.Limit < 1 || r.Limit > MaxListLimit {
		panic(fmt.Sprintf("kv: list limit %d: want 1 to %d", r.Limit, MaxListLimit))
	}
	res := s.list(&r)
	for i := range res.Items {
		res.Items[i].Value = append([]byte{}, res.Items[i].Value...)
	}
	return res
}

// encodeList writes [rev, more, [[key, rev, value]...]].
func encodeList(r ListResult) []byte {
	size := 16
	for _, it := range r.Items {
		size += len(it.Key) + len(it.Value) + 16
	}
	return build(size, func(e *encoder) {
		e.arrayLen(3)
		e.uint(r.Rev)
		e.uint(boolUint(r.More))
		e.arrayLen(len(r.Items))
		for _, it := range r.Items {
			e.arrayLen(3)
			e.str(it.Key)
			e.uint(it.Rev)
			e.bin(it.Value)
		}
	})
}

// DecodeList decodes what Store.Read returned for a ListRequest.
func DecodeList(b []byte) (ListResult, error) {
	var r ListResult
	err := decodeBytes(b, func(d *decoder) {
		if n := d.arrayLen(); d.err == nil && n != 3 {
			d.fail(fmt.Errorf("list result has %d fields", n))
		}
		r.Rev = d.uint()
		r.More = decodeBool(d)
		count := d.arrayLen()
		if d.err == nil && (count < 0 || count > MaxListLimit) {
			d.fail(fmt.Errorf("list result has %d items", count))
		}
		if count > 0 && d.err == nil {
			r.Items = make([]Item, count)
		}
		for i := 0; i < count && d.err == nil; i++ {
			if f := d.arrayLen(); d.err == nil && f != 3 {
				d.fail(fmt.Errorf("list item %d has %d fields", i, f))
			}
			it := Item{Key: d.str(), Rev: d.uint(), Value: d.bin()}
			if it.Value == nil {
				it.Value = []byte{}
			}
			r.Items[i] = it
		}
	})
	if err != nil {
		return ListResult{}, fmt.Errorf("%w: list result: %w", ErrMalformed, err)
	}
	return r, nil
}
