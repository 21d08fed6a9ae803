package stealth

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/cputime"
)

// benchRequests returns n requests, one in eight for keys and the rest
// for other addresses, as a listener would see them among a relay's
// traffic.
func benchRequests(b *testing.B, keys *Keys, n int) []Request {
	other, err := GenerateKeys()
	require.NoError(b, err)
	reqs := make([]Request, n)
	for i := range reqs {
		a := other.Address()
		if i%8 == 0 {
			a = keys.Address()
		}
		e, err := btcec.NewPrivateKey()
		require.NoError(b, err)
		var nonce [NonceSize]byte
		nonce[0], nonce[1] = byte(i), byte(i>>8)
		reqs[i], _, err = a.NewRequest(e, nonce)
		require.NoError(b, err)
	}
	return reqs
}

// BenchmarkScan measures how many connect requests one core checks per
// second with the scan key: one ECDH, a base-point multiplication and two
// hashes each. checks/s is per wall-clock second of this single-threaded
// loop; checks/cpu-s per second of CPU the process used, which stays
// meaningful when other work shares the cores.
func BenchmarkScan(b *testing.B) {
	keys, err := GenerateKeys()
	require.NoError(b, err)
	scanner, err := keys.Scanner()
	require.NoError(b, err)
	reqs := benchRequests(b, keys, 256)
	matched := 0
	b.ReportAllocs()
	i := 0
	cpu0, cpuOK := cputime.Process()
	for b.Loop() {
		r := &reqs[i%len(reqs)]
		if _, ok := scanner.Match(r.Ephemeral, r.Nonce[:], r.Target); ok {
			matched++
		}
		i++
	}
	cpu1, _ := cputime.Process()
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "checks/s")
	if cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(i)/(cpu1-cpu0).Seconds(), "checks/cpu-s")
	}
	require.Equal(b, (i+7)/8, matched, "every eighth request is for the listener")
}

// BenchmarkOneTimeKey measures the dialler's side: deriving P.
func BenchmarkOneTimeKey(b *testing.B) {
	keys, err := GenerateKeys()
	require.NoError(b, err)
	e, err := btcec.NewPrivateKey()
	require.NoError(b, err)
	nonce := make([]byte, NonceSize)
	addr := keys.Address()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := addr.OneTimeKey(e, nonce); err != nil {
			b.Fatal(err)
		}
	}
}
