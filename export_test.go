package foxtrot

// KeptPeers returns the peers of the links n's keeper holds
// (Config.TargetPeers), for tests.
func KeptPeers(n *Node) []Addr {
	if n.dht == nil || n.dht.keeper == nil {
		return nil
	}
	return n.dht.keeper.keptPeers()
}
