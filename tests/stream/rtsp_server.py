#!/usr/bin/python3
"""A real RTSP server for the stream tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0,
python3-gi, gstreamer1.0-plugins-{good,bad,ugly}) serving the bundled clips one after another, as a camera
in front of which people pass.

The clips (different sizes and frame rates) are first rendered once into one H.264 MP4 with ffmpeg: each
clip scaled and padded to --size at 25 fps, with --gap seconds of an empty (black) picture before each clip
and after the last, a keyframe every second, no B-frames (what cameras send). That file is then served at
real-time pace on every mount, each client from the start of the sequence.

Prints "READY rtsp://127.0.0.1:PORT/MOUNT ..." on stdout once listening, then runs until killed.
"""
import argparse
import os
import subprocess
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def render(clips, gap, size, loops, out, slow=1.0):
    w, h = size.split("x")
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    filters, labels, n = [], [], 0
    for clip in clips + [None]:
        args += ["-f", "lavfi", "-i", f"color=black:s={w}x{h}:r=25:d={gap}"]
        filters.append(f"[{n}:v]setsar=1,format=yuv420p[v{n}]")
        labels.append(f"[v{n}]")
        n += 1
        if clip is None:
            break
        args += ["-i", clip]
        filters.append(
            f"[{n}:v]setpts={slow}*PTS,scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,format=yuv420p[v{n}]")
        labels.append(f"[v{n}]")
        n += 1
    filters.append("".join(labels) + f"concat=n={n}:v=1:a=0[out]")
    once = out + ".once.mp4"  # the final file's extension picks its container (.mp4, .ts for HTTP)
    args += ["-filter_complex", ";".join(filters), "-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast",
             "-tune", "zerolatency", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", once]
    subprocess.run(args, check=True)
    # Looping by remuxing (no re-encoding): long streams cost nothing to make.
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", str(loops - 1),
                    "-i", once, "-c", "copy", out], check=True)
    os.remove(once)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--mount", action="append", default=[], help="mount point name (repeatable)")
    p.add_argument("--clips", required=True, help="comma-separated video files, played in this order")
    p.add_argument("--gap", type=float, default=1.5, help="seconds without a face around each clip")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--loops", type=int, default=1, help="times the sequence repeats in one stream")
    p.add_argument("--slow", type=float, default=1.0,
                   help="slow motion factor: each person stays this many times longer (busy test machines)")
    p.add_argument("--render", required=True, help="the rendered file, .mp4 (reused when it exists)")
    p.add_argument("--render-only", action="store_true", help="render --render (.mp4 or .ts) and exit")
    a = p.parse_args()
    if not os.path.exists(a.render):
        # Rendered under a name of this process, then renamed: parallel tests may render the same file.
        base, ext = os.path.splitext(a.render)
        tmp = f"{base}.{os.getpid()}.tmp{ext}"
        render(a.clips.split(","), a.gap, a.size, a.loops, tmp, a.slow)
        os.replace(tmp, a.render)
    if a.render_only:
        return

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    mounts = server.get_mount_points()
    for name in a.mount or ["camera"]:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f"( filesrc location={a.render} ! qtdemux ! h264parse ! "
                           "rtph264pay name=pay0 pt=96 config-interval=1 )")
        factory.set_shared(False)  # each client gets the sequence from its start
        mounts.add_factory("/" + name, factory)
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{a.port}")
    port = server.get_bound_port()
    print("READY " + " ".join(f"rtsp://127.0.0.1:{port}/{m}" for m in (a.mount or ["camera"])), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
