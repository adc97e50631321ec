package remote

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests. protoactor
// needs no exception here: an ActorSystem starts no long-lived goroutine (its
// mailbox goroutines end when the mailbox is empty), and the one timed
// goroutine it does start, the dead-letter log throttle, is kept to 1 ms by
// newSystem's WithDeadLetterThrottleInterval.
//
// Remoting needs none either. The replicas that talk over TCP run in child
// processes (see tcp_test.go), each of which runs this TestMain too, so its
// exit status reports a goroutine left by its Shutdown + sys.Shutdown; and in
// this process remoting only starts and stops without a peer. gRPC closes a
// connection's goroutines asynchronously, a few milliseconds after
// TCP.Shutdown returns: goleak's own retries (it re-checks for about 0.4 s)
// cover that, so no goroutine is ignored by name.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
