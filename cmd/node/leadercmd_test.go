package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func runLeader(args ...string) cliResult {
	var out, errb strings.Builder
	code := leaderCommand(args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func TestLeaderTransferCommand(t *testing.T) {
	cc := startCLICluster(t)
	ep := cc.endpoints()
	r := runLeader("transfer", ep)
	var first string
	if _, err := fmt.Sscanf(r.stdout, "leader %s (ballot", &first); r.code != 0 || err != nil {
		t.Fatalf("leader transfer: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	next := "1"
	if first == "1" {
		next = "2"
	}
	r = runLeader("transfer", next, ep, "-o", "json")
	var got map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || got["leader"] != next || got["ballot"] == "" {
		t.Fatalf("leader transfer %s -o json: exit %d, stdout %q, stderr %q", next, r.code, r.stdout, r.stderr)
	}
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"transfer", "9", ep}, cliExitError, "conflict"},
		{[]string{"transfer", "x", ep}, cliExitUsage, `ID "x"`},
		{[]string{"transfer", "1", "2", ep}, cliExitUsage, "want [ID]"},
		{[]string{"move", ep}, cliExitUsage, "leader transfer [ID]"},
		{nil, cliExitUsage, "leader transfer [ID]"},
	} {
		r := runLeader(tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("leader %q: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
		}
	}
	if r := runLeader("transfer", "-h"); r.code != 0 || !strings.Contains(r.stdout, "no write fails") {
		t.Errorf("leader transfer -h: exit %d, stdout %q", r.code, r.stdout)
	}
}
