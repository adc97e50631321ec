package sim

import (
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// simStore is one replica's durable state: a storage.Memory that survives
// crashes, seen through wrappers that let the checkers watch the chosen log
// and let a planted bug lose acceptor writes. Embedding the Store interface
// keeps any method added to it working without a change here.
type simStore struct {
	storage.Store
	chosen *watchedChosen
	acc    *lossyAcceptor
}

func newSimStore(id msg.NodeID, onAppend func(id msg.NodeID, slot uint64, v *msg.Value),
	onDurable func(id msg.NodeID, rec storage.AcceptorRecord), lossy int) *simStore {
	mem := storage.NewMemory()
	s := &simStore{Store: mem}
	s.chosen = &watchedChosen{ChosenLog: mem.Chosen(), id: id, onAppend: onAppend}
	s.acc = &lossyAcceptor{AcceptorLog: mem.Acceptor(), keep: lossy, durable: func(rec storage.AcceptorRecord) { onDurable(id, rec) }}
	return s
}

func (s *simStore) Chosen() storage.ChosenLog     { return s.chosen }
func (s *simStore) Acceptor() storage.AcceptorLog { return s.acc }

// crash is what a process crash does to storage: nothing, unless the planted
// lossy-log bug holds back the last appends, which are then lost.
func (s *simStore) crash() { s.acc.pending = nil }

// watchedChosen reports every value a learner stores as chosen, so the
// agreement checker sees each replica's decision for each slot.
type watchedChosen struct {
	storage.ChosenLog
	id       msg.NodeID
	onAppend func(id msg.NodeID, slot uint64, v *msg.Value)
}

func (w *watchedChosen) Append(slot uint64, v *msg.Value) error {
	if err := w.ChosenLog.Append(slot, v); err != nil {
		return err
	}
	w.onAppend(w.id, slot, v)
	return nil
}

// lossyAcceptor is the planted durability bug: with keep > 0 the last keep
// records an acceptor appended are "acknowledged but not yet on disk" and a
// crash loses them (a missing fsync). With keep == 0 it passes everything
// straight through.
type lossyAcceptor struct {
	storage.AcceptorLog
	keep    int
	pending []storage.AcceptorRecord
	// durable hears every record once it is durable: the quorum checker's
	// ledger.
	durable func(rec storage.AcceptorRecord)
}

func (l *lossyAcceptor) Append(rec storage.AcceptorRecord) error {
	if l.keep <= 0 {
		return l.put(rec)
	}
	l.pending = append(l.pending, rec)
	for len(l.pending) > l.keep {
		if err := l.put(l.pending[0]); err != nil {
			return err
		}
		l.pending = l.pending[1:]
	}
	return nil
}

func (l *lossyAcceptor) put(rec storage.AcceptorRecord) error {
	if err := l.AcceptorLog.Append(rec); err != nil {
		return err
	}
	l.durable(rec)
	return nil
}

// Values reads what the acceptor was told is durable, held-back records
// included (as the page cache would show them until a crash).
func (l *lossyAcceptor) Values(slots []uint64) ([]msg.Entry, error) {
	out := make([]msg.Entry, len(slots))
	var rest []uint64
	var at []int
	for i, s := range slots {
		found := false
		for j := len(l.pending) - 1; j >= 0 && !found; j-- {
			for _, e := range l.pending[j].Entries {
				if e.Slot == s {
					out[i], found = e, true
				}
			}
		}
		if !found {
			rest, at = append(rest, s), append(at, i)
		}
	}
	if len(rest) > 0 {
		es, err := l.AcceptorLog.Values(rest)
		if err != nil {
			return nil, err
		}
		for k, e := range es {
			out[at[k]] = e
		}
	}
	return out, nil
}

func (l *lossyAcceptor) Load() (storage.AcceptorState, error) {
	// A load without a crash in between sees every append, as the page
	// cache would show it.
	for _, rec := range l.pending {
		if err := l.put(rec); err != nil {
			return storage.AcceptorState{}, err
		}
	}
	l.pending = nil
	return l.AcceptorLog.Load()
}
