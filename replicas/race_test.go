//go:build race

package replicas_test

// raceEnabled: the tests run with -race, so the replicas are built with it
// too, and a data race in one of them fails the test.
const raceEnabled = true
