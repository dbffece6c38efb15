#!/usr/bin/env python3
"""The dxf benchmark (issue 6): a real registry on loopback, every client timed the same way.

Run through bench/run.sh, which builds the binaries and the python-dxf virtualenv first.
Each case runs once as a warm-up, then RUNS times; within one round every tool of a case
runs back to back, so the ratios (tool / reference of the same round) are paired and the
table reports their median. Wall time from time.monotonic(), client CPU (user + sys of the
whole process tree) and peak RSS (largest process of the tree) from os.wait4's rusage.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

MiB = 1024 * 1024
REPO = "bench/blobs"
MANIFEST_TYPES = ",".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
])


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- measuring

class Sample:
    def __init__(self, wall, cpu, rss_kib):
        self.wall, self.cpu, self.rss_kib = wall, cpu, rss_kib


def measure(argv, env=None, stdin=None):
    """Runs argv (stdout to /dev/null); returns a Sample. Fails loudly on a non-zero exit.

    Peak RSS comes from GNU time (the largest process of the tree): measured straight from
    Python, the forked interpreter's RSS would count as the child's peak."""
    stats = os.path.join(WORKDIR, "time.out")
    with open(os.devnull, "wb") as devnull:
        start = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-q", "-o", stats, "-f", "%M"] + argv,
                             env=env, stdin=stdin or subprocess.DEVNULL, stdout=devnull,
                             stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv!r} exited {p.returncode}: "
                           f"{err.decode(errors='replace')[-2000:]}")
    with open(stats) as f:
        rss = f.read().split()[-1]
    # wait4 on GNU time: its own CPU (negligible) plus its child's, in microseconds.
    return Sample(wall, ru.ru_utime + ru.ru_stime, int(rss))


def measure_direct(argv, env=None):
    """Like measure, without GNU time in between (for calls of a few ms: wall and CPU
    only; the RSS field is 0)."""
    with open(os.devnull, "wb") as devnull:
        start = time.monotonic()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=devnull,
                             stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv!r} failed: {err.decode(errors='replace')[-2000:]}")
    return Sample(wall, ru.ru_utime + ru.ru_stime, 0)


def sh(script):
    return ["bash", "-c", "set -euo pipefail\n" + script]


# ---------------------------------------------------------------- registry

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(d):
    """A CA and a leaf for 127.0.0.1 signed by it (rustls refuses a self-signed CA as the
    server's own certificate). Returns (ca.pem, leaf.pem, leaf.key)."""
    os.makedirs(d, exist_ok=True)
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    leaf, key, csr = (os.path.join(d, n) for n in ("leaf.pem", "leaf.key", "leaf.csr"))
    ext = os.path.join(d, "leaf.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for argv in (
        ["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca,
                                            "-subj", "/CN=dxf bench CA", "-days", "2"],
        ["openssl", "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", leaf, "-days", "2", "-extfile", ext],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    return ca, leaf, key


class Registry:
    def __init__(self, workdir, tls=False, name=None):
        self.dir = os.path.join(workdir, name or ("registry-tls" if tls else "registry"))
        os.makedirs(os.path.join(self.dir, "storage"))
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        self.ca = None
        tls_config = ""
        if tls:
            self.ca, leaf, key = make_certs(os.path.join(self.dir, "certs"))
            tls_config = f"  tls:\n    certificate: {leaf}\n    key: {key}\n"
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/storage\n"
                "  delete:\n    enabled: true\n"
                "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                f"http:\n  addr: {self.host}\n  secret: bench-{os.getpid()}\n" + tls_config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        ctx = None
        if tls:
            import ssl
            ctx = ssl.create_default_context(cafile=self.ca)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{self.scheme}://{self.host}/v2/", timeout=1,
                                       context=ctx).read()
                self.ctx = ctx
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start; see " + self.log.name)

    def url(self, path):
        return f"{self.scheme}://{self.host}/v2/{REPO}/{path}"

    def env(self):
        """The DXF_* settings of a client of this registry."""
        env = dict(os.environ, DXF_HOST=self.host, DXF_PROGRESS="0")
        if self.ca:
            env["DXF_TLSVERIFY"] = self.ca
        else:
            env["DXF_INSECURE"] = "1"
        return env

    def delete_blob(self, digest):
        req = urllib.request.Request(self.url(f"blobs/{digest}"), method="DELETE")
        try:
            urllib.request.urlopen(req, context=self.ctx).read()
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# ---------------------------------------------------------------- data

def random_file(path, size):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            h.update(block)
            f.write(block)
            left -= len(block)
    return "sha256:" + h.hexdigest()


def size_name(size):
    return f"{size // (1024 * MiB)} GiB" if size >= 1024 * MiB else f"{size // MiB} MiB"


# ---------------------------------------------------------------- cases

class Tools:
    def __init__(self, args, reg):
        self.dxf = args.dxf
        self.hyper_pull = args.hyper_pull
        self.hyper_push = args.hyper_push
        self.pydxf = args.python_dxf
        self.reg = reg
        self.env = reg.env()
        help_text = subprocess.run([self.dxf, "push-blob", "--help"], capture_output=True,
                                   text=True).stdout
        self.single_pass = "--single-pass" in help_text
        self.jobs = "--jobs" in help_text


def run_rounds(name, tools, before, runs, how=None, env=None):
    """tools: [(label, argv)]. before(): called before every single run (e.g. delete the blob).
    Returns {label: [Sample]} without the warm-up round."""
    how = how or measure
    results = {label: [] for label, _ in tools}
    for r in range(runs + 1):
        for label, argv in tools:
            before()
            s = how(argv, env=env or ENV)
            if r:
                results[label].append(s)
        log(f"  {name}: round {r}/{runs} done")
    return results


def push_case(t, path, digest, size, runs, workdir):
    base = f"{t.reg.url('blobs/uploads/')}"
    # The hyper example pushes a directory: one holding just this file.
    one = os.path.join(workdir, f"dir-{size}")
    os.makedirs(one, exist_ok=True)
    link = os.path.join(one, "blob")
    if not os.path.exists(link):
        os.symlink(path, link)
    hexd = digest.split(":", 1)[1]
    # A leaner POST for the shell tools: the Location header via curl's -w, no python.
    post = f"loc=$(curl -sf -X POST -o /dev/null -w '%header{{location}}' '{base}')\n"
    tools = [
        ("curl -T, digest known (ceiling)",
         sh(post + f"curl -sf -H 'Expect:' -T '{path}' -o /dev/null \"$loc&digest=sha256:{hexd}\"")),
        # What a single-pass upload looks like on the wire when it is one streamed PATCH
        # (the registry hashes while receiving) closed by a PUT with the digest.
        ("curl: one PATCH + PUT ?digest (single-pass shape)",
         sh(post + f"loc=$(curl -sf -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' "
            f"-T '{path}' -o /dev/null -w '%header{{location}}' \"$loc\")\n"
            f"curl -sf -X PUT -o /dev/null \"$loc&digest=sha256:{hexd}\"")),
        ("openssl dgst + curl -T",
         sh(f"d=$(openssl dgst -sha256 -r '{path}' | cut -d' ' -f1)\n" + post +
            f"curl -sf -H 'Expect:' -T '{path}' -o /dev/null \"$loc&digest=sha256:$d\"")),
        ("dxf", [t.dxf, "push-blob", REPO, path]),
    ]
    if t.single_pass:
        tools.append(("dxf --single-pass", [t.dxf, "push-blob", "--single-pass", REPO, path]))
    tools += [
        ("dxf-hyper (push_dir example)", [t.hyper_push, one, REPO, "bench-hyper"]),
        ("python-dxf 12.1.1", [t.pydxf, "push-blob", REPO, path]),
    ]
    res = run_rounds(f"push {size_name(size)}", tools, lambda: t.reg.delete_blob(digest), runs)
    return tools[0][0], res


def pull_case(t, path, digest, size, runs):
    url = t.reg.url(f"blobs/{digest}")
    tools = [
        ("curl -o /dev/null (ceiling)", ["curl", "-sf", "-o", "/dev/null", url]),
        ("openssl dgst of the file", ["openssl", "dgst", "-sha256", path]),
        ("curl | openssl dgst", sh(f"curl -sf '{url}' | openssl dgst -sha256")),
        ("dxf", [t.dxf, "pull-blob", REPO, digest]),
        ("dxf-hyper (pull example)", [t.hyper_pull, REPO, digest]),
        ("python-dxf 12.1.1", [t.pydxf, "pull-blob", REPO, digest]),
    ]
    res = run_rounds(f"pull {size_name(size)}", tools, lambda: None, runs)
    return res


def tls_case(t, tls, path, digest, size, runs):
    """dxf over https: the same transfers as plain http, against curl on the same registry
    (TLS costs the client CPU and buffers: the RSS goal holds here too)."""
    env = tls.env()
    curl = ["curl", "-sf", "--cacert", tls.ca]
    base = tls.url("blobs/uploads/")
    hexd = digest.split(":", 1)[1]
    cacert = f"--cacert '{tls.ca}'"
    post = f"loc=$(curl -sf {cacert} -X POST -o /dev/null -w '%header{{location}}' '{base}')\n"
    push = [
        ("curl -T, digest known (ceiling)",
         sh(post + f"curl -sf {cacert} -H 'Expect:' -T '{path}' -o /dev/null "
            f"\"$loc&digest=sha256:{hexd}\"")),
        ("dxf", [t.dxf, "push-blob", REPO, path]),
        ("dxf --single-pass", [t.dxf, "push-blob", "--single-pass", REPO, path]),
    ]
    pushes = run_rounds(f"tls push {size_name(size)}", push, lambda: tls.delete_blob(digest),
                        runs, env=env)
    subprocess.run([t.dxf, "push-blob", REPO, path], env=env, check=True, capture_output=True)
    pull = [
        ("curl -o /dev/null (ceiling)", curl + ["-o", "/dev/null", tls.url(f"blobs/{digest}")]),
        ("openssl dgst of the file", ["openssl", "dgst", "-sha256", path]),
        ("dxf", [t.dxf, "pull-blob", REPO, digest]),
        ("dxf-hyper (pull example)", [t.hyper_pull, REPO, digest]),
    ]
    pulls = run_rounds(f"tls pull {size_name(size)}", pull, lambda: None, runs, env=env)
    return push[0][0], pushes, pulls


GiB = 1024 * MiB


def pull_targets_case(t, path, digest, size, runs):
    """A verified pull to a file, to /dev/null and into a pipe (`| cat > f`), dxf and the
    dxf-hyper example, each next to what curl and openssl take for the same target. Files
    are removed before every run (never timed)."""
    url = t.reg.url(f"blobs/{digest}")
    out = os.path.join(WORKDIR, "pulled")
    q = f"'{out}'"
    dgst = f"'{url}' | tee >(openssl dgst -sha256 >/dev/null)"
    targets = {
        "file": [
            ("curl -o FILE", ["curl", "-sf", "-o", out, url]),
            ("openssl dgst of the file", ["openssl", "dgst", "-sha256", path]),
            ("curl | tee >(openssl dgst) > FILE", sh(f"curl -sf {dgst} > {q}")),
            ("dxf pull-blob -o FILE (atomic, fsync'd)", [t.dxf, "pull-blob", "-o", out, REPO, digest]),
            ("dxf pull-blob > FILE", sh(f"'{t.dxf}' pull-blob {REPO} {digest} > {q}")),
            ("dxf-hyper pull > FILE", sh(f"'{t.hyper_pull}' {REPO} {digest} > {q}")),
        ],
        "/dev/null": [
            ("curl -o /dev/null", ["curl", "-sf", "-o", "/dev/null", url]),
            ("openssl dgst of the file", ["openssl", "dgst", "-sha256", path]),
            ("curl | tee >(openssl dgst) > /dev/null", sh(f"curl -sf {dgst} > /dev/null")),
            ("dxf pull-blob > /dev/null", [t.dxf, "pull-blob", REPO, digest]),
            ("dxf-hyper pull > /dev/null", [t.hyper_pull, REPO, digest]),
        ],
        "pipe": [
            ("curl | cat > FILE", sh(f"curl -sf '{url}' | cat > {q}")),
            ("openssl dgst of the file", ["openssl", "dgst", "-sha256", path]),
            ("curl | tee >(openssl dgst) | cat > FILE", sh(f"curl -sf {dgst} | cat > {q}")),
            ("dxf pull-blob | cat > FILE", sh(f"'{t.dxf}' pull-blob {REPO} {digest} | cat > {q}")),
            ("dxf-hyper pull | cat > FILE", sh(f"'{t.hyper_pull}' {REPO} {digest} | cat > {q}")),
        ],
    }

    def clean():
        if os.path.exists(out):
            os.unlink(out)

    res = {}
    for target, tools in targets.items():
        res[target] = run_rounds(f"pull {size_name(size)} to {target}", tools, clean, runs)
    clean()
    return res


# The limit of each pull target: the max of these two, per round.
TARGET_REFS = {
    "file": ["curl -o FILE", "openssl dgst of the file"],
    "/dev/null": ["curl -o /dev/null", "openssl dgst of the file"],
    "pipe": ["curl | cat > FILE", "openssl dgst of the file"],
}


def cell(text):
    """`text` inside a Markdown table cell (a `|` of a shell pipe would end the cell)."""
    return text.replace("|", "\\|")


def pull_target_rows(res, size):
    rows = ["| target | client | wall | ÷ limit | CPU (user+sys) | CPU per GiB | peak RSS |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for target, r in res.items():
        for label, samples in r.items():
            cpu = med([s.cpu for s in samples])
            rows.append(f"| {target} | {cell(label)} | {fmt_s(med([s.wall for s in samples]))} | "
                        f"{ratio_of(r, label, TARGET_REFS[target]):.2f}× | {fmt_s(cpu)} | "
                        f"{cpu / (size / GiB):.2f} s | "
                        f"{max(s.rss_kib for s in samples) / 1024:.1f} MiB |")
    return rows


def put_image(reg, repo, tag, layers):
    """An OCI image manifest for `layers` [(digest, size)] (pushed already) with a small
    config blob; returns its digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
                         "config": {}}).encode()
    cdigest = "sha256:" + hashlib.sha256(config).hexdigest()
    post = urllib.request.Request(f"{reg.scheme}://{reg.host}/v2/{repo}/blobs/uploads/",
                                  method="POST")
    loc = urllib.request.urlopen(post, context=reg.ctx).headers["Location"]
    if loc.startswith("/"):
        loc = f"{reg.scheme}://{reg.host}{loc}"
    sep = "&" if "?" in loc else "?"
    put = urllib.request.Request(f"{loc}{sep}digest={cdigest}", data=config, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put, context=reg.ctx).read()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cdigest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d,
                    "size": n} for d, n in layers],
    }).encode()
    req = urllib.request.Request(f"{reg.scheme}://{reg.host}/v2/{repo}/manifests/{tag}",
                                 data=manifest, method="PUT",
                                 headers={"Content-Type":
                                          "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(req, context=reg.ctx).read()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def cache_env(extra=None):
    """The client's environment with a fresh, empty DXF_CACHE_DIR (the blob-location
    cache of the dxf command) and `extra`."""
    d = tempfile.mkdtemp(prefix="cache-", dir=WORKDIR)
    return dict(ENV, DXF_CACHE_DIR=d, **(extra or {}))


def second_copy_case(t, dest, n, blob_size, runs):
    """An image of n blobs copied from the source registry to repository r1 of another one
    (untimed), then — timed — to a new repository r2 there: with its cache, dxf knows the
    blobs are in r1 and can mount them instead of streaming them again. skopeo does the
    same with its own blob-info cache; `DXF_CACHE=0` is dxf without its cache."""
    layers = []
    for i in range(n):
        p = os.path.join(WORKDIR, f"layer{i}")
        d = random_file(p, blob_size)
        subprocess.run([t.dxf, "push-blob", "bench/img", p], env=ENV, check=True,
                       capture_output=True)
        os.unlink(p)
        layers.append((d, blob_size))
    put_image(t.reg, "bench/img", "v1", layers)
    src = f"{t.reg.host}/bench/img:v1"
    tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]

    def dxf_copy(repo, env):
        return [t.dxf, "copy", "--to", dest.host, "bench/img:v1", f"{repo}:v1"], env

    def skopeo_copy(repo, env):
        return (["skopeo", "copy", "-q", "--preserve-digests"] + tls +
                [f"docker://{src}", f"docker://{dest.host}/{repo}:v1"]), env

    tools = [("skopeo copy (its blob-info cache)", skopeo_copy, lambda: dict(ENV)),
             ("dxf copy --to (cache in a fresh DXF_CACHE_DIR)", dxf_copy, cache_env),
             ("dxf copy --to, DXF_CACHE=0", dxf_copy, lambda: cache_env({"DXF_CACHE": "0"}))]
    results = {label: [] for label, _, _ in tools}
    for r in range(runs + 1):
        for i, (label, how, make_env) in enumerate(tools):
            env = make_env()
            first, _ = how(f"bench/r1-{r}-{i}", env)
            subprocess.run(first, env=env, check=True, capture_output=True)
            argv, _ = how(f"bench/r2-{r}-{i}", env)
            s = measure(argv, env=env)
            if r:
                results[label].append(s)
        log(f"  second copy: round {r}/{runs} done")
    return results


def second_push_case(t, path, digest, size, runs):
    """The same file pushed to repository r1 (untimed), then — timed — to a new repository
    r2: with its cache, dxf knows the blob is in r1 and mounts it (no blob byte sent: about
    the time to hash the file, `openssl dgst` the reference)."""
    tools = [("openssl dgst -sha256 FILE (reference)", None),
             ("dxf push-blob (cache in a fresh DXF_CACHE_DIR)", cache_env)]
    results = {label: [] for label, _ in tools}
    for r in range(runs + 1):
        for i, (label, make_env) in enumerate(tools):
            if make_env is None:
                s = measure(["openssl", "dgst", "-sha256", path])
            else:
                env = make_env()
                subprocess.run([t.dxf, "push-blob", f"bench/p1-{r}-{i}", path], env=env,
                               check=True, capture_output=True)
                s = measure([t.dxf, "push-blob", f"bench/p2-{r}-{i}", path], env=env)
            if r:
                results[label].append(s)
        log(f"  second push {size_name(size)}: round {r}/{runs} done")
    return results


def cache_rows(res, ref, size=None):
    rows = ["| client | wall | ÷ reference | CPU (user+sys) | peak RSS |",
            "|---|---:|---:|---:|---:|"]
    for label, samples in res.items():
        rows.append(f"| {cell(label)} | {fmt_s(med([s.wall for s in samples]))} | "
                    f"{ratio_of(res, label, [ref]):.2f}× | "
                    f"{fmt_s(med([s.cpu for s in samples]))} | "
                    f"{max(s.rss_kib for s in samples) / 1024:.1f} MiB |")
    return rows


def small_case(t, digest, runs):
    manifest = subprocess.run([t.dxf, "set-alias", REPO, "bench-small", digest], env=ENV,
                              capture_output=True, check=True).stdout
    mpath = os.path.join(WORKDIR, "manifest.json")
    with open(mpath, "wb") as f:
        f.write(manifest.rstrip(b"\n"))
    ops = {
        "get-alias": (["get-alias", REPO, "bench-small"],
                      ["curl", "-sf", "-H", f"Accept: {MANIFEST_TYPES}", t.reg.url("manifests/bench-small")]),
        "blob-size": (["blob-size", REPO, digest],
                      ["curl", "-sfI", t.reg.url(f"blobs/{digest}")]),
        "list-aliases": (["list-aliases", REPO], ["curl", "-sf", t.reg.url("tags/list")]),
        "set-alias": (["set-alias", REPO, "bench-small", digest],
                      ["curl", "-sf", "-X", "PUT", "-H",
                       "Content-Type: application/vnd.docker.distribution.manifest.v2+json",
                       "--data-binary", f"@{mpath}", t.reg.url("manifests/bench-small")]),
    }
    out = {}
    for op, (args, curl) in ops.items():
        tools = [("curl", curl), ("dxf", [t.dxf] + args), ("python-dxf 12.1.1", [t.pydxf] + args),
                 ("spawn", ["true"])]
        out[op] = run_rounds(op, tools, lambda: None, runs, how=measure_direct)
        out[op]["dxf rss"] = [measure([t.dxf] + args, env=ENV)]
    return out


def concurrency_case(t, workdir, runs, n=16, size=64 * MiB):
    d = os.path.join(workdir, "many")
    os.makedirs(d, exist_ok=True)
    files, digests = [], []
    for i in range(n):
        p = os.path.join(d, f"blob{i:02}")
        digests.append(random_file(p, size))
        files.append(p)

    def delete_all():
        for dg in digests:
            t.reg.delete_blob(dg)

    tools = [
        ("dxf push-blob --jobs 1 (one by one)", [t.dxf, "push-blob", "--jobs", "1", REPO] + files),
        ("dxf push-blob --jobs 4", [t.dxf, "push-blob", "--jobs", "4", REPO] + files),
        ("dxf push-blob --jobs 4 --single-pass",
         [t.dxf, "push-blob", "--jobs", "4", "--single-pass", REPO] + files),
        ("dxf-hyper push_dir (16 tasks)", [t.hyper_push, d, REPO, "bench-many"]),
    ]
    if not t.single_pass:
        tools = [x for x in tools if "--single-pass" not in x[1]]
    return run_rounds(f"{n} x {size_name(size)}", tools, delete_all, runs)


# ---------------------------------------------------------------- table

def med(xs):
    return statistics.median(xs)


def fmt_s(x):
    return f"{x * 1000:.1f} ms" if x < 0.9995 else f"{x:.2f} s"


def ratio_of(res, label, ref_labels):
    """Median over rounds of label's wall / the round's max wall of ref_labels."""
    samples = res[label]
    refs = [max(res[l][i].wall for l in ref_labels) for i in range(len(samples))]
    return med([s.wall / refs[i] for i, s in enumerate(samples)])


def transfer_rows(res, size, ref_labels):
    """ref_labels: labels whose per-round max is the reference of the ratio."""
    rows = []
    for label, samples in res.items():
        wall = med([s.wall for s in samples])
        ratio = ratio_of(res, label, ref_labels)
        cpu = med([s.cpu for s in samples])
        rss = max(s.rss_kib for s in samples) / 1024
        rows.append(f"| {cell(label)} | {fmt_s(wall)} | {ratio:.2f}× | {fmt_s(cpu)} | "
                    f"{rss:.1f} MiB | {size / MiB / wall:.0f} |")
    return rows


def table_header(first):
    return [f"| {first} | wall | ÷ limit | CPU (user+sys) | peak RSS | MiB/s |",
            "|---|---:|---:|---:|---:|---:|"]


def goals(pushes, pulls, small, many, binary_bytes, tls=None):
    """The issue's goals, each with its measured value."""
    rows = []
    tls = tls or {}

    def row(goal, value, ok):
        rows.append(f"| {goal} | {value} | {'met' if ok else '**missed**'} |")

    pull_refs = ["curl -o /dev/null (ceiling)", "openssl dgst of the file"]
    big = max(list(pushes) + list(pulls) or [0])
    if big < 1024 * MiB:
        big = None  # the transfer goals are about 1 GiB
    if big in pulls:
        r = ratio_of(pulls[big], "dxf", pull_refs)
        row(f"pull {size_name(big)} verified ≤ 1.1 × max(curl, openssl dgst)", f"{r:.2f}×", r <= 1.1)
        gib = big / (1024 * MiB)
        cpu = med([s.cpu for s in pulls[big]["dxf"]]) / gib
        row("client CPU ≤ 1.0 s per GiB pulled", f"{cpu:.2f} s", cpu <= 1.0)
    if big in pushes:
        ref, res = pushes[big]
        r = ratio_of(res, "dxf", [ref])
        row(f"push {size_name(big)} (default) ≤ 1.15 × curl -T", f"{r:.2f}×", r <= 1.15)
        if "dxf --single-pass" in res:
            r = ratio_of(res, "dxf --single-pass", [ref])
            row(f"push {size_name(big)} --single-pass ≤ 1.05 × curl -T", f"{r:.2f}×", r <= 1.05)
        gib = big / (1024 * MiB)
        cpu = med([s.cpu for s in res["dxf"]]) / gib
        row("client CPU ≤ 1.2 s per GiB pushed (default)", f"{cpu:.2f} s", cpu <= 1.2)
    for label in ["dxf", "dxf --single-pass"]:
        rss = [s.rss_kib for d in [r for _, r in pushes.values()] + list(pulls.values())
               if label in d for s in d[label]]
        if rss:
            m = max(rss) / 1024
            row(f"peak RSS ≤ 8 MiB, every size, push and pull (`{label}`, plain http)",
                f"{m:.1f} MiB", m <= 8)
        rss = [s.rss_kib for _, push, pull in tls.values() for d in (push, pull)
               if label in d for s in d[label]]
        if rss:
            m = max(rss) / 1024
            row(f"peak RSS ≤ 8 MiB, every size, push and pull (`{label}`, https)",
                f"{m:.1f} MiB", m <= 8)
    for op in ["get-alias", "blob-size", "list-aliases"]:
        if op in small:
            w = med([s.wall for s in small[op]["dxf"]])
            row(f"`{op}` ≤ 5 ms per call", fmt_s(w), w <= 0.005)
    if many:
        seq = many["dxf push-blob --jobs 1 (one by one)"]
        par = many["dxf push-blob --jobs 4"]
        sp = med([seq[i].wall / s.wall for i, s in enumerate(par)])
        row("16 × 64 MiB with --jobs 4 ≥ 1.5 × faster than one by one", f"{sp:.2f}×", sp >= 1.5)
    if binary_bytes:
        row("release binary ≤ 6 MiB stripped", f"{binary_bytes / MiB:.2f} MiB",
            binary_bytes <= 6 * MiB)
    if not rows:
        return []
    return ["", "### Goals (issue 6)", "", "| goal | measured | |", "|---|---:|---|"] + rows


def goals16(targets, cache):
    """Issue 16's goals: a verified pull at the hashing limit, to every target; the cache
    rows' ratios (informative)."""
    rows = []

    def row(goal, value, ok):
        rows.append(f"| {cell(goal)} | {value} | {'met' if ok else '**missed**'} |")

    for size, res in targets.items():
        if size < GiB:
            continue  # the goals are about 1 GiB (a small pull is mostly start-up)
        gib = size / GiB
        for target, r in res.items():
            for label, slack in [("dxf", 1.0), ("dxf-hyper", 1.1)]:
                mine = [lab for lab in r if lab.startswith(label + " ")]
                for lab in mine:
                    ratio = ratio_of(r, lab, TARGET_REFS[target])
                    row(f"`{lab}` ≤ {1.05 * slack:.2f} × limit", f"{ratio:.2f}×",
                        ratio <= 1.05 * slack)
                    cpu = med([s.cpu for s in r[lab]]) / gib
                    row(f"`{lab}`: CPU ≤ {slack:.1f} s per GiB", f"{cpu:.2f} s", cpu <= slack)
    for name, res in cache.items():
        ref = next(iter(res))
        for label in list(res)[1:]:
            rows.append(f"| {name}: `{cell(label)}` ÷ `{cell(ref)}` | "
                        f"{ratio_of(res, label, [ref]):.2f}× | |")
    if not rows:
        return []
    return ["", "### Goals (issue 16)", "", "| goal | measured | |", "|---|---:|---|"] + rows


def main():
    global ENV, WORKDIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--dxf", required=True)
    ap.add_argument("--hyper-pull", required=True)
    ap.add_argument("--hyper-push", required=True)
    ap.add_argument("--python-dxf", required=True)
    ap.add_argument("--sizes", help="comma-separated MiB, e.g. 1,64,1024")
    ap.add_argument("--skip", default="",
                    help="comma-separated: push,pull,targets,cache,small,many,tls")
    ap.add_argument("--out")
    ap.add_argument("--size-info", default="")
    ap.add_argument("--binary-bytes", type=int)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    sizes = [MiB] if args.quick else [MiB, 64 * MiB, 1024 * MiB]
    if args.sizes:
        sizes = [int(x) * MiB for x in args.sizes.split(",")]
    skip = set(args.skip.split(","))
    runs = args.runs or (3 if args.quick else 5)
    small_runs = 5 if args.quick else 15

    # SIGTERM/SIGHUP unwind like Ctrl-C, so the registry and the temp dir go too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))
    WORKDIR = tempfile.mkdtemp(prefix="dxf-bench-")
    cache_results = {}
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("bench: /usr/bin/time (GNU time) is needed")
    reg = Registry(WORKDIR)
    tls_reg = None
    t0 = time.monotonic()
    try:
        if "tls" not in skip:
            tls_reg = Registry(WORKDIR, tls=True)
        t = Tools(args, reg)
        ENV = t.env
        lines = []
        load = os.getloadavg()
        lines.append(f"`bench/run.sh{' --quick' if args.quick else ''}` — "
                     f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
                     f"{os.cpu_count()} CPUs, load at start {load[0]:.2f}, "
                     f"docker-registry (plain http, loopback, fresh storage; a second one over https for the TLS rows), "
                     f"medians of {runs} runs after a warm-up "
                     f"(small operations: {small_runs}).{(' ' + args.note) if args.note else ''}")
        lines.append("")
        lines.append("Ratios are medians of per-round ratios (each tool against the reference "
                     "measured in the same round). Pull limit = max(`curl -o /dev/null`, "
                     "`openssl dgst -sha256` of the same bytes); push limit = `curl -T` with the "
                     "digest known. CPU and RSS are the client's (process tree; RSS of its "
                     "largest process).")
        first_digest = None
        pushes, pulls, tls, targets = {}, {}, {}, {}
        for size in sizes:
            path = os.path.join(WORKDIR, f"blob-{size}")
            log(f"generating {size_name(size)}")
            digest = random_file(path, size)
            first_digest = first_digest or digest
            if "push" not in skip:
                ref, res = push_case(t, path, digest, size, runs, WORKDIR)
                pushes[size] = (ref, res)
                lines += ["", f"### Push {size_name(size)}", ""] + table_header("client")
                lines += transfer_rows(res, size, [ref])
            # make sure the blob is there for the pull
            subprocess.run([t.dxf, "push-blob", REPO, path], env=ENV, check=True,
                           capture_output=True)
            if "pull" not in skip:
                res = pull_case(t, path, digest, size, runs)
                pulls[size] = res
                lines += ["", f"### Pull {size_name(size)} (to /dev/null, verified)", ""]
                lines += table_header("client")
                lines += transfer_rows(res, size, ["curl -o /dev/null (ceiling)",
                                                   "openssl dgst of the file"])
            if tls_reg:
                tls[size] = tls_case(t, tls_reg, path, digest, size, runs)
                ref, push, pull = tls[size]
                lines += ["", f"### Over TLS: push and pull {size_name(size)} (https, loopback)",
                          ""] + table_header("client")
                lines += [r.replace("| ", "| push: ", 1) for r in transfer_rows(push, size, [ref])]
                lines += [r.replace("| ", "| pull: ", 1) for r in
                          transfer_rows(pull, size, ["curl -o /dev/null (ceiling)",
                                                     "openssl dgst of the file"])]
            if size == max(sizes) and "targets" not in skip:
                targets[size] = pull_targets_case(t, path, digest, size, runs)
                lines += ["", f"### Pull {size_name(size)} verified: to a file, to /dev/null, "
                          "into a pipe", "",
                          "Limit of each target = max(curl to the same target, `openssl dgst "
                          "-sha256` of the file), per round. `-o FILE` is dxf's atomic write "
                          "(a temporary file, fsync'd, renamed); `curl -o` neither syncs nor "
                          "verifies. CPU of a pipe or a `tee` includes every process of it "
                          "(`cat`, `tee`, `openssl`).", ""]
                lines += pull_target_rows(targets[size], size)
            if size == max(sizes) and "cache" not in skip:
                res = second_push_case(t, path, digest, size, runs)
                lines += ["", f"### Second push of the same {size_name(size)} file to a new "
                          "repository", "",
                          "`dxf push-blob r1 FILE` (untimed), then `dxf push-blob r2 FILE` "
                          "timed, with a fresh `DXF_CACHE_DIR` per round: with the "
                          "blob-location cache no blob byte need be sent (≈ hashing the "
                          "file).", ""]
                lines += cache_rows(res, "openssl dgst -sha256 FILE (reference)")
                cache_results["push"] = res
            if size > MiB:
                os.unlink(path)

        if "cache" not in skip:
            n, blob = 4, (MiB if args.quick else 64 * MiB)
            dest = Registry(WORKDIR, name="registry-dest")
            try:
                res = second_copy_case(t, dest, n, blob, runs)
            finally:
                dest.stop()
            cache_results["copy"] = res
            lines += ["", f"### Second copy of an image ({n} × {size_name(blob)}) to a new "
                      "repository of another registry", "",
                      "`copy SRC DEST/r1` (untimed), then `copy SRC DEST/r2` timed; dxf with "
                      "a fresh `DXF_CACHE_DIR` per round.", ""]
            lines += cache_rows(res, "skopeo copy (its blob-info cache)")

        small = {} if "small" in skip else small_case(t, first_digest, small_runs)
        if small:
            lines += ["", "### Small operations (wall per call, one process each)", "",
                      "Spawning `true` from the harness takes "
                      + fmt_s(med([s.wall for r in small.values() for s in r["spawn"]]))
                      + " (included in every figure).", "",
                      "| operation | curl | dxf | python-dxf 12.1.1 | dxf CPU | dxf peak RSS |",
                      "|---|---:|---:|---:|---:|---:|"]
        for op, res in small.items():
            c, d, p = res["curl"], res["dxf"], res["python-dxf 12.1.1"]
            lines.append(f"| {op} | {fmt_s(med([s.wall for s in c]))} | "
                         f"{fmt_s(med([s.wall for s in d]))} | {fmt_s(med([s.wall for s in p]))} | "
                         f"{fmt_s(med([s.cpu for s in d]))} | "
                         f"{max(s.rss_kib for s in res['dxf rss']) / 1024:.1f} MiB |")

        many = None
        if not args.quick and t.jobs and "many" not in skip:
            res = many = concurrency_case(t, WORKDIR, runs)
            lines += ["", "### 16 × 64 MiB pushed by one command", "",
                      "| how | wall | speed-up vs one by one | CPU (user+sys) | peak RSS | MiB/s |",
                      "|---|---:|---:|---:|---:|---:|"]
            seq = res["dxf push-blob --jobs 1 (one by one)"]
            for label, samples in res.items():
                wall = med([s.wall for s in samples])
                speed = med([seq[i].wall / s.wall for i, s in enumerate(samples)])
                lines.append(f"| {label} | {fmt_s(wall)} | {speed:.2f}× | "
                             f"{fmt_s(med([s.cpu for s in samples]))} | "
                             f"{max(s.rss_kib for s in samples) / 1024:.1f} MiB | "
                             f"{16 * 64 / wall:.0f} |")

        if args.size_info:
            lines += ["", "### Binary", "", args.size_info]
        lines += goals(pushes, pulls, small, many, args.binary_bytes, tls)
        lines += goals16(targets, cache_results)
        load = os.getloadavg()
        lines += ["", f"Load at the end {load[0]:.2f}; the whole run took "
                      f"{time.monotonic() - t0:.0f} s."]
        text = "\n".join(lines) + "\n"
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
    finally:
        reg.stop()
        if tls_reg:
            tls_reg.stop()
        shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
