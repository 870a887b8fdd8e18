#!/bin/bash
# Makes the robot's built-in clips (appliance/robot/clips/) with Debian's
# ffmpeg (apt-get install -y ffmpeg opus-tools): a 3 s 440 Hz tone as
# Ogg/Opus with one 20 ms packet per page (what pion's oggreader, and so
# the robot, streams from), and 3 s of ffmpeg's moving test pattern as
# IVF/VP8, 320x240 at 15 fps with a keyframe every 2 s. opusinfo (from
# opus-tools) prints the audio's layout as a check.
set -euo pipefail
out=${1:-$(dirname "$0")/../appliance/robot/clips}
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
	-c:a libopus -b:a 24k -frame_duration 20 -page_duration 20000 -application voip "$out/tone.ogg"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc=size=320x240:rate=15:duration=3" \
	-c:v libvpx -b:v 150k -g 30 -deadline good -cpu-used 4 -auto-alt-ref 0 "$out/pattern.ivf"
if command -v opusinfo >/dev/null; then opusinfo "$out/tone.ogg" | grep -E "Playback length|Pages|Total data"; fi
ls -l "$out"
