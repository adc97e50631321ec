//go:build !race

package remote

// raceEnabled: the race detector is on (see BenchmarkTCPSend).
const raceEnabled = false
