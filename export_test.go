package foxtrot

import "net"

// KeptPeers returns the peers of the links n's keeper holds
// (Config.TargetPeers), for tests.
func KeptPeers(n *Node) []Addr {
	if n.dht == nil || n.dht.keeper == nil {
		return nil
	}
	return n.dht.keeper.keptPeers()
}

// SetLANGroup makes c's LAN discovery use group instead of the default
// multicast group, so tests do not meet other processes' beacons.
func SetLANGroup(c *Config, group *net.UDPAddr) { c.lanGroup = group }
