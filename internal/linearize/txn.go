package linearize

// stepTxn is step for a transaction. Its conditions are a conjunction: the
// Then branch needs every one able to hold, the Else branch one able to fail
// (an IfRev on a key of unknown rev can do both). Revs are global and grow
// in log order, so a transaction that writes must have a rev above every rev
// its partition has seen, and a read-only one reports the store's last rev,
// which no rev seen before it exceeds; either way later writes of the keys
// it names have higher revs.
func stepTxn(s state, t *TxnInput, out Output) []any {
	mayHold, mayFail := true, false
	for _, c := range t.If {
		h, f := condHolds(s.get(c.Key), c.Cond, c.Rev)
		mayHold = mayHold && h
		mayFail = mayFail || f
	}
	readOnly := t.ReadOnly()
	if out.Unknown {
		next := []any{s} // not applied
		if readOnly {
			return next
		}
		if mayHold {
			n, _ := runOps(s, t.Then, nil, 0, false)
			next = append(next, n)
		}
		if mayFail {
			n, _ := runOps(s, t.Else, nil, 0, false)
			next = append(next, n)
		}
		return next
	}
	if out.Succeeded && !mayHold || !out.Succeeded && !mayFail {
		return nil
	}
	ops := t.Else
	if out.Succeeded {
		ops = t.Then
		s = learnConds(s, t.If)
	}
	if len(out.Results) != len(ops) {
		return nil
	}
	for _, e := range s {
		if out.Rev < e.MaxRev || !readOnly && out.Rev == e.MaxRev {
			return nil
		}
	}
	n, ok := runOps(s, ops, out.Results, out.Rev, true)
	if !ok {
		return nil
	}
	for _, k := range t.keys() {
		ks := n.get(k)
		ks.MaxRev = out.Rev
		n = n.with(k, ks)
	}
	return []any{n}
}

// learnConds records what conditions that held say about keys of unknown
// rev: an IfRev that held names the rev.
func learnConds(s state, cs []TxnCompare) state {
	for _, c := range cs {
		if ks := s.get(c.Key); c.Cond == CondRev && ks.Exists && ks.RevUnknown {
			ks.Rev, ks.RevUnknown = c.Rev, false
			s = s.with(c.Key, ks)
		}
	}
	return s
}

// runOps applies a branch's operations in order. With results (a known
// outcome) it checks each against the state as the ops before it left it:
// a get sees the puts and deletes before it in the same transaction.
func runOps(s state, ops []TxnOp, results []TxnOpOutput, rev uint64, known bool) (state, bool) {
	for i, o := range ops {
		ks := s.get(o.Key)
		var r TxnOpOutput
		if results != nil {
			r = results[i]
		}
		switch o.Kind {
		case Put:
			if results != nil && r.Rev != 0 && r.Rev != rev {
				return nil, false
			}
			s = s.with(o.Key, applyWrite(ks, Put, o.Value, rev, known))
		case Delete:
			if results != nil && (r.Deleted != ks.Exists || r.Rev != 0 && r.Rev != rev) {
				return nil, false
			}
			s = s.with(o.Key, applyWrite(ks, Delete, "", 0, known))
		case Get:
			switch {
			case results == nil:
			case r.Found != ks.Exists:
				return nil, false
			case !ks.Exists:
			case r.Value != ks.Value:
				return nil, false
			case ks.RevUnknown:
				ks.Rev, ks.RevUnknown = r.Rev, false
				s = s.with(o.Key, ks)
			case r.Rev != ks.Rev:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return s, true
}
