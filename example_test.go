package foxtrot_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/stealth"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// Three nodes in a line over the in-process transport: the middle one
// relays between the other two, which are not linked to each other.
func lineOfThree() (a, relay, b *foxtrot.Node) {
	net := []transport.Transport{mem.NewNetwork(mem.Options{}).Transport()}
	must := func(n *foxtrot.Node, err error) *foxtrot.Node {
		if err != nil {
			log.Fatal(err)
		}
		return n
	}
	relay = must(foxtrot.NewNode(foxtrot.Config{ListenAddrs: []string{"/mem/0"}, Transports: net}))
	a = must(foxtrot.NewNode(foxtrot.Config{Peers: relay.ListenAddrs(), Transports: net}))
	b = must(foxtrot.NewNode(foxtrot.Config{Peers: relay.ListenAddrs(), Transports: net}))
	for len(a.Peers()) == 0 || len(b.Peers()) == 0 || len(relay.Peers()) < 2 {
		time.Sleep(time.Millisecond)
	}
	return a, relay, b
}

// A listener on a key, and a dial to its address through a relay.
func Example() {
	a, relay, b := lineOfThree()
	defer a.Close()
	defer relay.Close()
	defer b.Close()

	key, _ := foxtrot.GenerateKey()
	l, _ := b.Listen(key)
	defer l.Close()
	go func() {
		c, _ := l.Accept()
		defer c.Close()
		io.WriteString(c, "hello, "+c.RemoteAddr().String()[:1]+"...")
	}()

	c, err := a.Dial(l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, _ := io.ReadAll(c)
	fmt.Println(string(msg))
	fmt.Println("relays on the path:", len(c.(*foxtrot.Conn).Path()))
	// Output:
	// hello, 1...
	// relays on the path: 1
}

// net/http over foxtrot: serve on a listener, dial with DialContext.
func Example_http() {
	a, relay, b := lineOfThree()
	defer a.Close()
	defer relay.Close()
	defer b.Close()

	key, _ := foxtrot.GenerateKey()
	l, _ := b.Listen(key)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "served over foxtrot")
	})}
	go srv.Serve(l)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: a.DialContext}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + l.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output: served over foxtrot
}

// Dialling an address nobody listens on fails when the context ends.
func ExampleNode_DialContext_timeout() {
	a, relay, b := lineOfThree()
	defer a.Close()
	defer relay.Close()
	defer b.Close()

	nobody, _ := foxtrot.GenerateKey()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := a.DialContext(ctx, "foxtrot", foxtrot.AddrFromPubKey(nobody.PubKey()).String())
	fmt.Println(err.(interface{ Timeout() bool }).Timeout())
	// Output: true
}

// Addresses read like Bitcoin addresses; the original Foxtrot's hex key
// form parses to the same address.
func ExampleParseAddr() {
	a, err := foxtrot.ParseAddr("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	fmt.Println(a, err)
	_, err = foxtrot.ParseAddr("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ")
	fmt.Println(err)
	// Output:
	// 1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH <nil>
	// foxtrot: bad address "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ": foxtrot: bad checksum
}

// A listener on a stealth address (BIP-352: the same sp1... address a
// wallet receives silent payments on), and a dial to it through a relay:
// the connection goes to a one-time key only the address's keys can
// answer for.
func ExampleNode_ListenStealth() {
	a, relay, b := lineOfThree()
	defer a.Close()
	defer relay.Close()
	defer b.Close()

	keys, _ := stealth.GenerateKeys()
	l, _ := b.ListenStealth(keys)
	defer l.Close()
	go func() {
		c, _ := l.Accept()
		defer c.Close()
		io.WriteString(c, "hello from a stealth address")
	}()

	c, err := a.Dial(l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, _ := io.ReadAll(c)
	fmt.Println(string(msg))
	fmt.Println(l.Addr().String()[:4])
	// Output:
	// hello from a stealth address
	// sp1q
}
