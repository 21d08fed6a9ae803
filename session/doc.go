// Package session is the end-to-end reliable stream of a foxtrot
// connection: encrypted records over one or more paths, acknowledgements,
// a receive window, and the resume and failover that move a connection to
// a new path when a relay or link fails, without losing, duplicating or
// reordering a byte.
//
// A session knows paths, not how they were found: a Path is a byte stream
// through zero or more relays with its record keys and metadata, made by
// whoever set the connection up (package route). When the dialling end
// needs another path it asks the Finder it was given. A dialler may also
// leave a working path for a better one (Move: a direct link that NAT
// traversal opened), by the same resume.
//
// # Concurrency
//
// Each session has one run-loop goroutine that owns its state, in the
// manner of quic-go's connection: path readers hand it the records they
// open through a channel, path writers take sealed batches from it, and
// Read and Write reach it through a small mutex-guarded handoff (the send
// and receive queues). The reliability logic itself (machine.go) is a
// pure state machine that takes the time as an argument, so it is tested
// on a fake clock.
package session
