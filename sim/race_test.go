//go:build race

package sim

// raceEnabled: the race detector is on, and runs take several times longer.
const raceEnabled = true
