package fetch

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (a connection,
// retry timer or semaphore waiter that outlived its call).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
