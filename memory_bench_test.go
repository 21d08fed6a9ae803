package foxtrot

import (
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkIdleConnMemory: what an open, idle connection through one relay
// costs, all three nodes counted (heap after GC, and goroutines), fresh
// (one byte echoed) and after it carried 4 MiB each way at full speed
// (its windows may have grown meanwhile). b.N connections are held open
// at once.
//
//	go test -run XXX -bench IdleConnMemory -benchtime 300x .
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, tc := range []struct {
		name  string
		bytes int
	}{{"fresh", 1}, {"after-4MiB", 4 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			nodes := tcpLine(b, 3)
			key, _ := GenerateKey()
			l, err := nodes[2].Listen(key)
			require.NoError(b, err)
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() {
						io.Copy(c, c)
						c.Close()
					}()
				}
			}()
			payload := make([]byte, tc.bytes)
			back := make([]byte, tc.bytes)
			heap := func() uint64 {
				runtime.GC()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			h0, g0 := heap(), runtime.NumGoroutine()
			conns := make([]net.Conn, 0, b.N)
			b.ResetTimer()
			for range b.N {
				c, err := nodes[0].Dial(l.Addr().String())
				require.NoError(b, err)
				go c.Write(payload)
				_, err = io.ReadFull(c, back)
				require.NoError(b, err)
				conns = append(conns, c)
			}
			b.StopTimer()
			h1, g1 := heap(), runtime.NumGoroutine()
			b.ReportMetric(float64(int64(h1)-int64(h0))/float64(b.N), "heap-B/conn")
			b.ReportMetric(float64(g1-g0)/float64(b.N), "goroutines/conn")
			for _, c := range conns {
				c.Close()
			}
		})
	}
}
