//go:build race

package peer

// raceEnabled reports whether the race detector is on; it multiplies
// memory and slows everything, so budget assertions are skipped under it.
const raceEnabled = true
