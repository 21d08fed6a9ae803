package udp

// Segmenting reports whether c still sends runs with the kernel's
// segmentation offload, and SetSegmenting turns it on or off.
func Segmenting(c *Conn) bool        { return c.segment.Load() }
func SetSegmenting(c *Conn, on bool) { c.segment.Store(on) }
