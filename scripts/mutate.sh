#!/usr/bin/env bash
# mutate.sh plants known bugs, one at a time, and checks that the tests
# catch each (issue 17, "tests that bite"). For every entry below it edits
# one file, runs `go test -count=1` on the entry's packages, expects them to
# fail, restores the file with `git checkout -- <file>`, and prints a table
# of what caught what. It exits 1 if a mutation survived (or did not
# compile: that proves nothing), 2 if an entry is broken.
#
# RUN IT ON A CLEAN TREE, best a clone of its own (git clone . /tmp/mut):
# the restore throws away every uncommitted change to a mutated file (the
# script refuses to start on such a file), and while a mutation is in place
# the tree is broken for anyone else building it.
#
# Usage: scripts/mutate.sh [substring of mutation names]
#
# Adding a mutation is one entry:
#
#   mutation NAME FILE "PACKAGES" [RUN-REGEX] <<'EDIT'
#   s/exact lines of FILE/the bug/
#   EDIT
#
# PACKAGES is a space-separated list for go test; RUN-REGEX, if given,
# goes to -run.
# The edit is a perl program run over the whole file as one string (perl
# -0pi: use \n and \t in the pattern, escape / and regex characters), or a
# unified diff (starting with "diff --git" or "--- ") for `git apply`. An
# edit that leaves the file unchanged stops the script: its lines moved.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

names=() files=() pkgs=() runs=() edits=()
mutation() {
	names+=("$1") files+=("$2") pkgs+=("$3") runs+=("${4:-}")
	edits+=("$(cat)")
}

# --- mutations -------------------------------------------------------------

# (a) The SFU's forwarding function drops one packet in ten after storing it
# in the ring (so NACKs can repair it, as in the review that found issue 17).
mutation drop-every-10th sfu/track.go "./sfu/..." <<'EDIT'
s/(\n\tfor _, d := range downs \{\n\t\td\.forward\()/\n\tif l.packets.Load()%10 == 0 { \/\/ mutation: drop one forwarded packet in ten\n\t\treturn\n\t}$1/
EDIT

# (b) The forwarding function holds every 50th packet and sends it after the
# next one.
mutation swap-every-50th sfu/track.go "./sfu/..." <<'EDIT'
s/(\n\t\/\/ reader-only\n)/\n\theld  []byte \/\/ mutation\n\theldN int$1/;
s/(\nfunc \(l \*layer\) forward\(pkt \[\]byte, h \*rtp\.Header, now int64\) \{\n)/$1\tif l.heldN++; l.heldN%50 == 0 && l.held == nil { \/\/ mutation: hold it, send it after the next\n\t\tl.held = append([]byte(nil), pkt...)\n\t\treturn\n\t}\n\tif held := l.held; held != nil {\n\t\tl.held = nil\n\t\tdefer l.forward(held, h, now)\n\t}\n/
EDIT

# (c) The TURN server relays to any peer: the peer filter allows everything.
mutation turn-peer-filter-off turn/peer.go "./turn/..." <<'EDIT'
s/(\nfunc \(f \*peerFilter\) allowed\(peer netip\.Addr\) \(ok bool, reason string\) \{\n)/$1\treturn true, "" \/\/ mutation: no peer filter\n/
EDIT

# (d) A commit writes the call record but not its webhook outbox entries.
mutation skip-outbox-write appliance/callstore/callstore.go "./signaling/ ./appliance/..." <<'EDIT'
s/(\n\tfor _, h := range hooks \{\n\t\tbody, err := json\.Marshal)/\n\thooks = nil \/\/ mutation: no outbox entries$1/
EDIT

# (e) UserSig expiry is checked the wrong way round.
mutation flip-usersig-expiry signaling/usersig/usersig.go "./signaling/usersig/ ./signaling/" <<'EDIT'
s/if now\.Unix\(\) > p\.time\+p\.expire \{/if now.Unix() < p.time+p.expire { \/\/ mutation/
EDIT

# (f) A busy callee is invited as if free.
mutation invite-busy-callee signaling/call/invite.go "./signaling/call/ ./signaling/" <<'EDIT'
s/if _, busy := e\.users\[uk\]; busy \{/if _, busy := e.users[uk]; busy \&\& false { \/\/ mutation/
EDIT

# (g) A failed commit leaves the engine as the batch left it.
mutation keep-engine-after-failed-commit signaling/commit.go "./signaling/" <<'EDIT'
s/\n\ts\.engine\.Undo\(journal\)\n/\n\t\/\/ mutation: s.engine.Undo(journal)\n/
EDIT

# (h) A user busy in another call joins a group call as well.
mutation join-while-busy signaling/call/join.go "./signaling/call/ ./signaling/" <<'EDIT'
s/if _, busy := e\.users\[userKey\{app, user\}\]; busy \{/if _, busy := e.users[userKey{app, user}]; busy \&\& false { \/\/ mutation/
EDIT

# (i) The TURN packet path's batched send swaps the first two datagrams of
# a socket's group.
mutation turn-batch-reorder turn/fastpath/mmsg_linux.go "./turn/..." <<'EDIT'
s/(\n\tfor done := 0; done < len\(group\); \{)/\n\tif len(group) > 1 { bt.siov[0], bt.siov[1] = bt.siov[1], bt.siov[0] } \/\/ mutation$1/
EDIT

# (j) The REST API takes any identifier with a valid UserSig, admin or not.
mutation rest-any-identifier appliance/restapi/auth.go "./appliance/" "TestREST" <<'EDIT'
s/if !slices\.Contains\(admins, user\) \{/if false \&\& !slices.Contains(admins, user) { \/\/ mutation/
EDIT

# (k) The robot of a REST call stays in the room when its call ends.
mutation rest-robot-stays appliance/rest.go "./appliance/" "TestRESTRobot" <<'EDIT'
s/\tif stop != nil \{\n\t\tstop\(\)\n\t\}/\t_ = stop \/\/ mutation: the robot stays/
EDIT

# (l) The call engine's deadline index misses calls changed since it was
# last read (a timeout that never fires).
mutation engine-deadline-index-stale signaling/call/journal.go "./signaling/call/ ./signaling/" <<'EDIT'
s/\n\te\.markDirty\(k\) \/\/ its deadlines may change \(deadlines\.go\)/\n\t\/\/ mutation: e.markDirty(k)/
EDIT

# (m) The admin console's API takes any CSRF token (or none).
mutation console-no-csrf appliance/console.go "./appliance/" "TestConsole" <<'EDIT'
s/if tok == "" \|\| subtle\.ConstantTimeCompare\(\[\]byte\(tok\), \[\]byte\(s\.CSRF\)\) != 1 \{/if false \&\& (tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1) { \/\/ mutation/
EDIT

# (n) The subscriber bandwidth estimate never sees overuse: only loss can
# lower it, so a bottleneck with a deep buffer is never noticed.
mutation bwe-no-overuse sfu/bwe/bwe.go "./sfu/bwe/" <<'EDIT'
s/\t\t\te\.signal = Overusing\n/\t\t\te.signal = Normal \/\/ mutation: never Overusing\n/
EDIT

# (o) A subscriber switched between simulcast layers gets each layer's own
# VP8 picture ids: Chromium dropped the frames after a switch for seconds.
mutation vp8-ids-not-rebased sfu/down.go "./sfu/" <<'EDIT'
s/\t\t\td\.rebaseVP8\(ids\)\n/\t\t\t_ = ids \/\/ mutation: no rebase\n/
EDIT

# (p) A new gap does not wake a quiet stream: the 20 ms NACK tick skips it
# and upstream losses are never asked for.
mutation nack-quiet-stays sfu/feedback.go "./sfu/" <<'EDIT'
s/\t\t\tr\.quiet = false\n/\t\t\t\/\/ mutation: the stream stays quiet\n/
EDIT

# (q) UDP GSO's regrouping lets a longer datagram join a run: the kernel
# cuts it at the run's size, and the subscriber gets two broken packets.
mutation gso-longer-joins-run sfu/batch.go "./sfu/" <<'EDIT'
s/if len\(p\) > size \|\| total\+len\(p\) > gsoMaxBytes \{/if total+len(p) > gsoMaxBytes { \/\/ mutation: a longer datagram joins the run/
EDIT

# (r) The send fast path sends to the pair's address from the UDP mux even
# when ICE chose a TCP pair.
mutation fastsend-udp-to-tcp-pair sfu/fastsend.go "./sfu/" <<'EDIT'
s/pair\.Local\.Protocol == webrtc\.ICEProtocolUDP \{/(pair.Local.Protocol == webrtc.ICEProtocolUDP || true) { \/\/ mutation/
EDIT

# (s) A batch scope's further reads (what arrived while a batch was
# handled) are dropped: neither the fast path nor pion sees them.
mutation drop-further-reads sfu/batch.go "./sfu/" <<'EDIT'
s/\t\t\tb\.rxN, b\.rxNext, n = m, 0, m\n/\t\t\tb.rxN, b.rxNext, n = m, m, 0 \/\/ mutation\n/
EDIT

# (t) The batch flush writes no address into an IPv6 sockaddr: on a
# dual-stack socket (the server on the unspecified address) every datagram
# to an IPv6 peer goes nowhere.
mutation sockaddr-v6-zeroed sfu/send_linux.go "./sfu/" <<'EDIT'
s/\ta16 := a\.As16\(\)\n\tcopy\(b\[8:24\], a16\[:\]\)\n/\t\/\/ mutation: the IPv6 address is left zero\n/
EDIT

# --- the run ---------------------------------------------------------------

filter=${1:-}
current=
restore() { [[ -n $current ]] && git checkout -- "$current"; current=; }
trap 'restore; exit 130' INT TERM
trap restore EXIT

logdir=$(mktemp -d)
rows=() status=0
for i in "${!names[@]}"; do
	name=${names[$i]} file=${files[$i]} edit=${edits[$i]}
	[[ -n $filter && $name != *"$filter"* ]] && continue
	if [[ ! -f $file ]] || ! git diff --quiet HEAD -- "$file"; then
		echo "mutate: $name: $file is missing or has uncommitted changes; run on a clean tree" >&2
		exit 2
	fi
	current=$file
	if [[ $edit == "diff --git"* || $edit == "--- "* ]]; then
		printf '%s\n' "$edit" | git apply - || { echo "mutate: $name: the patch does not apply to $file" >&2; exit 2; }
	else
		perl -0pi -e "$edit" "$file" || { echo "mutate: $name: perl failed on $file" >&2; exit 2; }
	fi
	if git diff --quiet -- "$file"; then
		echo "mutate: $name: the edit left $file unchanged (its lines moved?)" >&2
		exit 2
	fi
	log=$logdir/$name.log
	args=(test -count=1 -timeout 5m)
	[[ -n ${runs[$i]} ]] && args+=(-run "${runs[$i]}")
	read -ra p <<<"${pkgs[$i]}"
	args+=("${p[@]}")
	echo "mutate: $name ($file): go ${args[*]}" >&2
	go "${args[@]}" >"$log" 2>&1
	rc=$?
	restore
	# Failed tests, and those a timeout caught running.
	caught=$( (grep -E '^\s*--- FAIL: ' "$log" | sed -E 's/^\s*--- FAIL: ([^ ]+).*/\1/'
		sed -n '/^panic: test timed out/,/^$/s/^\t\t\([A-Za-z0-9_]*\) (.*/\1(timeout)/p' "$log") |
		grep -v / | sort -u | paste -sd, -)
	if [[ $rc -eq 0 ]]; then
		verdict=SURVIVED status=1
	elif grep -qE '\[(build|setup) failed\]' "$log"; then
		verdict="DID NOT BUILD" status=1
	else
		verdict=caught
	fi
	rows+=("$(printf '%-32s %-14s %-34s %s' "$name" "$verdict" "$file" "${caught:-(see $log)}")")
done

printf '\n%-32s %-14s %-34s %s\n' mutation verdict file "failing tests"
printf '%s\n' "${rows[@]}"
echo "logs: $logdir"
exit $status
