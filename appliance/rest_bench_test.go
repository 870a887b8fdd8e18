package appliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/signaling/usersig"
	"callbox/store"
)

// BenchmarkREST measures REST requests per second on a real server (the
// store on disk in the test's temp dir, real HTTP over loopback, 16
// clients): get_call_info (a read of the call engine) and
// start_call_by_robot (a call persisted before the answer), each beside
// GET /healthz on the same server in the same run (x_healthz = the
// command's rate over healthz's). docs/rest.md has figures.
func BenchmarkREST(b *testing.B) {
	base, app := benchServer(b)
	sig, err := usersig.Issue(app.SDKAppID, app.Key, "administrator", 24*time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	q := fmt.Sprintf("?sdkappid=%d&identifier=administrator&usersig=%s&random=1&contenttype=json", app.SDKAppID, url.QueryEscape(sig))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(cmd string, body []byte) error {
		resp, err := hc.Post(base+"/v4/"+cmd+q, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var env struct{ ErrorCode int }
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.ErrorCode != 0 {
			return fmt.Errorf("%s: code %d, %v", cmd, env.ErrorCode, err)
		}
		return nil
	}
	var first struct{ Response struct{ CallId string } }
	resp, err := hc.Post(base+"/v4/call_engine_http_srv/start_call_by_robot"+q, "application/json",
		bytes.NewReader([]byte(`{"Robot_Account":"bench","CalleeList_Account":["target"],"CallInfo":{"MediaType":"Audio"}}`)))
	if err != nil {
		b.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&first)
	resp.Body.Close()
	infoBody := []byte(`{"CallId":"` + first.Response.CallId + `"}`)
	var n atomic.Int64

	var healthz float64
	run := func(name string, req func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := req(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			rate := float64(b.N) / time.Since(start).Seconds()
			b.ReportMetric(rate, "req/s")
			if name == "healthz" {
				healthz = rate
			} else if healthz > 0 {
				b.ReportMetric(rate/healthz, "x_healthz")
			}
		})
	}
	health := func() error {
		resp, err := hc.Get(base + "/healthz")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	run("healthz", health)
	run("get_call_info", func() error { return post("call_engine_http_srv/get_call_info", infoBody) })
	run("healthz_again", health)
	run("start_call_by_robot", func() error {
		i := n.Add(1)
		return post("call_engine_http_srv/start_call_by_robot",
			fmt.Appendf(nil, `{"Robot_Account":"r%d","CalleeList_Account":["c%d"],"CallInfo":{"MediaType":"Audio"}}`, i, i))
	})
}

// benchServer runs a server for a benchmark (the tests' startServer takes
// a *testing.T) and returns its base URL and app.
func benchServer(b *testing.B) (string, store.App) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	a, err := appliance.New(appliance.Config{DataDir: filepath.Join(b.TempDir(), "data"), HTTPListener: ln,
		HTTPAddr: ln.Addr().String(), RTCListenIP: "127.0.0.1", IncludeLoopback: true, TURNDisabled: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	var app store.App
	a.Store().View(func(tx *store.Tx) error {
		apps, err := tx.Apps()
		if err == nil && len(apps) > 0 {
			app = apps[0]
		}
		return err
	})
	return "http://" + ln.Addr().String(), app
}
