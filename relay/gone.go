package relay

// Downstream returns the downstream link of circuit k if it is in the
// table with upstream up (active or waiting for its stream).
func (t *Table) Downstream(k Key, up Link) (Link, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.circuits[k]
	if c == nil || c.Up != up {
		return nil, false
	}
	return c.Down, true
}

// Carried is a circuit carrying a stream: its key and downstream link.
type Carried struct {
	Key  Key
	Down Link
}

// CarriedFrom returns the circuits carrying a stream that came from up.
func (t *Table) CarriedFrom(up Link) []Carried {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Carried
	for k, c := range t.circuits {
		if c.active && c.Up == up {
			out = append(out, Carried{Key: k, Down: c.Down})
		}
	}
	return out
}
