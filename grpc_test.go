package foxtrot_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// gRPC runs over foxtrot as over TCP: the server serves a foxtrot
// listener, and the client dials through the node with the
// "passthrough:///" target, which hands the address to the dialer as it
// is (gRPC's default "dns" scheme would try to resolve it).
func TestGRPCRunsThroughARelay(t *testing.T) {
	fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{Logs: true})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[2].Listen(key)
	require.NoError(t, err)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Stop()
		require.NoError(t, <-served)
	}()

	node := fn.Nodes[0]
	cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // foxtrot encrypts end to end
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return node.DialContext(ctx, "foxtrot", addr)
		}))
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, res.Status)
}
