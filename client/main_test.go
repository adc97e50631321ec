package client

import (
	"testing"

	"go.uber.org/goleak"
)

// The client starts goroutines (discovery, StatusAll); none may outlive a call.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
