package relay

// Across returns the link at the other end of circuit k from l: its
// downstream link if l is its upstream, and the other way round; false
// if k is not in the table or l is neither end.
func (t *Table) Across(k Key, l Link) (Link, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.circuits[k]
	switch {
	case c == nil:
		return nil, false
	case c.Up == l:
		return c.Down, true
	case c.Down == l:
		return c.Up, true
	}
	return nil, false
}
