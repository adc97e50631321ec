package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageAndBadInput(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"help"}, 0, "rsml-node run"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"dev", "--nodes", "9"}, 2, "want 1 to 7"},
		{[]string{"dev", "--bogus"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(tt.args, strings.NewReader(""), &out, &errb); code != tt.code {
			t.Errorf("run(%q) = %d, want %d", tt.args, code, tt.code)
		}
		if got := out.String() + errb.String(); !strings.Contains(got, tt.want) {
			t.Errorf("run(%q) printed %q, want it to mention %q", tt.args, got, tt.want)
		}
	}
}
