// Package chat is the logic of the chat example: a Server that relays
// lines between named clients, and Client, the other end. Neither knows
// about foxtrot: the server serves any net.Listener and the client talks
// over any net.Conn, so tests run them over net.Pipe as well as over a
// simulated foxtrot network, and the command in the parent directory
// wires them to a foxtrot node.
//
// # Protocol
//
// Newline-delimited UTF-8 in both directions; "\r\n" is accepted for "\n".
//
// The client's first line is its name: 1 to MaxName characters, each
// printable (unicode.IsGraphic: no control, format or line-separator
// characters), no ':' (it separates a name from a message), not starting
// with '*' (server notices start with "***"), no leading or trailing
// space, and not the name of someone connected now. Every later line is a
// message of at most MaxLine bytes, without control characters other than
// tab. Empty lines are ignored.
//
// The server's first line answers the name, and is one of
//
//	*** welcome NAME; here: OTHER, OTHER
//	*** welcome NAME; nobody else is here
//	*** refused: REASON                        (then the server closes)
//
// after which it sends, in one order that is the same for every client:
//
//	NAME: MESSAGE                 what NAME said (never echoed to NAME)
//	*** NAME joined
//	*** NAME left
//	*** NAME dropped (not reading)
//	*** not sent: REASON          to the sender of a refused message only
//	*** server closing
//
// A message longer than MaxLine bytes, or one with control characters, is
// not relayed: its sender gets "*** not sent: ..." and stays connected
// (the server skips the rest of an overlong line up to its newline).
//
// A client that does not read is dropped: the server keeps a bounded
// queue of lines per client (Server.QueueLen) and, rather than wait when
// it is full, closes that client's connection and tells the others. A
// client that sends faster than Server.Rate lines a second (after a burst
// of Server.Burst) is slowed down instead: the server reads it no faster,
// so the connection's flow control pushes back on that client alone, and
// one flood cannot fill the others' queues. Nothing a client does can
// block the server or another client.
//
// A client leaves by closing its connection, or by half-closing it
// (CloseWrite): the server then sends what it still has queued for it and
// closes. Server.Close tells every client "*** server closing" and ends
// each connection with a lingering close: it sends what is queued,
// half-closes, and waits for the client to close its side (each step
// bounded by Server.FlushTimeout), so the last lines arrive even if the
// program closes its network right after.
package chat
