// Package pactor holds rsml's workarounds for Proto.Actor (at the version
// in go.mod): a mailbox that survives the spawn race, and a dispatcher that
// keeps one goroutine per role. Each says what it works around; remove it
// when Proto.Actor no longer needs it.
package pactor
