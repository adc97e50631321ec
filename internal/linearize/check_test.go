package linearize

import (
	"os"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

// TestCheckWritesVisualization shows Check passes a linearizable history
// quietly and writes the HTML rendering of one that is not.
func TestCheckWritesVisualization(t *testing.T) {
	good := []porcupine.Operation{
		op(0, Input{Kind: Put, Key: "x", Value: "a"}, 0, Output{Rev: 1, OK: true}, 10),
		op(1, Input{Kind: Get, Key: "x"}, 20, Output{Found: true, Value: "a", Rev: 1}, 30),
	}
	v, err := Check(good, "rsml-linearize-test")
	if err != nil || v.Result != porcupine.Ok || v.Visualization != "" {
		t.Fatalf("linearizable history: %+v, %v", v, err)
	}
	bad := append(good, op(1, Input{Kind: Get, Key: "x"}, 40, Output{}, 50))
	v, err = Check(bad, "rsml-linearize-test")
	if err != nil || v.Result != porcupine.Illegal || v.Visualization == "" {
		t.Fatalf("lost write: %+v, %v", v, err)
	}
	t.Cleanup(func() { os.Remove(v.Visualization) })
	html, err := os.ReadFile(v.Visualization)
	if err != nil || !strings.Contains(string(html), "get(x)") {
		t.Fatalf("visualization %s: %v (%d bytes)", v.Visualization, err, len(html))
	}
}
