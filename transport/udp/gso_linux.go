//go:build linux

package udp

import (
	"encoding/binary"
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canSegment reports whether the kernel offers UDP generic segmentation
// offload on c (Linux 4.18 and later answer the UDP_SEGMENT option).
func canSegment(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

// writeSegmented sends b to addr in one sendmsg whose UDP_SEGMENT
// control message has the kernel cut it into datagrams of segment bytes.
func writeSegmented(c *net.UDPConn, b []byte, segment int, addr *net.UDPAddr) error {
	var oob [unix.SizeofCmsghdr + 8]byte // CmsgSpace(2) on every Linux port
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(segment))
	_, _, err := c.WriteMsgUDP(b, oob[:unix.CmsgSpace(2)], addr)
	return err
}

// segmentationFailed reports whether err says the offload, not the
// datagrams, failed: EIO when the device cannot checksum for it (see
// udp(7)), EINVAL or EOPNOTSUPP where the option is refused.
func segmentationFailed(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)
}
