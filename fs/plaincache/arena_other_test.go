//go:build !linux

package plaincache

const childEnv = "PLAINCACHE_TEST_CHILD"

// childMain exists only on Linux, where the memlock limit is real.
func childMain(string) int { return 0 }
