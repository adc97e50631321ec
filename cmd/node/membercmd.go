package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rsml-go/rsml/client"
)

const memberUsage = `Usage:
  rsml-node member list [flags]                 the members of the latest configuration
  rsml-node member add ID ADDR [flags]          add replica ID, reached by its peers at ADDR (HOST:PORT)
  rsml-node member remove ID [flags]            remove replica ID (its id can never be used again)

Run "rsml-node member COMMAND -h" for its flags.
`

var memberCmds = map[string]cliCommand{
	"list": {name: "member list",
		about: "Prints the members of the latest configuration a replica knows: id, consensus address,\n" +
			"client URL and roles (-o json: {\"config\": N, \"members\": [...]}, as GET /v1/members)."},
	"add": {name: "member add", args: "ID ADDR", nargs: 2,
		about: "Adds replica ID, whose peers reach it at ADDR (the --bind of its 'run --join'), and prints\n" +
			"the new configuration's number once it is in force. A replica with the acceptor role is\n" +
			"added as a learner first and given its roles in a second change, so that quorums never\n" +
			"wait on a replica that has not started. Start the new replica (run --join) before or after:\n" +
			"it catches up on its own. An id or address in use, or an id once removed, is refused."},
	"remove": {name: "member remove", args: "ID", nargs: 1,
		about: "Removes replica ID and prints the new configuration's number once it is in force. The\n" +
			"removed replica's 'run' exits 0 once it learns it. Removing the leader moves leadership to\n" +
			"another replica. Replace a replica that lost its disk by adding a new id, then removing the\n" +
			"old one."},
}

// memberCommand runs "rsml-node member"; args are those after "member".
func memberCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, memberUsage)
		return cliExitUsage
	}
	cmd, ok := memberCmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, memberUsage)
			return cliExitOK
		}
		fmt.Fprintf(stderr, "rsml-node member: unknown command %q\n\n%s", args[0], memberUsage)
		return cliExitUsage
	}
	f, pos, code, ok := cmd.parse(args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		if n, err := strconv.ParseUint(pos[0], 10, 32); err != nil || n == 0 {
			fmt.Fprintf(stderr, "rsml-node %s: ID %q: want a replica id (a positive number)\n", cmd.name, pos[0])
			cmd.hint(stderr)
			return cliExitUsage
		}
	}
	var roles []string
	if cmd.name == "member add" {
		for _, r := range strings.Split(f.roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				roles = append(roles, r)
			}
		}
		if len(roles) == 0 {
			fmt.Fprintf(stderr, "rsml-node %s: --roles %q: name at least one of proposer, acceptor, learner\n", cmd.name, f.roles)
			cmd.hint(stderr)
			return cliExitUsage
		}
	}
	c, ctx, cancel, ok := cmd.client(f, stderr)
	if !ok {
		return cliExitUsage
	}
	defer cancel()
	defer c.CloseIdleConnections()
	switch cmd.name {
	case "member list":
		num, ms, err := c.Members(ctx)
		if err != nil {
			return cliFail(stderr, err, "")
		}
		if f.output == "json" {
			cliPrintJSON(stdout, map[string]any{"config": num, "members": ms})
			return cliExitOK
		}
		fmt.Fprintf(stdout, "config %d\n", num)
		for _, m := range ms {
			http := m.HTTP
			if http == "" {
				http = "-"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", m.ID, m.Address, http, strings.Join(m.Roles, ","))
		}
		return cliExitOK
	case "member add":
		num, err := c.AddMember(ctx, client.Member{ID: pos[0], Address: pos[1], HTTP: f.memberHTTP, Roles: roles})
		return memberDone(stdout, stderr, f, num, err)
	default:
		num, err := c.RemoveMember(ctx, pos[0])
		return memberDone(stdout, stderr, f, num, err)
	}
}

func memberDone(stdout, stderr io.Writer, f cliFlags, num uint64, err error) int {
	if err != nil {
		return cliFail(stderr, err, "")
	}
	if f.output == "json" {
		cliPrintJSON(stdout, map[string]uint64{"config": num})
		return cliExitOK
	}
	fmt.Fprintf(stdout, "config %d\n", num)
	return cliExitOK
}
