package sfu_test

import (
	"testing"

	"callbox/sfu"
	"callbox/sfu/sfuclient"
)

// TestFastPathFallback runs a call with the fast path's keys unavailable,
// then with wrong ones: media must flow complete and in order through
// pion either way, and the counters say which path it took.
func TestFastPathFallback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrong bool
	}{{"no keys", false}, {"wrong keys", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			sfu.BreakFastPathKeys(e.s, tc.wrong)
			a := e.join("r", "alice", sfuclient.Config{})
			b := e.join("r", "bob", sfuclient.Config{})
			wg := e.callAV([]*client{a, b}, a)
			at := e.waitRemotes(b, "alice/audio", "alice/video")
			va, vv := e.readRemote(b, at["alice/audio"], wg), e.readRemote(b, at["alice/video"], wg)
			e.waitStream(va, 200, "bob<-alice audio")
			e.waitStream(vv, 200, "bob<-alice video")
			st := e.s.Stats()
			if !tc.wrong {
				if st.FastPathPackets != 0 || st.FastPathFallbacks != 0 {
					t.Errorf("without keys: %d fast packets, %d fallbacks; want 0, 0", st.FastPathPackets, st.FastPathFallbacks)
				}
				return
			}
			// Each stream's first fast packet fails to authenticate and
			// hands the stream back to pion.
			if st.FastPathPackets != 0 || st.FastPathFallbacks != 2 || st.FastPathAuthFails < 2 {
				t.Errorf("wrong keys: %d fast packets, %d fallbacks, %d auth failures; want 0, 2, >= 2", st.FastPathPackets, st.FastPathFallbacks, st.FastPathAuthFails)
			}
		})
	}
}
