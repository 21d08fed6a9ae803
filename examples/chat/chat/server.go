package chat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Server relays lines between the clients of its listeners. The zero
// value is ready to use; set its fields before the first Serve and not
// after.
//
// Each client has two goroutines, a reader and a writer, joined by a
// queue: every line the server sends is put on the recipients' queues
// under one lock, which is what gives all clients the same order, and
// never waits, which is what keeps a slow client from holding up the
// others. A client whose queue is full is dropped. So that a client who
// floods cannot get the others dropped, the server takes lines from each
// client at a limited rate; a faster sender is slowed down (the server
// stops reading it, and the connection's flow control pushes back).
type Server struct {
	// QueueLen is how many lines may wait to be sent to one client; a
	// client further behind than that is dropped. Default 256.
	QueueLen int
	// Rate and Burst limit how fast the server takes lines from one
	// client: a token bucket of Burst lines, refilled at Rate lines per
	// second. Defaults 20 and 40; math.Inf(1) means no limit.
	Rate  float64
	Burst int
	// NameTimeout bounds the wait for a new connection's name. Default 1
	// minute.
	NameTimeout time.Duration
	// FlushTimeout bounds how long a leaving client (or, at Close, every
	// client) is given to receive what is queued for it, and then again
	// to close its side of the connection. Default 1s.
	FlushTimeout time.Duration
	// Logger receives joins, leaves, refusals and drops. Default: discard.
	Logger *slog.Logger

	initOnce sync.Once
	log      *slog.Logger

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	pending   map[net.Conn]struct{} // accepted, not yet named
	clients   map[string]*client    // by name
	wg        sync.WaitGroup        // one per accepted connection
}

// client is one named connection.
type client struct {
	name  string
	conn  net.Conn
	queue chan string

	// stop is closed (once, under Server.mu) when the client is to go:
	// the writer then sends what is queued, unless dropped, and closes
	// the connection.
	stop    chan struct{}
	stopped bool
	dropped bool
	// quit ends the reader's wait for the rate limiter when c stops.
	quit context.CancelFunc
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		if s.QueueLen <= 0 {
			s.QueueLen = 256
		}
		if s.Rate <= 0 {
			s.Rate = 20
		}
		if s.Burst <= 0 {
			s.Burst = 40
		}
		if s.NameTimeout <= 0 {
			s.NameTimeout = time.Minute
		}
		if s.FlushTimeout <= 0 {
			s.FlushTimeout = time.Second
		}
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		s.listeners = make(map[net.Listener]struct{})
		s.pending = make(map[net.Conn]struct{})
		s.clients = make(map[string]*client)
	})
}

// Serve accepts connections on l and serves each as a chat client until
// Close. It returns ErrServerClosed after Close, or the first error of
// Accept (a foxtrot listener fails only when closed). It closes l before
// returning. A Server may serve several listeners at once, as one room.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	defer l.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	for {
		conn, err := l.Accept()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if conn != nil {
				conn.Close()
			}
			return ErrServerClosed
		}
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.pending[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(conn)
	}
}

// Close stops every Serve, says "*** server closing" to every client,
// and closes their connections, giving each FlushTimeout to receive what
// is queued for it and FlushTimeout more to close its side (so that the
// last lines are not lost if the caller closes the network next). It
// returns once every goroutine of the server has exited. It is
// idempotent.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for l := range s.listeners {
			l.Close()
		}
		for conn := range s.pending {
			conn.Close()
		}
		for _, c := range s.clients {
			select {
			case c.queue <- "*** server closing":
			default:
			}
			s.stopLocked(c)
		}
		clear(s.clients)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// handle runs one connection: its name, then its messages.
func (s *Server) handle(conn net.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	defer func() {
		s.mu.Lock()
		delete(s.pending, conn)
		s.mu.Unlock()
	}()
	from := conn.RemoteAddr().String()

	lr := newLineReader(conn, MaxLine)
	conn.SetReadDeadline(time.Now().Add(s.NameTimeout))
	line, err := lr.next()
	var c *client
	var problem string
	switch {
	case errors.Is(err, ErrLineTooLong):
		problem = "bad name: " + tooLong
	case err != nil:
		s.log.Debug("no name", "from", from, "err", err)
		return
	default:
		conn.SetReadDeadline(time.Time{})
		c, problem = s.join(conn, string(line))
	}
	if c == nil {
		s.log.Info("refused", "from", from, "reason", problem)
		conn.SetWriteDeadline(time.Now().Add(s.FlushTimeout))
		io.WriteString(conn, "*** refused: "+problem+"\n")
		return
	}
	s.log.Info("joined", "name", c.name, "from", from)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.mu.Lock()
	if c.stopped { // by Close, just now
		cancel()
	}
	c.quit = cancel
	s.mu.Unlock()

	done := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(done)
		s.write(c, readDone)
	}()
	s.read(ctx, c, lr)
	close(readDone)
	s.leave(c)
	<-done
}

// join registers conn as name, or says why it cannot.
func (s *Server) join(conn net.Conn, name string) (*client, string) {
	if p := nameProblem(name); p != "" {
		return nil, "bad name: " + p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, "server closing"
	}
	if _, ok := s.clients[name]; ok {
		return nil, "the name " + name + " is taken"
	}
	c := &client{name: name, conn: conn, queue: make(chan string, s.QueueLen), stop: make(chan struct{}), quit: func() {}}
	c.queue <- s.welcomeLocked(name)
	s.broadcastLocked(nil, "*** "+name+" joined")
	s.clients[name] = c
	delete(s.pending, conn)
	return c, ""
}

// welcomeLocked is the first line a new client gets: who else is here.
func (s *Server) welcomeLocked(name string) string {
	if len(s.clients) == 0 {
		return "*** welcome " + name + "; nobody else is here"
	}
	names := make([]string, 0, len(s.clients))
	for n := range s.clients {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("*** welcome " + name + "; here: ")
	for i, n := range names {
		if b.Len() > MaxLine/2 {
			b.WriteString(" and " + strconv.Itoa(len(names)-i) + " more")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// read relays c's lines until its connection ends. Once c is stopped
// (ctx is done) it only drains them, so that the writer's lingering close
// sees the client's end.
func (s *Server) read(ctx context.Context, c *client, lr *lineReader) {
	limit := rate.NewLimiter(rate.Limit(s.Rate), s.Burst)
	for {
		line, err := lr.next()
		switch {
		case err != nil && !errors.Is(err, ErrLineTooLong):
			return
		case err == nil && len(line) == 0:
			continue
		case limit.Wait(ctx) != nil:
			continue // stopped: drain
		case err != nil:
			s.tell(c, "*** not sent: "+tooLong)
			continue
		}
		if p := textProblem(line); p != "" {
			s.tell(c, "*** not sent: "+p)
			continue
		}
		s.mu.Lock()
		if s.clients[c.name] == c {
			s.broadcastLocked(c, c.name+": "+string(line))
		}
		s.mu.Unlock()
	}
}

// write sends c's queue to its connection until c is stopped, then
// closes the connection: at once if c was dropped, else after a lingering
// close (see finish).
func (s *Server) write(c *client, readDone <-chan struct{}) {
	var buf []byte
	for {
		select {
		case line := <-c.queue:
			buf = appendQueued(append(append(buf[:0], line...), '\n'), c.queue)
			if _, err := c.conn.Write(buf); err != nil {
				s.leave(c)
				<-c.stop
				c.conn.Close()
				return
			}
		case <-c.stop:
			if !c.dropped {
				s.finish(c, appendQueued(buf[:0], c.queue), readDone)
			}
			c.conn.Close()
			return
		}
	}
}

// finish sends c its last lines and half-closes the connection, then
// waits (FlushTimeout at most) for the client to close its side: only
// then is it known to have everything. Closing at once could lose the
// last lines: TCP answers unread input with a reset, and a foxtrot node
// closed right after its connections does not deliver what they still
// hold.
func (s *Server) finish(c *client, last []byte, readDone <-chan struct{}) {
	// Whoever stopped c set a write deadline.
	if len(last) > 0 {
		if _, err := c.conn.Write(last); err != nil {
			return
		}
	}
	cw, ok := c.conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.conn.SetReadDeadline(time.Now().Add(s.FlushTimeout))
	<-readDone
}

// appendQueued appends what is waiting in q, up to a batch of 64 KiB.
func appendQueued(buf []byte, q chan string) []byte {
	for len(buf) < 64<<10 {
		select {
		case line := <-q:
			buf = append(append(buf, line...), '\n')
		default:
			return buf
		}
	}
	return buf
}

// tell queues a line for c alone.
func (s *Server) tell(c *client, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c.name] != c {
		return
	}
	select {
	case c.queue <- line:
	default:
		s.dropLocked(c)
	}
}

// broadcastLocked queues line for every client but from, and drops those
// whose queue is full. Everything a client is sent goes through here or
// tell, under s.mu, so every client sees one order.
func (s *Server) broadcastLocked(from *client, line string) {
	var slow []*client
	for _, c := range s.clients {
		if c == from {
			continue
		}
		select {
		case c.queue <- line:
		default:
			slow = append(slow, c)
		}
	}
	for _, c := range slow {
		s.dropLocked(c)
	}
}

// dropLocked disconnects a client that does not keep up, at once (its
// queue is not flushed: it is not reading), and tells the others.
func (s *Server) dropLocked(c *client) {
	if s.clients[c.name] != c {
		return
	}
	delete(s.clients, c.name)
	c.dropped = true
	s.stopLocked(c)
	c.conn.Close() // unblocks its writer, which may be stuck in Write
	s.log.Info("dropped", "name", c.name, "queue", cap(c.queue))
	s.broadcastLocked(nil, "*** "+c.name+" dropped (not reading)")
}

// leave removes c after its connection ended or it half-closed, tells
// the others, and lets its writer flush.
func (s *Server) leave(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c.name] == c {
		delete(s.clients, c.name)
		s.log.Info("left", "name", c.name)
		s.broadcastLocked(nil, "*** "+c.name+" left")
	}
	s.stopLocked(c)
}

// stopLocked tells c's writer to finish, within FlushTimeout.
func (s *Server) stopLocked(c *client) {
	if c.stopped {
		return
	}
	c.stopped = true
	c.conn.SetWriteDeadline(time.Now().Add(s.FlushTimeout))
	close(c.stop)
	c.quit()
}
