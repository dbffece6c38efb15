#!/usr/bin/env python3
"""Records real registry responses for the fuzz seed corpus.

Starts two CNCF distribution registries on loopback (`docker-registry serve`; one open,
one with htpasswd Basic auth), walks the protocol by hand (push chunked and monolithic,
pull, mount, manifests, an index, tag and catalog pages, errors, auth challenges) and
writes every response (status, headers, body) to captures.json, with the registry's
address rewritten to 127.0.0.1:5000 (the host dxf_proto::fuzzing talks to).

Then: cargo test -p dxf-proto --features fuzzing --test fuzz_corpus -- --ignored write_seeds
"""
import base64, hashlib, http.client, json, os, shutil, socket, subprocess, sys, tempfile, time

BLOB = b"dxf fuzz seed blob: hello registry\n"
BLOB2 = b"second blob, pushed monolithically\n"
EMPTY = b"{}"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(root, port, htpasswd=None):
    cfg = f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
    if htpasswd:
        cfg += f"auth:\n  htpasswd:\n    realm: Registry Realm\n    path: {htpasswd}\n"
    path = os.path.join(root, f"config-{port}.yml")
    with open(path, "w") as f:
        f.write(cfg)
    proc = subprocess.Popen(["docker-registry", "serve", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v2/")
            if c.getresponse().status in (200, 401):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("registry did not start")


class Recorder:
    def __init__(self, port):
        self.port = port
        self.out = []

    def req(self, name, method, path, body=b"", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if body or method in ("PUT", "PATCH", "POST"):
            h.setdefault("Content-Length", str(len(body)))
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        here = f"127.0.0.1:{self.port}"
        hdrs = [[k.lower(), v.replace(here, "127.0.0.1:5000")] for k, v in r.getheaders()
                if k.lower() not in ("date", "x-content-type-options", "connection")]
        self.out.append({"name": name, "method": method,
                         "path": path.replace(here, "127.0.0.1:5000"),
                         "status": r.status, "headers": hdrs,
                         "body": base64.b64encode(data).decode()})
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def loc_path(loc):
    return loc.split("127.0.0.1:", 1)[1].split("/", 1)[1] if "://" in loc else loc.lstrip("/")


def main():
    root = tempfile.mkdtemp(prefix="dxf-capture-")
    procs = []
    try:
        port = free_port()
        procs.append(start(root, port))
        r = Recorder(port)
        d, d2 = sha(BLOB), sha(BLOB2)
        r.req("version", "GET", "/v2/")
        r.req("blob_head_missing", "HEAD", f"/v2/a/blobs/{d}")
        # chunked push
        _, h, _ = r.req("upload_start", "POST", "/v2/a/blobs/uploads/")
        loc = "/" + loc_path(h["location"])
        half = len(BLOB) // 2
        _, h, _ = r.req("upload_patch1", "PATCH", loc, BLOB[:half],
                        {"Content-Type": "application/octet-stream",
                         "Content-Range": f"0-{half - 1}"})
        loc = "/" + loc_path(h["location"])
        r.req("upload_status", "GET", loc)
        _, h, _ = r.req("upload_patch2", "PATCH", loc, BLOB[half:],
                        {"Content-Type": "application/octet-stream",
                         "Content-Range": f"{half}-{len(BLOB) - 1}"})
        loc = "/" + loc_path(h["location"])
        sep = "&" if "?" in loc else "?"
        r.req("upload_put", "PUT", f"{loc}{sep}digest={d}")
        r.req("blob_head", "HEAD", f"/v2/a/blobs/{d}")
        # monolithic push (and a bad digest)
        _, h, _ = r.req("upload_start2", "POST", "/v2/a/blobs/uploads/")
        loc = "/" + loc_path(h["location"])
        sep = "&" if "?" in loc else "?"
        r.req("upload_put_bad_digest", "PUT", f"{loc}{sep}digest={sha(b'x')}", BLOB2,
              {"Content-Type": "application/octet-stream"})
        _, h, _ = r.req("upload_start3", "POST", "/v2/a/blobs/uploads/")
        loc = "/" + loc_path(h["location"])
        sep = "&" if "?" in loc else "?"
        r.req("upload_put_mono", "PUT", f"{loc}{sep}digest={d2}", BLOB2,
              {"Content-Type": "application/octet-stream"})
        _, h, _ = r.req("upload_start4", "POST", "/v2/a/blobs/uploads/")
        loc = "/" + loc_path(h["location"])
        sep = "&" if "?" in loc else "?"
        r.req("upload_put_empty", "PUT", f"{loc}{sep}digest={sha(EMPTY)}", EMPTY,
              {"Content-Type": "application/octet-stream"})
        _, h, _ = r.req("upload_start5", "POST", "/v2/a/blobs/uploads/")
        r.req("upload_patch_bad_range", "PATCH", "/" + loc_path(h["location"]), BLOB[half:],
              {"Content-Type": "application/octet-stream", "Content-Range": f"{half + 5}-{len(BLOB) + 4}"})
        # pull
        r.req("blob_get", "GET", f"/v2/a/blobs/{d}")
        r.req("blob_get_missing", "GET", f"/v2/a/blobs/{sha(b'nope')}")
        # mount
        r.req("mount_ok", "POST", f"/v2/b/blobs/uploads/?mount={d}&from=a")
        _, h, _ = r.req("mount_missing", "POST", f"/v2/b/blobs/uploads/?mount={sha(b'nope')}&from=a")
        r.req("mount_cancel", "DELETE", "/" + loc_path(h["location"]))
        # manifests: OCI image, python-dxf alias, index
        oci = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "artifactType": "application/vnd.dxf.blobs.v1",
                          "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                     "digest": sha(EMPTY), "size": 2, "data": "e30="},
                          "layers": [{"mediaType": "application/octet-stream", "digest": d,
                                      "size": len(BLOB),
                                      "annotations": {"org.opencontainers.image.title": "blob"}}]},
                         separators=(",", ":")).encode()
        alias = json.dumps({"config": {"digest": d2, "mediaType": "application/vnd.docker.container.image.v1+json",
                                       "size": len(BLOB2)},
                            "layers": [{"digest": d2, "mediaType": "application/octet-stream", "size": len(BLOB2)},
                                       {"digest": d, "mediaType": "application/octet-stream", "size": len(BLOB)}],
                            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                            "schemaVersion": 2}, sort_keys=True).encode()
        r.req("manifest_put_oci", "PUT", "/v2/a/manifests/oci", oci,
              {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        r.req("manifest_put_alias", "PUT", "/v2/a/manifests/alias", alias,
              {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [
                                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(oci),
                                 "size": len(oci), "platform": {"os": "linux", "architecture": "amd64"}},
                                {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                 "digest": sha(alias), "size": len(alias),
                                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]},
                           separators=(",", ":")).encode()
        r.req("manifest_put_index", "PUT", "/v2/a/manifests/multi", index,
              {"Content-Type": "application/vnd.oci.image.index.v1+json"})
        r.req("manifest_put_bad", "PUT", "/v2/a/manifests/bad", b'{"schemaVersion":2}',
              {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
                            "application/vnd.docker.distribution.manifest.v2+json, "
                            "application/vnd.docker.distribution.manifest.list.v2+json"}
        r.req("manifest_get_oci", "GET", "/v2/a/manifests/oci", headers=accept)
        r.req("manifest_get_alias", "GET", "/v2/a/manifests/alias", headers=accept)
        r.req("manifest_get_index", "GET", "/v2/a/manifests/multi", headers=accept)
        r.req("manifest_get_oci_by_digest", "GET", f"/v2/a/manifests/{sha(oci)}", headers=accept)
        r.req("manifest_get_alias_by_digest", "GET", f"/v2/a/manifests/{sha(alias)}", headers=accept)
        r.req("manifest_head_index", "HEAD", "/v2/a/manifests/multi", headers=accept)
        r.req("manifest_get_missing", "GET", "/v2/a/manifests/nope", headers=accept)
        # listings
        r.req("tags", "GET", "/v2/a/tags/list")
        r.req("tags_page1", "GET", "/v2/a/tags/list?n=1")
        r.req("tags_page2", "GET", "/v2/a/tags/list?last=alias&n=1")
        r.req("tags_missing", "GET", "/v2/zzz/tags/list")
        r.req("catalog", "GET", "/v2/_catalog")
        r.req("catalog_page1", "GET", "/v2/_catalog?n=1")
        r.req("catalog_page2", "GET", "/v2/_catalog?last=a&n=1")
        r.req("catalog_bad_n", "GET", "/v2/_catalog?n=-1")

        # Basic auth registry
        hp = os.path.join(root, "htpasswd")
        subprocess.run(["htpasswd", "-Bbc", hp, "user", "pass"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port2 = free_port()
        procs.append(start(root + "/b", port2, hp) if os.makedirs(root + "/b") is None else None)
        r2 = Recorder(port2)
        r2.req("basic_challenge", "GET", "/v2/")
        r2.req("basic_challenge_blob", "HEAD", f"/v2/a/blobs/{d}")
        r2.req("basic_wrong", "GET", "/v2/", headers={"Authorization": "Basic " + base64.b64encode(b"user:no").decode()})
        r2.req("basic_ok", "GET", "/v2/", headers={"Authorization": "Basic " + base64.b64encode(b"user:pass").decode()})

        out = {"blob": BLOB.decode(), "blob2": BLOB2.decode(), "oci_digest": sha(oci),
               "alias_digest": sha(alias), "index_digest": sha(index),
               "responses": r.out + r2.out}
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "captures.json"), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        print(f"{len(out['responses'])} responses captured")
    finally:
        for p in procs:
            if p:
                p.terminate()
                p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
