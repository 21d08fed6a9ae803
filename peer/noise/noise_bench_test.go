package noise

import "testing"

func BenchmarkHandshakeXK(b *testing.B) {
	iKey, rKey := noiseNewKey(b), noiseNewKey(b)
	b.ReportAllocs()
	for b.Loop() {
		ini, err := NewInitiator(Config{Static: iKey, RemoteStatic: rKey.PubKey()})
		if err != nil {
			b.Fatal(err)
		}
		resp, err := NewResponder(Config{Static: rKey})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := noiseExchange(ini, resp, nil); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ini.Ciphers(); err != nil {
			b.Fatal(err)
		}
		if _, _, err := resp.Ciphers(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandshakeXX(b *testing.B) {
	iKey, rKey := noiseNewKey(b), noiseNewKey(b)
	b.ReportAllocs()
	for b.Loop() {
		ini, err := NewInitiator(Config{Static: iKey})
		if err != nil {
			b.Fatal(err)
		}
		resp, err := NewResponder(Config{Static: rKey})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := noiseExchange(ini, resp, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRejectActOneWrongNetworkKey is what a scanner costs a keyed
// responder per probe.
func BenchmarkRejectActOneWrongNetworkKey(b *testing.B) {
	for _, xk := range []bool{true, false} {
		name := "XX"
		if xk {
			name = "XK"
		}
		b.Run(name, func(b *testing.B) {
			rKey := noiseNewKey(b)
			cfg := Config{Static: noiseNewKey(b), NetworkKey: []byte("wrong")}
			if xk {
				cfg.RemoteStatic = rKey.PubKey()
			}
			ini, err := NewInitiator(cfg)
			if err != nil {
				b.Fatal(err)
			}
			a1, err := ini.GenActOne()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := NewResponder(Config{Static: rKey, NetworkKey: []byte("right")})
				if err != nil {
					b.Fatal(err)
				}
				if resp.RecvActOne(a1) == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
