#!/usr/bin/env python3
"""Replays each attack of issue 14 against a real `facepipe serve` on loopback and prints, per attack:
service alive, probe answered correctly, RSS before and after, and the p99 latency of a well-behaved client
(one 1080p frame every 250 ms) while the attack runs. Bounded: each attack lasts at most ~30 s.

    scripts/fault-test.sh [--facepipe build/facepipe] [--only 1,3,7] [--markdown]

Only the standard library; loopback only. The probe of each attack checks what a correct service answers
(e.g. a clear 4xx, a 503 with Retry-After, a refused second bind), so a row says "no" until the fix is in.
"""
import argparse
import base64
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("FACEPIPE_SHARED", os.path.join(ROOT, "..", "shared"))
FRAMES = os.path.join(SHARED, "datasets", "video_frames")
ACCOUNT = "000000000000"


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return 0
    return 0


def request(port, method, path, body=b"", headers=None, timeout=60):
    """(status, headers dict lower-case, body bytes) or (None, {}, error text)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    except Exception as e:  # noqa: BLE001 - any failure is a failed probe
        return None, {}, str(e).encode()


def frame_body(request_id, path, filename=None):
    with open(path, "rb") as f:
        content = base64.b64encode(f.read()).decode()
    return json.dumps({"request_id": request_id, "filename": filename or os.path.basename(path), "content": content}).encode()


def black_png(w, h):
    raw = zlib.compress(b"".join(b"\x00" + bytes(w * 3) for _ in range(h)), 9)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def png_avi(w, h, fps, frames):
    """An AVI of `frames` identical black PNG frames (libav decodes PNG-in-AVI): a large clip from a few MB."""
    png = black_png(w, h)
    def chunk(tag, data):
        return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    def lst(kind, data):
        return chunk(b"LIST", kind + data)
    avih = struct.pack("<IIIIIIIIII4I", 1000000 // fps, 0, 0, 0x10, frames, 0, 1, len(png), w, h, 0, 0, 0, 0)
    strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", b"MPNG", 0, 0, 0, 0, 1, fps, 0, frames, len(png), 0xFFFFFFFF, 0, 0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MPNG", w * h * 3, 0, 0, 0, 0)
    hdrl = lst(b"hdrl", chunk(b"avih", avih) + lst(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    frame = chunk(b"00dc", png)
    movi = lst(b"movi", frame * frames)
    index, offset = b"", 4
    for _ in range(frames):
        index += struct.pack("<4sIII", b"00dc", 0x10, offset, len(png))
        offset += len(frame)
    body = b"AVI " + hdrl + movi + chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def sqs_json(port, action, payload):
    return request(port, "POST", "/", json.dumps(payload).encode(),
                   {"X-Amz-Target": f"AmazonSQS.{action}", "Content-Type": "application/x-amz-json-1.0"})


def sqs_query(port, form, method="POST", path="/"):
    body = urllib.parse.urlencode(form, safe="%").encode() if isinstance(form, dict) else form
    if method == "GET":
        return request(port, "GET", path + "?" + body.decode())
    return request(port, "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


class Serve:
    def __init__(self, facepipe, gallery, workdir, tag, extra=()):
        self.dir = os.path.join(workdir, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        self.proc = subprocess.Popen([facepipe, "serve", "--port", "0", "--data-dir", os.path.join(self.dir, "data"),
                                      "--gallery", gallery, "--id", "ft", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        end = time.time() + 90
        while time.time() < end and self.proc.poll() is None:
            self.log.seek(0)
            m = re.search(r"listening on http://[0-9.]+:([0-9]+)", self.log.read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.1)
        if not self.port:
            self.log.seek(0)
            raise SystemExit("fault-test: serve did not start:\n" + self.log.read()[-2000:])

    def alive(self):
        return self.proc.poll() is None and request(self.port, "GET", "/healthz", timeout=10)[0] is not None

    def rss(self):
        return rss_mb(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def queue_url(self, name):
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}/ft-{name}"


class WellBehaved(threading.Thread):
    """One frame every 250 ms on fresh connections; the latency until it is answered (a failure counts as
    60 s). Like a well-behaved client (and the AWS SDKs on a throttled Lambda), it retries a 429 or 503
    after the Retry-After the service gives, within those 60 s."""

    def __init__(self, port, frame):
        super().__init__(daemon=True)
        self.port, self.frame, self.stop_flag, self.latencies, self.n = port, frame, threading.Event(), [], 0
        self.retries = 0

    def run(self):
        while not self.stop_flag.is_set():
            self.n += 1
            t = time.time()
            body = frame_body(f"good-{os.getpid()}-{time.time_ns()}", self.frame)
            while True:
                status, headers, _ = request(self.port, "POST", "/", body, {"Content-Type": "application/json"}, timeout=60)
                wait = float(headers.get("retry-after", "0") or 0) if status in (429, 503) else 0
                if not wait or time.time() - t + wait >= 60 or self.stop_flag.is_set():
                    break
                self.retries += 1
                time.sleep(wait)
            self.latencies.append((time.time() - t) if status == 200 else 60.0)
            self.stop_flag.wait(0.25)

    def p99_ms(self):
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return 1000 * s[min(len(s) - 1, int(0.99 * len(s)))]


# ---- the attacks: each returns (probe ok, note) ----

def attack_huge_frames(s, ctx):
    png = black_png(6320, 6320)
    results = []
    def post(i):
        results.append(request(s.port, "POST", "/", json.dumps({"request_id": f"huge-{i}", "filename": "b.png",
                                                               "content": base64.b64encode(png).decode()}).encode(),
                               {"Content-Type": "application/json"}, timeout=120))
    threads = [threading.Thread(target=post, args=(i,)) for i in range(16)]
    peak = [0]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], s.rss())
            time.sleep(0.05)
    sampler = threading.Thread(target=sample)
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    ok200 = sum(1 for r in results if r[0] == 200)
    refused = sum(1 for r in results if r[0] == 503 and "retry-after" in r[1])
    ok = ok200 >= 1 and ok200 + refused == 16 and peak[0] < 2200
    return ok, f"{ok200} accepted, {refused} 503+Retry-After, peak {peak[0]} MB"


def attack_sequential(s, ctx):
    frames = ctx["frames"]
    for i in range(90):
        request(s.port, "POST", "/", frame_body(f"seq-{i}", frames[i % len(frames)]), {"Content-Type": "application/json"})
    rss = s.rss()
    return rss < 300, f"RSS after 90 frames {rss} MB (goal < 300)"


def attack_slow_clients(s, ctx):
    # The attacker is one host (127.0.0.2), the well-behaved client another (127.0.0.1), and the over-limit
    # upload a third (127.0.0.3): serve limits connections per client address, so an attacker on the
    # probe's own address would only show that limit (429), not whether others are starved.
    attacker = ("127.0.0.2", 0)
    socks = []
    for i in range(40):  # declare 1 MB, send a byte at a time
        try:
            k = socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=attacker)
            k.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
            socks.append(k)
        except OSError:
            pass
    for i in range(200):  # idle connections
        try:
            socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=attacker))
        except OSError:
            pass
    t = time.time()
    status, _, _ = request(s.port, "POST", "/", frame_body("slow-probe", ctx["frames"][0]), {"Content-Type": "application/json"}, timeout=30)
    took = time.time() - t
    for _ in range(3):
        for k in socks[:40]:
            try:
                k.send(b" ")
            except OSError:
                pass
        time.sleep(1)
    # The attacker's connections beyond its share are answered 429 and closed.
    refused = 0
    for k in socks:
        try:
            k.settimeout(0.2)
            if k.recv(12).startswith(b"HTTP/1.1 429"):
                refused += 1
        except OSError:
            pass
    # An over-limit Content-Length must be refused at once.
    t2 = time.time()
    try:
        k = socket.create_connection(("127.0.0.1", s.port), timeout=35, source_address=("127.0.0.3", 0))
        k.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        answer = k.recv(200)
        k.close()
    except OSError:
        answer = b""
    early_413 = answer.startswith(b"HTTP/1.1 413") and time.time() - t2 < 5
    for k in socks:
        k.close()
    return status == 200 and took < 5 and early_413, (
        f"probe {status} in {took:.1f}s beside 240 slow/idle connections of another client "
        f"({refused} of them answered 429); over-limit Content-Length 413 at once: {early_413}")


def attack_poison(s, ctx):
    resp = s.queue_url("resp-queue")
    sqs_query(s.port, "Action=SendMessage&QueueUrl=" + urllib.parse.quote(resp, safe="") + "&MessageBody=%FF%FE")
    status, _, body = sqs_json(s.port, "ReceiveMessage", {"QueueUrl": resp, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0})
    send_refused = True
    # Either the poison was refused at SendMessage (then receive is 200) or receive must still work.
    return status == 200, f"JSON ReceiveMessage after a %FF%FE body: {status}"


def attack_port_in_use(s, ctx):
    p = subprocess.Popen([ctx["facepipe"], "serve", "--queues-only", "--port", str(s.port), "--data-dir",
                          os.path.join(ctx["workdir"], "second")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rc = p.wait(15)
    except subprocess.TimeoutExpired:  # it bound the port and serves beside the first one
        p.kill()
        p.wait()
        return False, "a second serve bound the same port and kept serving"
    return rc != 0, f"second serve on the same port exited {rc}"


def attack_client_errors(s, ctx):
    bad_utf8 = b'{"request_id": "u1", "filename": "\xff\xfe.jpg", "content": "AAAA"}'
    a, _, _ = request(s.port, "POST", "/", bad_utf8, {"Content-Type": "application/json"})
    b, _, _ = request(s.port, "POST", "/", frame_body("long-name", ctx["frames"][0], "x" * (1 << 20)), {"Content-Type": "application/json"})
    cmyk_ok = None
    cmyk = os.path.join(ctx["workdir"], "cmyk.jpg")
    if subprocess.run(["convert", ctx["frames"][0], "-colorspace", "CMYK", cmyk], capture_output=True).returncode == 0:
        cmyk_ok, _, _ = request(s.port, "POST", "/", frame_body("cmyk", cmyk), {"Content-Type": "application/json"})
    return a == 400 and b == 400 and cmyk_ok == 200, f"invalid UTF-8 {a}, 1 MB filename {b}, CMYK JPEG {cmyk_ok}"


def attack_clips(s, ctx):
    clip = os.path.join(SHARED, "datasets", "videos", "Bean.mp4")
    data = open(clip, "rb").read()
    status, _, body = request(s.port, "POST", "/clips?request_id=trunc", data[: len(data) // 5], {"Content-Type": "video/mp4"})
    complete = json.loads(body).get("complete") if status == 200 else None
    big = png_avi(3840, 2160, 24, 200)  # 8 s of 4K (the clip was 10 s; this one fits the 6 MB body)
    t = time.time()
    big_status, _, big_body = request(s.port, "POST", "/clips?request_id=big&policy=every", big, {"Content-Type": "video/mp4"}, timeout=200)
    took = time.time() - t
    return complete is False and big_status == 413 and took < 10, f"truncated clip complete={complete}; 8 s 4K every ({len(big) >> 20} MB): {big_status} in {took:.1f}s"


def attack_sqs_validation(s, ctx):
    q = s.queue_url("resp-queue")
    checks = [
        sqs_json(s.port, "ReceiveMessage", {"QueueUrl": q, "VisibilityTimeout": -1})[0],
        sqs_json(s.port, "ReceiveMessage", {"QueueUrl": q, "VisibilityTimeout": 43201})[0],
        sqs_json(s.port, "SendMessage", {"QueueUrl": q, "MessageBody": "x", "DelaySeconds": 901})[0],
        sqs_json(s.port, "SendMessageBatch", {"QueueUrl": q, "Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]})[0],
        sqs_json(s.port, "SendMessageBatch", {"QueueUrl": q, "Entries": [{"Id": "a b/../!", "MessageBody": "x"}]})[0],
        sqs_json(s.port, "SendMessage", {"QueueUrl": q, "MessageBody": "x", "MessageAttributes": {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}})[0],
    ]
    return all(c == 400 for c in checks), "statuses " + ",".join(str(c) for c in checks) + " (all should be 400)"


def attack_browser(s, ctx):
    q = s.queue_url("resp-queue")
    purge, _, _ = sqs_query(s.port, {"Action": "PurgeQueue", "QueueUrl": q}, method="GET")
    plain, _, _ = request(s.port, "POST", "/", frame_body("plain", ctx["frames"][0]), {"Content-Type": "text/plain"})
    _, _, body = sqs_json(s.port, "GetQueueUrl", {"QueueName": "ft-resp-queue"}) if False else (None, None, b"")
    status, _, body = request(s.port, "POST", "/", json.dumps({"QueueName": "ft-resp-queue"}).encode(),
                              {"X-Amz-Target": "AmazonSQS.GetQueueUrl", "Content-Type": "application/x-amz-json-1.0", "Host": "attacker.example"})
    host_echo = b"attacker.example" in body
    return purge not in (200, None) and plain not in (200, None) and not host_echo, f"GET PurgeQueue {purge}, text/plain frame {plain}, Host echoed: {host_echo}"


def attack_delete_queue(s, ctx):
    sqs_json(s.port, "DeleteQueue", {"QueueUrl": s.queue_url("resp-queue")})
    health, _, _ = request(s.port, "GET", "/healthz")
    return health not in (200, None), f"/healthz after DeleteQueue of the response queue: {health}"


ATTACKS = [
    (1, "16 x 6320x6320 PNGs at once", attack_huge_frames),
    (2, "90 sequential frames (memory)", attack_sequential),
    (3, "slow and idle clients", attack_slow_clients),
    (4, "poison message %FF%FE", attack_poison),
    (5, "second serve on the port", attack_port_in_use),
    (7, "client errors (UTF-8, 1 MB name, CMYK)", attack_client_errors),
    (8, "clips: truncated, 10 s 4K every", attack_clips),
    (9, "SQS validation", attack_sqs_validation),
    (10, "browser/proxy: GET, text/plain, Host", attack_browser),
    (6, "DeleteQueue under serve", attack_delete_queue),  # last: it breaks the instance on purpose
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facepipe", default=os.path.join(ROOT, "build", "facepipe"))
    ap.add_argument("--only", default="", help="comma-separated finding numbers")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (README)")
    args = ap.parse_args()
    if not os.access(args.facepipe, os.X_OK):
        raise SystemExit(f"fault-test: {args.facepipe} is missing; build it with scripts/build.sh")
    only = {int(x) for x in args.only.split(",") if x}
    workdir = tempfile.mkdtemp(prefix="facepipe-fault-")
    gallery = os.path.join(workdir, "gallery.db")
    subprocess.run([args.facepipe, "enroll", "--gallery", gallery, "--folder", FRAMES, "--per-person", "3"],
                   check=True, capture_output=True)
    frames = sorted(os.path.join(FRAMES, p, f) for p in os.listdir(FRAMES) for f in os.listdir(os.path.join(FRAMES, p)))
    ctx = {"facepipe": args.facepipe, "workdir": workdir, "frames": frames}
    s = Serve(args.facepipe, gallery, workdir, "serve")
    rows = []
    try:
        for number, name, attack in ATTACKS:
            if only and number not in only:
                continue
            if not s.alive():  # a previous attack killed it: start again so each row stands alone
                s.stop()
                s = Serve(args.facepipe, gallery, workdir, f"serve{number}")
            before = s.rss()
            good = WellBehaved(s.port, frames[0])
            good.start()
            t = time.time()
            try:
                ok, note = attack(s, ctx)
            except Exception as e:  # noqa: BLE001 - an attack that cannot run is a failed probe
                ok, note = False, f"attack failed: {e}"
            time.sleep(max(0, 2 - (time.time() - t)))
            good.stop_flag.set()
            good.join(70)
            alive = s.alive()
            if good.retries:
                note += f"; the good client retried {good.retries}x after Retry-After"
            rows.append((number, name, "yes" if alive else "NO", "yes" if ok else "no", before, s.rss(), good.p99_ms(), note))
            print(f"fault-test: {number}. {name}: alive={alive} probe={'ok' if ok else 'FAILED'} ({note})", file=sys.stderr)
    finally:
        s.stop()
    head = ("finding", "attack", "alive", "probe ok", "RSS before MB", "RSS after MB", "p99 good client ms", "detail")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.0f} | {r[7]} |")
    else:
        print(f"{'#':>2}  {'attack':40} {'alive':5} {'probe':5} {'RSS0':>6} {'RSS1':>6} {'p99 ms':>8}  detail")
        for r in rows:
            print(f"{r[0]:>2}  {r[1]:40} {r[2]:5} {r[3]:5} {r[4]:>6} {r[5]:>6} {r[6]:>8.0f}  {r[7]}")
    return 0 if all(r[2] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
