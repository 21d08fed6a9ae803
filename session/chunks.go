package session

import "github.com/foxtrotnet/foxtrot/internal/bufpool"

// chunkSize is the unit of a send queue; a record never spans two chunks.
const chunkSize = maxRecordData

// chunkQueue holds a connection's unacknowledged bytes in pooled chunks:
// memory follows what is in flight, nothing large is ever allocated or
// copied, and an idle connection holds no chunk.
//
// Bytes are appended at the tail and dropped from the head as they are
// acknowledged. The sender reads slices of it without the lock: writers
// only write past the bytes it reads, and the head only moves past bytes
// the other end has acknowledged, which the sender is done with.
type chunkQueue struct {
	chunks []*[]byte
	head   int // offset of the first byte in chunks[0]
	size   int // bytes held
}

// append copies as much of p as fits below limit bytes held.
func (q *chunkQueue) append(p []byte, limit int) int {
	n := 0
	for n < len(p) && q.size < limit {
		used := (q.head + q.size) % chunkSize
		if used == 0 && (q.head+q.size)/chunkSize == len(q.chunks) {
			q.chunks = append(q.chunks, bufpool.Get(chunkSize))
		}
		last := *q.chunks[len(q.chunks)-1]
		m := copy(last[used:], p[n:min(len(p), n+limit-q.size)])
		n += m
		q.size += m
	}
	return n
}

// slice returns up to max bytes starting at off (0 = the head), never
// crossing a chunk boundary.
func (q *chunkQueue) slice(off, max int) []byte {
	pos := q.head + off
	c := *q.chunks[pos/chunkSize]
	start := pos % chunkSize
	end := min(start+max, chunkSize, start+q.size-off)
	return c[start:end]
}

// drop removes n bytes from the head, returning emptied chunks to the pool.
func (q *chunkQueue) drop(n int) {
	q.head += n
	q.size -= n
	for q.head >= chunkSize || (q.size == 0 && len(q.chunks) > 0) {
		bufpool.Put(q.chunks[0])
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		if q.head >= chunkSize {
			q.head -= chunkSize
		} else {
			q.head = 0
		}
	}
	if len(q.chunks) == 0 {
		q.chunks, q.head = nil, 0
	}
}

// reset releases every chunk.
func (q *chunkQueue) reset() {
	for _, c := range q.chunks {
		bufpool.Put(c)
	}
	*q = chunkQueue{}
}
