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
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rsml-go/rsml/client"
)

// The client commands: rsml-node kv get|put|delete|list|txn and rsml-node
// status (DESIGN.md §4.1), on package client.

// cliDefaultEndpoints are the dev cluster's replicas (rsml-node dev).
const cliDefaultEndpoints = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003"

// Exit codes of the client commands.
const (
	cliExitOK            = 0
	cliExitError         = 1 // the request failed (message on stderr)
	cliExitUsage         = 2 // bad command line, or a malformed kv txn file; nothing was sent
	cliExitNotFound      = 3 // kv get: the key does not exist
	cliExitCondFailed    = 4 // kv put/delete: --if-match/--if-none-match did not hold; nothing changed
	cliExitIndeterminate = 5 // kv put/delete/txn: the outcome of a write is unknown
)

const cliExitCodes = `Exit status:
  0  success; kv txn: also when its conditions did not hold and "else" ran
     (the first line says "failed")
  1  error (the message is on stderr)
  2  usage error; kv txn: also a malformed transaction (nothing was sent)
  3  kv get: the key does not exist (stderr says "not found")
  4  kv put/delete: the condition (--if-match, --if-none-match) did not hold; nothing changed
  5  kv put/delete/txn: outcome unknown, the write may or may not have been applied
     (it is not retried; read the keys before writing again)
`

// cliOptions are added to every client the commands make; tests use them to
// make retries fast.
var cliOptions []client.Option

const kvUsage = `Usage:
  rsml-node kv get KEY [flags]            print KEY's value
  rsml-node kv put KEY VALUE [flags]      set KEY to VALUE ("-": read it from stdin)
  rsml-node kv delete KEY [flags]         delete KEY
  rsml-node kv list [PREFIX] [flags]      print the keys that start with PREFIX (--all: every page)
  rsml-node kv txn [FILE|-] [flags]       run a transaction, JSON from FILE or stdin

Run "rsml-node kv COMMAND -h" for a command's flags.

` + cliExitCodes

// cliCommand describes one client command.
type cliCommand struct {
	name    string // "kv get"
	args    string // "KEY VALUE"
	nargs   int
	optArgs int // how many arguments may follow the nargs required ones
	about   string
	write   bool // put/delete: takes --if-match and --if-none-match
}

// cliFlags are the flags of a client command.
type cliFlags struct {
	endpoints   string
	output      string
	timeout     time.Duration
	stale       bool
	ifMatch     string
	ifNoneMatch string
	limit       int // kv list; 0: not given, the server's default
	startAfter  string
	all         bool
	memberHTTP  string // member add
	roles       string // member add
	// credentials, as etcdctl spells them
	cacert, cert, key, token string
}

// cliMaxListLimit is the largest page GET /v1/kv?prefix= serves.
const cliMaxListLimit = 10000

func (cmd cliCommand) flagSet(f *cliFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rsml-node "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parse prints the usage: to stdout for -h, a hint for errors
	fs.StringVar(&f.endpoints, "endpoints", cliDefaultEndpoints,
		"comma-separated base `URLs` of the replicas; any replica takes any request, the leader is preferred")
	fs.StringVar(&f.output, "o", "text", "output `format`: text or json")
	fs.StringVar(&f.output, "output", "text", "output `format`: text or json (same as -o)")
	timeoutHelp := "give up after this `duration`, retries included (each request waits at most 5s)"
	if cmd.name == "kv list" {
		timeoutHelp += "; with --all, for each page"
	}
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, timeoutHelp)
	addCredFlags(fs, &f.cacert, &f.cert, &f.key, &f.token)
	switch {
	case cmd.name == "kv get":
		fs.BoolVar(&f.stale, "stale", false, "read the answering replica's local copy: faster, but it may miss recent writes")
	case cmd.name == "kv list":
		fs.BoolVar(&f.stale, "stale", false, "read the answering replica's local copy: faster, but it may miss recent writes")
		fs.IntVar(&f.limit, "limit", 0,
			fmt.Sprintf("at most `N` keys per page, 1 to %d (default: the server's, 1000); with --all, the page size", cliMaxListLimit))
		fs.StringVar(&f.startAfter, "start-after", "", "list only the keys after `KEY` (the last key of the previous page)")
		fs.BoolVar(&f.all, "all", false, "fetch page after page until every key is listed (not one snapshot: each page is read on its own)")
	case cmd.name == "member add":
		fs.StringVar(&f.memberHTTP, "http", "", "the new replica's client `URL` (shown by member list; optional)")
		fs.StringVar(&f.roles, "roles", "proposer,acceptor,learner",
			"comma-separated `roles` of the new replica: proposer, acceptor, learner (learner alone: a read-only observer)")
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
	limitSet := false // an explicit --limit 0 is an error, not the default
	fs.Visit(func(fl *flag.Flag) { limitSet = limitSet || fl.Name == "limit" })
	switch {
	case len(pos) < cmd.nargs || len(pos) > cmd.nargs+cmd.optArgs:
		if cmd.nargs+cmd.optArgs == 0 {
			return usageErr("want no arguments, got %q", pos)
		}
		return usageErr("want %s, got %d argument(s)", cmd.args, len(pos))
	case limitSet && (f.limit < 1 || f.limit > cliMaxListLimit):
		return usageErr("--limit %d: want 1 to %d", f.limit, cliMaxListLimit)
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

// client makes the client and the context the command runs in (one
// --timeout for the whole command; kv list --all makes its own per page).
func (cmd cliCommand) client(f cliFlags, stderr io.Writer) (*client.Client, context.Context, context.CancelFunc, bool) {
	var eps []string
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	opts := append([]client.Option{client.WithTimeout(min(client.DefaultTimeout, f.timeout))}, cliOptions...)
	creds, err := credOptions(f.cacert, f.cert, f.key, f.token)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node %s: %v\n", cmd.name, err)
		return nil, nil, nil, false
	}
	c, err := client.New(eps, append(opts, creds...)...)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node %s: --endpoints: %v\n", cmd.name, err)
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	return c, ctx, cancel, true
}

// cliFail reports err and returns the exit code for it. writeHint is what
// to do when a write's outcome is unknown; "" for a read, whose unknown
// outcome is just an error.
func cliFail(stderr io.Writer, err error, writeHint string) int {
	switch {
	case errors.Is(err, client.ErrConditionFailed):
		msg := err.Error()
		if !strings.Contains(msg, client.ErrConditionFailed.Error()) {
			msg = client.ErrConditionFailed.Error() + ": " + msg
		}
		fmt.Fprintf(stderr, "rsml-node: %s\n", msg)
		return cliExitCondFailed
	case writeHint != "" && errors.Is(err, client.ErrIndeterminate):
		msg := err.Error()
		if !strings.Contains(msg, client.ErrIndeterminate.Error()) {
			msg = client.ErrIndeterminate.Error() + ": " + msg
		}
		fmt.Fprintf(stderr, "rsml-node: %s\nrsml-node: the write was not retried; %s\n", msg, writeHint)
		return cliExitIndeterminate
	}
	fmt.Fprintf(stderr, "rsml-node: %v\n", err)
	return cliExitError
}

// cliWriteHint is cliFail's advice after a put or delete of unknown outcome.
const cliWriteHint = "read the key before writing it again"

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
	"list": {name: "kv list", args: "[PREFIX]", optArgs: 1, about: kvListAbout},
	"txn":  {name: "kv txn", args: "[FILE|-]", optArgs: 1, about: kvTxnAbout},
}

const kvListAbout = `Prints the keys that start with PREFIX (every key when PREFIX is absent or empty), in byte
order, one per line: KEY = VALUE (rev=R), R being the rev of the write that set the key. The
read is linearizable unless --stale. One page holds at most --limit keys; when more follow,
stderr says how to ask for the next page (--start-after=LAST-KEY), and --all fetches every
page. Pages are read one after the other, so --all is not one snapshot of the store.
Keys and values print as they are when they are printable text, else Go-quoted ("a\nb",
"\xff"); -o json gives the exact bytes: {"rev": N, "items": [{"key": K, "value": V,
"value_base64": B, "rev": R}, ...], "more": BOOL} ("key_base64" instead of "key" and no
"value" when they are not UTF-8). With --all, one object with every page's items and the
last page's rev. No matching key is not an error (exit status 0, nothing printed).`

const kvTxnAbout = `Runs a transaction (POST /v1/txn), read as JSON from FILE, or from stdin when FILE is "-" or
absent:
  {"if":   [{"key": "a", "rev": 12}, {"key": "b", "exists": false}],
   "then": [{"op": "put", "key": "a", "value": "text"}, {"op": "delete", "key": "b"}],
   "else": [{"op": "get", "key": "a"}]}
If every condition holds, "then" runs, else "else", atomically: one command at one rev. A
condition has "rev" (the key exists and was last set by that rev) or "exists" (true: the key
exists; false: it is absent). An op is put (with "value", or "value_base64" for binary),
delete or get; a binary key is "key_base64". Any of the three lists may be omitted. A
malformed transaction is refused before anything is sent, naming the place ("then[2]: ...",
exit status 2).
Prints "succeeded rev=N" (the conditions held, "then" ran) or "failed rev=N" (they did not,
"else" ran), then one line per op of the branch that ran: "put KEY rev=N", "delete KEY rev=N
deleted=true|false", "get KEY = VALUE (rev=R)" or "get KEY: not found"; keys and values as
kv list prints them. With -o json, the server's answer: {"rev": N, "succeeded": BOOL,
"results": [...]}. Failed conditions are not an error: the exit status is 0 either way (as
etcdctl txn's); a script reads the first line, or "succeeded" of -o json.
A transaction that writes is sent once: when its outcome is unknown (exit status 5) it may or
may not have been applied, and it is not retried. One that only reads is retried like kv get.`

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
	switch cmd.name {
	case "kv list":
		return kvList(cmd, f, pos, stdout, stderr)
	case "kv txn":
		return kvTxn(cmd, f, pos, stdin, stdout, stderr)
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
			return cliFail(stderr, err, "")
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
			return cliFail(stderr, err, cliWriteHint)
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
			return cliFail(stderr, err, cliWriteHint)
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

// kvTxn runs "rsml-node kv txn [FILE|-]".
func kvTxn(cmd cliCommand, f cliFlags, pos []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, data, err := readTxnSource(pos, stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node: kv txn: %v\n", err)
		return cliExitError
	}
	spec, err := parseTxnJSON(data)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node kv txn: %s: %v\n", name, err)
		cmd.hint(stderr)
		return cliExitUsage
	}
	c, ctx, cancel, ok := cmd.client(f, stderr)
	if !ok {
		return cliExitUsage
	}
	defer cancel()
	defer c.CloseIdleConnections()
	t := spec.txn()
	writeHint := ""
	if !t.ReadOnly() {
		writeHint = "read the keys it writes before running it again"
	}
	res, err := c.Txn(ctx, t)
	if err != nil {
		return cliFail(stderr, err, writeHint)
	}
	ops := spec.branch(res.Succeeded)
	if len(ops) != len(res.Results) {
		fmt.Fprintf(stderr, "rsml-node: kv txn: ran at rev %d, but the answer has %d results for the %d operations of its branch\n",
			res.Rev, len(res.Results), len(ops))
		return cliExitError
	}
	if f.output == "json" {
		cliPrintJSON(stdout, txnOut(res, ops))
		return cliExitOK
	}
	var b strings.Builder
	verdict := "succeeded"
	if !res.Succeeded {
		verdict = "failed"
	}
	fmt.Fprintf(&b, "%s rev=%d\n", verdict, res.Rev)
	for i, r := range res.Results {
		key := cliShow([]byte(ops[i].key))
		switch {
		case ops[i].kind == "put":
			fmt.Fprintf(&b, "put %s rev=%d\n", key, r.Rev)
		case ops[i].kind == "delete":
			fmt.Fprintf(&b, "delete %s rev=%d deleted=%t\n", key, r.Rev, r.Deleted)
		case r.Found:
			fmt.Fprintf(&b, "get %s = %s (rev=%d)\n", key, cliShow(r.Value), r.Rev)
		default:
			fmt.Fprintf(&b, "get %s: not found\n", key)
		}
	}
	_, _ = io.WriteString(stdout, b.String())
	return cliExitOK
}

// readTxnSource reads the transaction's JSON from the file pos names, or
// from stdin; name is where it came from, for messages.
func readTxnSource(pos []string, stdin io.Reader, stderr io.Writer) (name string, data []byte, err error) {
	if len(pos) == 1 && pos[0] != "-" {
		data, err = os.ReadFile(pos[0]) // its error names the file
		return pos[0], data, err
	}
	if f, ok := stdin.(*os.File); ok {
		// Someone who typed "kv txn" alone would otherwise see nothing happen.
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(stderr, "rsml-node: kv txn: reading the transaction from stdin (Ctrl-D ends it)")
		}
	}
	if data, err = io.ReadAll(stdin); err != nil {
		return "stdin", nil, fmt.Errorf("reading the transaction from stdin: %w", err)
	}
	return "stdin", data, nil
}

// kvList runs "rsml-node kv list [PREFIX]". Text goes out a page at a time,
// so a long --all listing shows progress and what was printed before a
// failure stays printed, with the --start-after that resumes it.
func kvList(cmd cliCommand, f cliFlags, pos []string, stdout, stderr io.Writer) int {
	var prefix string
	if len(pos) == 1 {
		prefix = pos[0]
	}
	c, _, cancel, ok := cmd.client(f, stderr)
	if !ok {
		return cliExitUsage
	}
	defer cancel()
	defer c.CloseIdleConnections()
	opts := client.ListOptions{StartAfter: f.startAfter, Limit: f.limit, Stale: f.stale}
	out := listOutJSON{Items: []itemOutJSON{}}
	printed := 0
	last := f.startAfter // the last key received: every key that follows must be after it
	for {
		// Each page has the whole --timeout: --all may list more keys than
		// one timeout's worth.
		ctx, cancelPage := context.WithTimeout(context.Background(), f.timeout)
		page, err := c.List(ctx, prefix, opts)
		cancelPage()
		if err == nil {
			err = checkListPage(prefix, last, page)
		}
		if err != nil {
			code := cliFail(stderr, err, "")
			if printed > 0 {
				fmt.Fprintf(stderr, "rsml-node: kv list: stopped after %d keys; to go on: --start-after=%s\n",
					printed, cliShellQuote(last))
			}
			return code
		}
		out.Rev, out.More = page.Rev, page.More
		if f.output == "json" {
			for _, it := range page.Items {
				out.Items = append(out.Items, listItemOut(it))
			}
		} else {
			var b strings.Builder
			for _, it := range page.Items {
				fmt.Fprintf(&b, "%s = %s (rev=%d)\n", cliShow([]byte(it.Key)), cliShow(it.Value), it.Rev)
			}
			_, _ = io.WriteString(stdout, b.String())
			printed += len(page.Items)
		}
		if len(page.Items) > 0 {
			last = page.Items[len(page.Items)-1].Key
		}
		if !f.all || !page.More {
			break
		}
		opts.StartAfter = last
	}
	if f.output == "json" {
		cliPrintJSON(stdout, out)
	}
	if out.More {
		fmt.Fprintf(stderr, "rsml-node: kv list: more keys follow; for the next page add --start-after=%s (or --all for every key)\n",
			cliShellQuote(last))
	}
	return cliExitOK
}

// checkListPage refuses a page that breaks the listing's contract. --all asks
// for the keys after the last one it got, so a server that repeated keys or
// said "more" without sending any would otherwise keep it asking forever.
func checkListPage(prefix, after string, p client.ListPage) error {
	if p.More && len(p.Items) == 0 {
		return fmt.Errorf("list %q: the answer says more keys follow but holds none", prefix)
	}
	prev := after
	for i, it := range p.Items {
		switch {
		case !strings.HasPrefix(it.Key, prefix):
			return fmt.Errorf("list %q: item %d, key %q, lacks the prefix", prefix, i, it.Key)
		case (i > 0 || after != "") && it.Key <= prev:
			return fmt.Errorf("list %q: item %d, key %q, is not after %q: keys out of order", prefix, i, it.Key, prev)
		}
		prev = it.Key
	}
	return nil
}

// cliShow gives a key or value as text output shows it, one per line: as it
// is when it is printable text, else Go-quoted, so that a newline or a binary
// byte cannot break the line or the terminal. What would read as something
// else is quoted too: the empty string, leading or trailing blanks, a leading
// quote. -o json has the exact bytes.
func cliShow(b []byte) string {
	s := string(b)
	if s == "" || !utf8.ValidString(s) || s[0] == '"' || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// cliShellQuote quotes s for a POSIX shell when it needs quoting: the hints
// print a flag to paste into the next command.
func cliShellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:@%+,=", r))) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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

// addCredFlags declares the credential flags of the client commands and of
// bench --endpoints, as etcdctl names them.
func addCredFlags(fs *flag.FlagSet, cacert, cert, key, token *string) {
	fs.StringVar(cacert, "cacert", "", "`FILE` (PEM) of the CA that signed the replicas' HTTPS certificates (https:// endpoints)")
	fs.StringVar(cert, "cert", "", "client certificate `FILE` (PEM), with --key: authenticates as admin where the replicas trust its CA")
	fs.StringVar(key, "key", "", "`FILE` (PEM) of the key of --cert")
	fs.StringVar(token, "token", "", "bearer `TOKEN` sent with every request (default: $RSML_TOKEN; a flag shows in ps)")
}

// credOptions turns the credential flags into client options.
func credOptions(cacert, cert, key, token string) ([]client.Option, error) {
	var opts []client.Option
	if cacert != "" || cert != "" || key != "" {
		cfg, err := client.LoadTLS(cacert, cert, key)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	if token == "" {
		token = os.Getenv("RSML_TOKEN")
	}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	return opts, nil
}
