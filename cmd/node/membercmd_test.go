package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func runMember(args ...string) cliResult {
	var out, errb strings.Builder
	code := memberCommand(args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func TestMemberCommands(t *testing.T) {
	cc := startCLICluster(t)
	ep := cc.endpoints()
	r := runMember("list", ep)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "config 1\n") || strings.Count(r.stdout, "proposer,acceptor,learner") != 3 {
		t.Fatalf("member list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cc.c.JoinNode(ctx, 4); err != nil {
		t.Fatal(err)
	}
	r = runMember("add", "4", cc.c.Addr(4), "--roles", "learner", ep, "-o", "json")
	var got map[string]uint64
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || got["config"] != 2 {
		t.Fatalf("member add 4 --roles learner: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runMember("list", ep, "-o", "json")
	var list struct {
		Config  uint64
		Members []struct {
			ID    string
			Roles []string
		}
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || list.Config != 2 || len(list.Members) != 4 ||
		list.Members[3].ID != "4" || strings.Join(list.Members[3].Roles, ",") != "learner" {
		t.Fatalf("member list -o json after the add: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r = runMember("remove", "4", ep); r.code != 0 || r.stdout != "config 3\n" {
		t.Fatalf("member remove 4: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"add", "2", "127.0.0.1:1", ep}, cliExitError, "conflict"},
		{[]string{"add", "4", cc.c.Addr(4), ep}, cliExitError, "removed"},
		{[]string{"remove", "9", ep}, cliExitError, "conflict"},
		{[]string{"add", "5", "127.0.0.1:2", "--roles", "leader", ep}, cliExitError, "unknown role"},
		{[]string{"add", "x", "127.0.0.1:2", ep}, cliExitUsage, `ID "x"`},
		{[]string{"add", "5", ep}, cliExitUsage, "want ID ADDR"},
		{[]string{"add", "5", "127.0.0.1:2", "--roles", ",", ep}, cliExitUsage, "at least one"},
		{[]string{"grow", ep}, cliExitUsage, "unknown command"},
		{nil, cliExitUsage, "member list"},
	} {
		r := runMember(tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("member %q: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
		}
	}
	if r := runMember("add", "-h"); r.code != 0 || !strings.Contains(r.stdout, "added as a learner first") {
		t.Errorf("member add -h: exit %d, stdout %q", r.code, r.stdout)
	}
}
