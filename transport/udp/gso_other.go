//go:build !linux

package udp

import (
	"errors"
	"net"
)

func canSegment(*net.UDPConn) bool { return false }

var errNoSegmentation = errors.New("udp: no segmentation offload on this system")

func writeSegmented(*net.UDPConn, []byte, int, *net.UDPAddr) error { return errNoSegmentation }

func segmentationFailed(err error) bool { return errors.Is(err, errNoSegmentation) }
