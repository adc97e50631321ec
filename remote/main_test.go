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
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
