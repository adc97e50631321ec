package main

import (
	"fmt"
	"io"
	"strconv"
)

const leaderUsage = `Usage:
  rsml-node leader transfer [ID] [flags]   move leadership to replica ID (none: any other replica)

Run "rsml-node leader transfer -h" for its flags.
`

var leaderTransferCmd = cliCommand{name: "leader transfer", args: "[ID]", optArgs: 1,
	about: "Moves leadership to replica ID, or to any replica other than the leader, and prints the\n" +
		"new leader and its ballot once it leads (-o json: {\"leader\": ID, \"ballot\": B}). The leader\n" +
		"stops opening slots, waits until those in flight are chosen and hands over: no write fails\n" +
		"for it. A replica the leader has not heard from lately (down, or cut off) is refused at\n" +
		"once; one that does not take over in time fails the command after the server's wait. The\n" +
		"leader leads on either way."}

// leaderCommand runs "rsml-node leader"; args are those after "leader".
func leaderCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "transfer" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, leaderUsage)
			return cliExitOK
		}
		fmt.Fprint(stderr, leaderUsage)
		return cliExitUsage
	}
	cmd := leaderTransferCmd
	f, pos, code, ok := cmd.parse(args[1:], stdout, stderr)
	if !ok {
		return code
	}
	id := ""
	if len(pos) == 1 {
		if n, err := strconv.ParseUint(pos[0], 10, 32); err != nil || n == 0 {
			fmt.Fprintf(stderr, "rsml-node %s: ID %q: want a replica id (a positive number)\n", cmd.name, pos[0])
			cmd.hint(stderr)
			return cliExitUsage
		}
		id = pos[0]
	}
	c, ctx, cancel, ok := cmd.client(f, stderr)
	if !ok {
		return cliExitUsage
	}
	defer cancel()
	defer c.CloseIdleConnections()
	l, err := c.TransferLeader(ctx, id)
	if err != nil {
		return cliFail(stderr, err, "")
	}
	if f.output == "json" {
		cliPrintJSON(stdout, map[string]string{"leader": l.ID, "ballot": l.Ballot})
		return cliExitOK
	}
	fmt.Fprintf(stdout, "leader %s (ballot %s)\n", l.ID, l.Ballot)
	return cliExitOK
}
