package client

import (
	"context"
	"sync"
	"time"
)

// discovery is one look for the leader; concurrent calls share it.
type discovery struct {
	done chan struct{}
	idx  int // -1: no endpoint answered
}

// start returns the index of the endpoint a call tries first: the cached
// choice, or a fresh discovery's, or (when no endpoint answers its status)
// the next endpoint in turn.
func (c *Client) start(ctx context.Context) int {
	c.mu.Lock()
	if c.set.inOrder {
		i := max(c.preferred, 0) // forget moves it on
		c.mu.Unlock()
		return i
	}
	if c.preferred >= 0 && (c.isLeader || time.Since(c.chosenAt) < rediscoverAfter) {
		i := c.preferred
		c.mu.Unlock()
		return i
	}
	d := c.inflight
	owner := d == nil
	if owner {
		d = &discovery{done: make(chan struct{}), idx: -1}
		c.inflight = d
	}
	c.mu.Unlock()

	if owner {
		idx, leader := c.discover(ctx)
		c.mu.Lock()
		d.idx = idx
		c.inflight = nil
		if idx >= 0 {
			c.preferred, c.isLeader, c.chosenAt = idx, leader, time.Now()
		}
		c.mu.Unlock()
		close(d.done)
	} else {
		select {
		case <-d.done:
		case <-ctx.Done():
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-d.done:
		if d.idx >= 0 {
			return d.idx
		}
	default:
	}
	c.rotate++
	return c.rotate % len(c.endpoints)
}

// forget drops endpoint i as the preferred one after it failed, so that the
// next round looks for the leader again.
func (c *Client) forget(i int) {
	c.mu.Lock()
	switch {
	case c.set.inOrder && max(c.preferred, 0) == i:
		c.preferred = (i + 1) % len(c.endpoints)
	case c.preferred == i:
		c.preferred = -1
	}
	c.mu.Unlock()
}

// prefer records what a status answer says about endpoint i.
func (c *Client) prefer(i int, st Status) {
	if !st.IsLeader || c.set.inOrder {
		return
	}
	c.mu.Lock()
	c.preferred, c.isLeader, c.chosenAt = i, true, time.Now()
	c.mu.Unlock()
}

// discover asks every endpoint for its status at once. It returns the first
// that says it leads; else, once all have answered or failed, the first
// endpoint (in the given order) that answered; else -1.
func (c *Client) discover(ctx context.Context) (idx int, leader bool) {
	type answer struct {
		idx int
		st  Status
		err error
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // runs before wg.Wait: stragglers end at once
	answers := make(chan answer, len(c.endpoints))
	for i, ep := range c.endpoints {
		wg.Go(func() {
			st, err := c.status(ctx, ep)
			answers <- answer{i, st, err}
		})
	}
	idx = -1
	for range c.endpoints {
		a := <-answers
		if a.err != nil {
			continue
		}
		if a.st.IsLeader {
			return a.idx, true
		}
		if idx < 0 || a.idx < idx {
			idx = a.idx
		}
	}
	return idx, false
}
