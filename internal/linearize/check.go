package linearize

import (
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// TimeLimit is how long Check gives porcupine for a history of n
// operations: a minute plus a second per 5,000 operations, since the cost
// grows with the history (a 30s chaos run records hundreds of thousands).
func TimeLimit(n int) time.Duration {
	return time.Minute + time.Duration(n/5000)*time.Second
}

// Verdict is what Check found.
type Verdict struct {
	// Result is porcupine's answer: Ok, Illegal, or Unknown when the check
	// ran out of time (inconclusive, not a violation).
	Result porcupine.CheckResult
	// Limit is the time the check was given, Elapsed the time it took.
	Limit, Elapsed time.Duration
	// Visualization is the path of porcupine's HTML rendering of the
	// history, written only when Result is Illegal ("" otherwise).
	Visualization string
}

// Check runs porcupine with Model on history within TimeLimit. When the
// history is not linearizable it writes the visualization to a temporary
// file whose name starts with name (say "rsml-chaos-<seed>"), so that a
// failing test can print where to look. The error is only about writing
// that file; the verdict stands either way.
func Check(history []porcupine.Operation, name string) (Verdict, error) {
	v := Verdict{Limit: TimeLimit(len(history))}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(Model, history, v.Limit)
	v.Result, v.Elapsed = res, time.Since(start)
	if res != porcupine.Illegal {
		return v, nil
	}
	f, err := os.CreateTemp("", name+"-*.html")
	if err != nil {
		return v, fmt.Errorf("visualization: %w", err)
	}
	defer f.Close()
	if err := porcupine.Visualize(Model, info, f); err != nil {
		return v, fmt.Errorf("visualization: %w", err)
	}
	v.Visualization = f.Name()
	return v, nil
}
