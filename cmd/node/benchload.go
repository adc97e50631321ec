package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// loadConfig is one load run. Its rules are hraft-bench's, so that the two
// are compared like for like.
type loadConfig struct {
	// put does one operation for client number client (0 .. clients-1):
	// a put of keys[0], or with several keys a transaction that puts every
	// one of them.
	put func(ctx context.Context, client int, keys []string, value []byte) error
	// txnSize is how many keys each operation writes (0 or 1: one put).
	txnSize   int
	clients   int
	duration  time.Duration
	valueSize int
	keys      int
	// onOp is told of every finished put (ok false: it failed); nil: nobody.
	onOp func(ok bool)
}

// loadResult holds the sorted latencies of the successful puts.
type loadResult struct {
	lats    []time.Duration
	errors  int
	elapsed time.Duration
}

// runLoad has cfg.clients goroutines put until cfg.duration has passed. A
// client starts no put after the deadline, but elapsed runs until the last
// put in flight returns: cutting the clock at the deadline would credit the
// puts that were cut short.
func runLoad(ctx context.Context, cfg loadConfig) loadResult {
	var (
		mu  sync.Mutex
		res loadResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	for cl := range cfg.clients {
		wg.Go(func() {
			// One random value per client, as hraft-bench: each command is
			// still a new slice, encoded per put.
			val := make([]byte, cfg.valueSize)
			for i := range val {
				val[i] = byte(rand.IntN(256))
			}
			var mine []time.Duration
			fails := 0
			keys := make([]string, max(cfg.txnSize, 1))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				for i := range keys {
					keys[i] = fmt.Sprintf("key-%d", rand.IntN(cfg.keys))
				}
				t0 := time.Now()
				err := cfg.put(ctx, cl, keys, val)
				d := time.Since(t0)
				if cfg.onOp != nil {
					cfg.onOp(err == nil)
				}
				if err != nil {
					fails++
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			res.lats = append(res.lats, mine...)
			res.errors += fails
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lats)
	return res
}

// percentile is hraft-bench's: the element at index len*p/100 of the sorted
// latencies (no interpolation), 0 for none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)*p/100, len(sorted)-1)]
}

// progressEvery is how often the progress bar is redrawn.
const progressEvery = 200 * time.Millisecond

// progress draws a one-line bar on a terminal. Anywhere else (a file, a pipe,
// CI logs) it draws nothing: carriage returns would litter the output, and
// the result on stdout is the only thing a machine reads.
type progress struct {
	// on is false when nothing is drawn: the puts then skip the counting.
	on         bool
	ok, failed atomic.Int64
	done       chan struct{}
	finished   chan struct{}
}

func newProgress(w io.Writer, total time.Duration) *progress {
	p := &progress{done: make(chan struct{}), finished: make(chan struct{})}
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		close(p.finished)
		return p
	}
	p.on = true
	go func() {
		defer close(p.finished)
		start := time.Now()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				fmt.Fprint(w, "\r\033[K") // leave the terminal as it was
				return
			case <-t.C:
				fmt.Fprint(w, "\r"+renderProgress(time.Since(start), total, p.ok.Load(), p.failed.Load()))
			}
		}
	}()
	return p
}

// onOp is the loadConfig.onOp that feeds the bar, nil when none is drawn.
func (p *progress) onOp() func(ok bool) {
	if !p.on {
		return nil
	}
	return p.count
}

func (p *progress) count(ok bool) {
	if ok {
		p.ok.Add(1)
	} else {
		p.failed.Add(1)
	}
}

// stop removes the bar and returns once it is gone.
func (p *progress) stop() {
	close(p.done)
	<-p.finished
}

// progressWidth is the bar's width in characters.
const progressWidth = 30

// renderProgress is the bar's text after elapsed of total: past the deadline
// the bar is full and the clients are finishing their last puts.
func renderProgress(elapsed, total time.Duration, ok, failed int64) string {
	frac := min(1, elapsed.Seconds()/total.Seconds())
	filled := int(frac * progressWidth)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(ok) / s
	}
	return fmt.Sprintf("[%s%s] %5.1fs/%.1fs %9d ops %9.0f ops/s %d errors",
		strings.Repeat("#", filled), strings.Repeat(".", progressWidth-filled),
		min(elapsed, total).Seconds(), total.Seconds(), ok, rate, failed)
}
