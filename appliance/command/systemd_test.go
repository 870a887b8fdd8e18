package command

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: docs/callbox.service passes `systemd-analyze verify`
// (with ExecStart pointed at this test binary, which must exist), and the
// serve flags of its ExecStart parse.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "docs", "callbox.service"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart=/usr/local/bin/callbox serve"); ok {
			args = strings.Fields(rest)
		}
	}
	if args == nil {
		t.Fatal("no ExecStart=/usr/local/bin/callbox serve ... line")
	}
	if _, err := serveConfigOf(t, args...); err != nil {
		t.Fatalf("ExecStart flags %v: %v", args, err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=callbox", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("unit lacks %s", want)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "callbox.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/callbox", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
