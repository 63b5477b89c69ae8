//go:build race

package twiliosim

const raceEnabled = true
