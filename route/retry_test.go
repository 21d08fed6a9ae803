package route

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryScheduleBacksOffAndStops(t *testing.T) {
	start := time.Unix(1000, 0)
	s := newRetrySchedule(start, 500*time.Millisecond, 3)
	var at []time.Duration
	for now := start; now.Before(start.Add(time.Minute)); now = now.Add(10 * time.Millisecond) {
		if s.due(now) {
			at = append(at, now.Sub(start))
		}
	}
	require.Equal(t, []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond}, at)
	_, ok := s.wait(start.Add(time.Hour))
	require.False(t, ok, "no retry left")
}

func TestRetryScheduleWaitCountsFromNow(t *testing.T) {
	start := time.Unix(1000, 0)
	s := newRetrySchedule(start, time.Second, 2)
	w, ok := s.wait(start.Add(300 * time.Millisecond))
	require.True(t, ok)
	require.Equal(t, 700*time.Millisecond, w)
	w, _ = s.wait(start.Add(2 * time.Second))
	require.Zero(t, w, "overdue: at once")
	require.False(t, s.due(start.Add(999*time.Millisecond)))
	require.True(t, s.due(start.Add(time.Second)))
	require.False(t, s.due(start.Add(time.Second)), "once per step")
}

func TestRetryPolicyDefaultsAndOff(t *testing.T) {
	w, n := (&Config{}).retryPolicy()
	require.Equal(t, defaultRetryWait, w)
	require.Equal(t, defaultRetries, n)
	_, n = (&Config{Retries: -1}).retryPolicy()
	require.Zero(t, n)
	s := newRetrySchedule(time.Unix(0, 0), time.Second, 0)
	require.False(t, s.due(time.Unix(100, 0)))
}
