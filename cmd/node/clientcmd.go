package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/rsml-go/rsml/client"
)

// The client commands: rsml-node kv get|put|delete and rsml-node status
// (DESIGN.md §4.1), on package client.

// cliDefaultEndpoints are the dev cluster's replicas (rsml-node dev).
const cliDefaultEndpoints = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003"

// Exit codes of the client commands.
const (
	cliExitOK            = 0
	cliExitError         = 1 // the request failed (message on stderr)
	cliExitUsage         = 2 // bad command line
	cliExitNotFound      = 3 // kv get: the key does not exist
	cliExitCondFailed    = 4 // kv put/delete: --if-match/--if-none-match did not hold; nothing changed
	cliExitIndeterminate = 5 // kv put/delete: the outcome is unknown
)

const cliExitCodes = `Exit status:
  0  success
  1  error (the message is on stderr)
  2  usage error
  3  kv get: the key does not exist (stderr says "not found")
  4  kv put/delete: the condition (--if-match, --if-none-match) did not hold; nothing changed
  5  kv put/delete: outcome unknown, the write may or may not have been applied
     (it is not retried; read the key before writing again)
`

// cliOptions are added to every client the commands make; tests use them to
// make retries fast.
var cliOptions []client.Option

const kvUsage = `Usage:
  rsml-node kv get KEY [flags]            print KEY's value
  rsml-node kv put KEY VALUE [flags]      set KEY to VALUE ("-": read it from stdin)
  rsml-node kv delete KEY [flags]         delete KEY

Run "rsml-node kv COMMAND -h" for a command's flags.

` + cliExitCodes

// cliCommand describes one client command.
type cliCommand struct {
	name  string // "kv get"
	args  string // "KEY VALUE"
	nargs int
	about string
	write bool // put/delete: takes --if-match and --if-none-match
}

// cliFlags are the flags of a client command.
type cliFlags struct {
	endpoints   string
	output      string
	timeout     time.Duration
	stale       bool
	ifMatch     string
	ifNoneMatch string
}

func (cmd cliCommand) flagSet(f *cliFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rsml-node "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parse prints the usage: to stdout for -h, a hint for errors
	fs.StringVar(&f.endpoints, "endpoints", cliDefaultEndpoints,
		"comma-separated base `URLs` of the replicas; any replica takes any request, the leader is preferred")
	fs.StringVar(&f.output, "o", "text", "output `format`: text or json")
	fs.StringVar(&f.output, "output", "text", "output `format`: text or json (same as -o)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second,
		"give up after this `duration`, retries included (each request waits at most 5s)")
	switch {
	case cmd.name == "kv get":
		fs.BoolVar(&f.stale, "stale", false, "read the answering replica's local copy: faster, but it may miss recent writes")
	case cmd.write:
		fs.StringVar(&f.ifMatch, "if-match", "",
			"write only if the key exists and was last set by `REV`; * : only if the key exists")
		fs.StringVar(&f.ifNoneMatch, "if-none-match", "", "`*`: write only if the key does not exist")
	}
	return fs
}

func (cmd cliCommand) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: rsml-node %s [flags]\n\n%s\n\nFlags:\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.about)
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
	fmt.Fprintf(w, "\nFlags may come before or after the arguments; \"--\" ends the flags (for a KEY or VALUE\nthat starts with \"-\").\n\n%s", cliExitCodes)
}

func (cmd cliCommand) hint(w io.Writer) {
	fmt.Fprintf(w, "Run 'rsml-node %s -h' for usage.\n", cmd.name)
}

// parse parses args, flags and positional arguments in any order, and
// checks the flags every command shares. ok false: exit with code.
func (cmd cliCommand) parse(args []string, stdout, stderr io.Writer) (f cliFlags, pos []string, code int, ok bool) {
	fs := cmd.flagSet(&f, stderr)
	usageErr := func(format string, a ...any) (cliFlags, []string, int, bool) {
		fmt.Fprintf(stderr, "rsml-node %s: %s\n", cmd.name, fmt.Sprintf(format, a...))
		cmd.hint(stderr)
		return f, nil, cliExitUsage, false
	}
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			cmd.usage(stdout, fs)
			return f, nil, cliExitOK, false
		}
		if err != nil { // the flag package has printed what was wrong
			cmd.hint(stderr)
			return f, nil, cliExitUsage, false
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // after "--", nothing is a flag
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) != cmd.nargs:
		if cmd.nargs == 0 {
			return usageErr("want no arguments, got %q", pos)
		}
		return usageErr("want %s, got %d argument(s)", cmd.args, len(pos))
	case f.output != "text" && f.output != "json":
		return usageErr("-o %q: want text or json", f.output)
	case f.timeout <= 0:
		return usageErr("--timeout %v: must be positive", f.timeout)
	case f.ifMatch != "" && f.ifNoneMatch != "":
		return usageErr("--if-match and --if-none-match cannot be combined")
	case f.ifNoneMatch != "" && f.ifNoneMatch != "*":
		return usageErr("--if-none-match %q: only * is supported", f.ifNoneMatch)
	}
	if cmd.nargs > 0 && pos[0] == "" {
		return usageErr("KEY must not be empty")
	}
	if _, err := f.cond(); err != nil {
		return usageErr("%v", err)
	}
	return f, pos, cliExitOK, true
}

// cond is the write condition the flags ask for.
func (f cliFlags) cond() (client.Cond, error) {
	switch {
	case f.ifNoneMatch == "*":
		return client.IfAbsent(), nil
	case f.ifMatch == "":
		return client.Cond{}, nil
	case f.ifMatch == "*":
		return client.IfExists(), nil
	}
	rev, err := strconv.ParseUint(strings.Trim(f.ifMatch, `"`), 10, 64)
	if err != nil || rev == 0 {
		return client.Cond{}, fmt.Errorf("--if-match %q: want a rev (a positive number) or *", f.ifMatch)
	}
	return client.IfRev(rev), nil
}

// client makes the client and the context the command runs in.
func (cmd cliCommand) client(f cliFlags, stderr io.Writer) (*client.Client, context.Context, context.CancelFunc, bool) {
	var eps []string
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	opts := append([]client.Option{client.WithTimeout(min(client.DefaultTimeout, f.timeout))}, cliOptions...)
	c, err := client.New(eps, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node %s: --endpoints: %v\n", cmd.name, err)
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	return c, ctx, cancel, true
}

// cliFail reports err and returns the exit code for it.
func cliFail(stderr io.Writer, err error, write bool) int {
	switch {
	case errors.Is(err, client.ErrConditionFailed):
		msg := err.Error()
		if !strings.Contains(msg, client.ErrConditionFailed.Error()) {
			msg = client.ErrConditionFailed.Error() + ": " + msg
		}
		fmt.Fprintf(stderr, "rsml-node: %s\n", msg)
		return cliExitCondFailed
	case write && errors.Is(err, client.ErrIndeterminate):
		msg := err.Error()
		if !strings.Contains(msg, client.ErrIndeterminate.Error()) {
			msg = client.ErrIndeterminate.Error() + ": " + msg
		}
		fmt.Fprintf(stderr, "rsml-node: %s\nrsml-node: the write was not retried; read the key before writing it again\n", msg)
		return cliExitIndeterminate
	}
	fmt.Fprintf(stderr, "rsml-node: %v\n", err)
	return cliExitError
}

func cliPrintJSON(stdout io.Writer, v any) {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

var kvCommands = map[string]cliCommand{
	"get": {name: "kv get", args: "KEY", nargs: 1,
		about: "Prints KEY's value, raw, with no newline added. The read is linearizable unless --stale.\n" +
			"With -o json: {\"key\": KEY, \"value\": VALUE, \"rev\": REV}, plus \"value_base64\" when VALUE\n" +
			"is not valid UTF-8. A missing key prints \"not found\" on stderr and exits with 3."},
	"put": {name: "kv put", args: "KEY VALUE", nargs: 2, write: true,
		about: "Sets KEY to VALUE; VALUE \"-\" reads the value from stdin. Prints \"OK rev=N\", or with\n" +
			"-o json {\"rev\": N}."},
	"delete": {name: "kv delete", args: "KEY", nargs: 1, write: true,
		about: "Deletes KEY. Prints \"deleted rev=N\", or \"not found rev=N\" when KEY did not exist (a\n" +
			"delete of an absent key is a write too, exit status 0); with -o json {\"rev\": N, \"deleted\": BOOL}."},
}

// kvCommand runs "rsml-node kv ..."; args are those after "kv".
func kvCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "rsml-node kv: missing command\n\n"+kvUsage)
		return cliExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, kvUsage)
		return cliExitOK
	}
	cmd, known := kvCommands[args[0]]
	if !known {
		fmt.Fprintf(stderr, "rsml-node kv: unknown command %q\n\n%s", args[0], kvUsage)
		return cliExitUsage
	}
	f, pos, code, ok := cmd.parse(args[1:], stdout, stderr)
	if !ok {
		return code
	}
	var value []byte
	if cmd.name == "kv put" {
		value = []byte(pos[1])
		if pos[1] == "-" {
			var err error
			if value, err = io.ReadAll(stdin); err != nil {
				fmt.Fprintf(stderr, "rsml-node: kv put: reading the value from stdin: %v\n", err)
				return cliExitError
			}
		}
	}
	c, ctx, cancel, ok := cmd.client(f, stderr)
	if !ok {
		return cliExitUsage
	}
	defer cancel()
	defer c.CloseIdleConnections()
	key := pos[0]
	cond, _ := f.cond()
	switch cmd.name {
	case "kv get":
		var opts []client.ReadOption
		if f.stale {
			opts = append(opts, client.Stale())
		}
		val, rev, err := c.Get(ctx, key, opts...)
		if errors.Is(err, client.ErrNotFound) {
			fmt.Fprintf(stderr, "rsml-node: kv get %q: not found\n", key)
			return cliExitNotFound
		}
		if err != nil {
			return cliFail(stderr, err, false)
		}
		if f.output == "json" {
			out := struct {
				Key         string `json:"key"`
				Value       string `json:"value"`
				Rev         uint64 `json:"rev"`
				ValueBase64 string `json:"value_base64,omitempty"`
			}{Key: key, Value: string(val), Rev: rev}
			if !utf8.Valid(val) {
				out.ValueBase64 = base64.StdEncoding.EncodeToString(val)
			}
			cliPrintJSON(stdout, out)
		} else {
			_, _ = stdout.Write(val)
		}
	case "kv put":
		rev, err := c.Put(ctx, key, value, cond)
		if err != nil {
			return cliFail(stderr, err, true)
		}
		if f.output == "json" {
			cliPrintJSON(stdout, struct {
				Rev uint64 `json:"rev"`
			}{rev})
		} else {
			fmt.Fprintf(stdout, "OK rev=%d\n", rev)
		}
	case "kv delete":
		rev, deleted, err := c.Delete(ctx, key, cond)
		if err != nil {
			return cliFail(stderr, err, true)
		}
		switch {
		case f.output == "json":
			cliPrintJSON(stdout, struct {
				Rev     uint64 `json:"rev"`
				Deleted bool   `json:"deleted"`
			}{rev, deleted})
		case deleted:
			fmt.Fprintf(stdout, "deleted rev=%d\n", rev)
		default:
			fmt.Fprintf(stdout, "not found rev=%d\n", rev)
		}
	}
	return cliExitOK
}

var statusCmd = cliCommand{name: "status", args: "", nargs: 0,
	about: "Asks every endpoint for its status and prints a table: ID, LEADER, IS_LEADER, BALLOT,\n" +
		"COMMIT (commit_seq), APPLIED (applied_seq), ENDPOINT, and ERROR for endpoints that did not\n" +
		"answer. With -o json: an array with one object per endpoint, the fields of GET /v1/status\n" +
		"plus \"endpoint\" (and \"error\" instead of the fields when it did not answer).\n" +
		"Exits with 1 when any endpoint did not answer."}

// statusCommand runs "rsml-node status"; args are those after "status".
func statusCommand(args []string, stdout, stderr io.Writer) int {
	f, _, code, ok := statusCmd.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	c, ctx, cancel, ok := statusCmd.client(f, stderr)
	if !ok {
		return cliExitUsage
	}
	defer cancel()
	defer c.CloseIdleConnections()
	all, _ := c.StatusAll(ctx)
	failed := 0
	for _, s := range all {
		if s.Err != nil {
			failed++
		}
	}
	if f.output == "json" {
		type row struct {
			Endpoint string `json:"endpoint"`
			*client.Status
			Error string `json:"error,omitempty"`
		}
		rows := make([]row, len(all))
		for i, s := range all {
			rows[i] = row{Endpoint: s.Endpoint}
			if s.Err != nil {
				rows[i].Error = s.Err.Error()
			} else {
				rows[i].Status = &s.Status
			}
		}
		cliPrintJSON(stdout, rows)
	} else {
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		header := "ID\tLEADER\tIS_LEADER\tBALLOT\tCOMMIT\tAPPLIED\tENDPOINT"
		if failed > 0 {
			header += "\tERROR"
		}
		fmt.Fprintln(tw, header)
		for _, s := range all {
			if s.Err != nil {
				fmt.Fprintf(tw, "-\t-\t-\t-\t-\t-\t%s\t%v\n", s.Endpoint, s.Err)
				continue
			}
			st := s.Status
			leader := st.Leader
			if leader == "" {
				leader = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%d\t%d\t%s", st.ID, leader, st.IsLeader, st.Ballot, st.CommitSeq, st.AppliedSeq, s.Endpoint)
			if failed > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
		_, _ = stdout.Write(buf.Bytes())
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "rsml-node: status: %d of %d endpoints did not answer\n", failed, len(all))
		return cliExitError
	}
	return cliExitOK
}
