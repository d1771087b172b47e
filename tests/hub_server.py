"""A Hub-compatible HTTP server for tests, on loopback only (stdlib, written for this project).

It implements the subset of the Hugging Face Hub HTTP API that ``huggingface_hub`` 2.4, ``transformers``,
``datasets`` and ``peft`` use to create repos, upload (preupload → LFS batch → PUT → NDJSON commit) and download
(HEAD/GET ``resolve`` with ``X-Repo-Commit``/``ETag``/``X-Linked-*``, tree and paths-info listings, repo info,
refs, card YAML validation, whoami). Repos live on disk under a temporary directory: content-addressed blobs plus
one JSON manifest per commit, so every commit stays resolvable by its sha.

Anything the server does not know is answered with HTTP 501 *and* recorded in ``HubServer.unknown_requests``; the
test fixtures assert that list is empty at teardown, so a client calling an endpoint we never implemented fails
the test loudly instead of degrading silently.

Usage in tests: ``server = shared_server()`` (one per test process, stopped at exit), ``server.client_env(home)``
for the environment of a client subprocess, and ``run_client(code, env)`` to run a Python snippet with it.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

USER = "tester"
REPO_TYPES = ("model", "dataset", "space")
# Files the preupload answer sends through LFS whatever their content (the Hub decides with .gitattributes).
LFS_SUFFIXES = (".safetensors", ".parquet", ".arrow", ".bin", ".pt", ".pth", ".gguf", ".npy", ".npz", ".h5", ".zip")
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class HubError(Exception):
    """An error answered with a status, a JSON body and the Hub's X-Error-Code header."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.headers, self.extra = status, code, headers or {}, extra or {}


@dataclass
class Repo:
    """One repository on disk: ``meta.json`` (refs, commits) + ``commits/<sha>.json`` (path → file entry)."""

    root: Path
    repo_type: str
    repo_id: str
    private: bool = False
    refs: dict = field(default_factory=dict)  # branch → commit sha
    commits: list = field(default_factory=list)  # [{"oid", "title", "date", "parents"}], oldest first

    def save(self) -> None:
        meta = {"repo_type": self.repo_type, "repo_id": self.repo_id, "private": self.private,
                "refs": self.refs, "commits": self.commits}
        (self.root / "meta.json").write_text(json.dumps(meta, indent=1))

    def files_at(self, sha: str | None) -> dict:
        if sha is None:
            return {}
        return json.loads((self.root / "commits" / f"{sha}.json").read_text())

    def resolve(self, revision: str) -> str | None:
        """Commit sha of a branch name or of a (full) commit sha; None when the repo has no commit yet."""
        revision = unquote(revision)
        if revision in self.refs:
            return self.refs[revision]
        if _SHA1.match(revision) and (self.root / "commits" / f"{revision}.json").is_file():
            return revision
        if not self.refs and revision == "main":
            return None
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


class HubState:
    """All repos + the blob store. One lock serialises writes (commits are rare and small in tests)."""

    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self._counter = 0

    def _repo_dir(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{repo_type}s" / repo_id

    def get(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository Not Found: {repo_type} {repo_id}", "RepoNotFound")
        return repo

    def create(self, repo_type: str, repo_id: str, private: bool, url: str) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:  # the Hub answers 409 with the url (exist_ok=True reads it)
                raise HubError(409, "You already created this repo", extra={"url": url})
            root = self._repo_dir(repo_type, repo_id)
            (root / "commits").mkdir(parents=True, exist_ok=True)
            repo = Repo(root, repo_type, repo_id, private)
            self.repos[(repo_type, repo_id)] = repo
            # Like the Hub, a new repo starts with one commit holding a .gitattributes.
            attributes = self.put_blob(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
            self.commit(repo, "main", "initial commit", [("add", ".gitattributes", attributes, False)])
            return repo

    def put_blob(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self.blobs / sha
        if not path.exists():
            tmp = path.with_suffix(".tmp%d" % threading.get_ident())
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return sha

    def has_blob(self, sha: str) -> bool:
        return (self.blobs / sha).is_file()

    def blob(self, sha: str) -> bytes:
        return (self.blobs / sha).read_bytes()

    def commit(self, repo: Repo, branch: str, title: str, ops: list) -> str:
        """ops: ("add", path, sha256, is_lfs) | ("delete", path) | ("delete_folder", path)."""
        with self.lock:
            parent = repo.refs.get(branch)
            files = dict(repo.files_at(parent))
            for op in ops:
                if op[0] == "add":
                    _, path, sha, is_lfs = op
                    content = self.blob(sha)
                    entry = {"size": len(content), "sha256": sha, "lfs": is_lfs}
                    entry["oid"] = git_blob_oid(LFS_POINTER.format(oid=sha, size=len(content)).encode()) if is_lfs \
                        else git_blob_oid(content)
                    files[path] = entry
                elif op[0] == "delete":
                    if op[1] not in files:
                        raise HubError(404, f"File not found in repo: {op[1]}", "EntryNotFound")
                    del files[op[1]]
                else:
                    prefix = op[1].rstrip("/") + "/"
                    for path in [p for p in files if p.startswith(prefix)]:
                        del files[path]
            self._counter += 1
            oid = hashlib.sha1(f"{repo.repo_id}:{parent}:{title}:{self._counter}:{time.time_ns()}".encode()).hexdigest()
            (repo.root / "commits" / f"{oid}.json").write_text(json.dumps(files, sort_keys=True))
            date = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            repo.commits.append({"oid": oid, "title": title, "date": date, "parents": [parent] if parent else []})
            repo.refs[branch] = oid
            repo.save()
            return oid


def _file_entry(path: str, entry: dict, last_commit: dict | None = None) -> dict:
    out = {"type": "file", "path": path, "size": entry["size"], "oid": entry["oid"]}
    if entry["lfs"]:
        pointer = LFS_POINTER.format(oid=entry["sha256"], size=entry["size"])
        out["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": len(pointer)}
    if last_commit is not None:
        out["lastCommit"] = last_commit
    return out


def _folder_entry(path: str, files: dict, last_commit: dict | None = None) -> dict:
    inner = sorted((p, e["oid"]) for p, e in files.items() if p.startswith(path + "/"))
    out = {"type": "directory", "path": path, "oid": hashlib.sha1(json.dumps(inner).encode()).hexdigest()}
    if last_commit is not None:
        out["lastCommit"] = last_commit
    return out


def _list_tree(files: dict, prefix: str, recursive: bool) -> list[dict]:
    prefix = prefix.strip("/")
    base = prefix + "/" if prefix else ""
    entries, folders = [], set()
    for path in sorted(files):
        if not path.startswith(base):
            continue
        rest = path[len(base):]
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            if recursive or depth == 1:
                folders.add(base + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            entries.append(_file_entry(path, files[path]))
    return [_folder_entry(f, files) for f in sorted(folders)] + entries


class _Handler(BaseHTTPRequestHandler):
    server_version = "hf-delrec-test-hub/1"
    protocol_version = "HTTP/1.1"
    hub: "HubServer"  # set on the subclass built by HubServer

    # ---------------------------------------------------------------- plumbing
    def log_message(self, fmt, *args):  # keep pytest output clean; requests are recorded in hub.requests
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():  # streamed uploads of unknown size
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers)

    def _dispatch(self):
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        body = self._body() if self.command in ("POST", "PUT") else b""
        self.hub.requests.append((self.command, self.path))
        try:
            for method, pattern, func in self.hub.routes:
                if method == self.command:
                    match = pattern.fullmatch(path)
                    if match:
                        return func(self, match, query, body)
            self.hub.unknown_requests.append(f"{self.command} {self.path}")
            self._json({"error": f"test Hub: unknown endpoint {self.command} {path}"}, 501)
        except HubError as err:
            headers = dict(err.headers)
            if err.code:
                headers["X-Error-Code"] = err.code
            headers["X-Error-Message"] = str(err)
            self._json({"error": str(err), **err.extra}, err.status, headers)
        except Exception as err:  # a bug in the test server: make it visible in the test
            self.hub.unknown_requests.append(f"{self.command} {self.path} -> server error {err!r}")
            self._json({"error": f"test Hub internal error: {err!r}"}, 500)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # ---------------------------------------------------------------- helpers
    def _repo(self, match) -> Repo:
        kind = match.group("kind") or "models"
        return self.hub.state.get(kind[:-1], match.group("repo"))

    # ---------------------------------------------------------------- endpoints
    def whoami(self, match, query, body):
        self._json({"type": "user", "name": USER, "fullname": "Test User", "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def agent_harnesses(self, match, query, body):
        self._json({"standardEnvVars": [], "harnesses": {}})

    def create_repo(self, match, query, body):
        payload = json.loads(body or b"{}")
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"invalid repo type {repo_type!r}")
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo_id}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self.hub.state.create(repo_type, repo_id, private, url)
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def repo_info(self, match, query, body):
        repo = self._repo(match)
        sha = repo.resolve(match.group("rev") or "main")
        files = repo.files_at(sha)
        last = next((c for c in repo.commits if c["oid"] == sha), None)
        info = {"id": repo.repo_id, "_id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": sha,
                "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                "tags": [], "lastModified": last["date"] if last else None, "createdAt": repo.commits[0]["date"],
                "siblings": [{"rfilename": p} for p in sorted(files)]}
        if "README.md" in files:
            from huggingface_hub.repocard import metadata_load  # noqa: PLC0415  (only parsing, no network)

            tmp = self.hub.state.root / f"readme-{threading.get_ident()}.md"
            tmp.write_bytes(self.hub.state.blob(files["README.md"]["sha256"]))
            card = metadata_load(tmp) or {}
            tmp.unlink()
            info["cardData"] = card
            info["tags"] = list(card.get("tags") or [])
        if repo.repo_type == "model" and "config.json" in files:
            try:
                info["config"] = json.loads(self.hub.state.blob(files["config.json"]["sha256"]))
            except ValueError:
                pass
        self._json(info)

    def tree(self, match, query, body):
        repo = self._repo(match)
        sha = repo.resolve(match.group("rev"))
        files = repo.files_at(sha)
        prefix = (match.group("path") or "").strip("/")
        if prefix and prefix not in files and not any(p.startswith(prefix + "/") for p in files):
            raise HubError(404, f"Entry not found: {prefix}", "EntryNotFound", {"X-Repo-Commit": sha or ""})
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
        entries = _list_tree(files, prefix, recursive)
        if (query.get("expand") or ["false"])[0].lower() in ("1", "true"):
            commit = next(c for c in repo.commits if c["oid"] == sha)
            last = {"id": sha, "title": commit["title"], "date": commit["date"]}
            for entry in entries:
                entry["lastCommit"] = last
        self._json(entries)

    def paths_info(self, match, query, body):
        repo = self._repo(match)
        sha = repo.resolve(match.group("rev"))
        files = repo.files_at(sha)
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            payload = json.loads(body or b"{}")
            paths, expand = payload.get("paths", []), payload.get("expand", False)
        else:  # form-encoded: paths=a&paths=b&expand=true
            form = parse_qs(body.decode())
            paths, expand = form.get("paths", []), (form.get("expand") or ["false"])[0] in ("true", "True", "1")
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(_file_entry(path, files[path]))
            elif any(p.startswith(path + "/") for p in files):
                out.append(_folder_entry(path, files))
        if expand:
            commit = next(c for c in repo.commits if c["oid"] == sha)
            for entry in out:
                entry["lastCommit"] = {"id": sha, "title": commit["title"], "date": commit["date"]}
        self._json(out)

    def refs(self, match, query, body):
        repo = self._repo(match)
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in sorted(repo.refs.items())]
        self._json({"branches": branches, "tags": [], "converts": []})

    def commits(self, match, query, body):
        repo = self._repo(match)
        sha = repo.resolve(match.group("rev"))
        chain, by_oid = [], {c["oid"]: c for c in repo.commits}
        while sha:
            c = by_oid[sha]
            chain.append({"id": c["oid"], "title": c["title"], "message": c["title"], "authors": [{"user": USER}],
                          "date": c["date"]})
            sha = c["parents"][0] if c["parents"] else None
        self._json(chain)

    def preupload(self, match, query, body):
        repo = self._repo(match)
        files = repo.files_at(repo.resolve(match.group("rev")))
        out = []
        for item in json.loads(body)["files"]:
            sample = base64.b64decode(item.get("sample", ""))
            lfs = item["path"].endswith(LFS_SUFFIXES) or b"\0" in sample or item.get("size", 0) > 1_000_000
            existing = files.get(item["path"])
            oid = None
            if existing is not None:  # lets the client skip unchanged files (sha256 for LFS, git sha1 otherwise)
                oid = existing["sha256"] if existing["lfs"] else existing["oid"]
            out.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                        "oid": oid})
        self._json({"files": out, "commitOid": repo.refs.get("main")})

    def lfs_batch(self, match, query, body):
        kind = match.group("kind") or "models"
        self.hub.state.get(kind[:-1], match.group("repo"))
        payload = json.loads(body)
        if payload.get("operation") != "upload":
            raise HubError(400, f"test Hub: LFS operation {payload.get('operation')!r} not supported")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if not self.hub.state.has_blob(obj["oid"]):
                entry["actions"] = {"upload": {"href": f"{self.hub.url}/__lfs__/{obj['oid']}"}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_put(self, match, query, body):
        oid = match.group("oid")
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"LFS upload: content does not match sha256 {oid}")
        self.hub.state.put_blob(body)
        self._send(200, b"")

    def commit(self, match, query, body):
        repo = self._repo(match)
        branch = unquote(match.group("rev"))
        if query.get("create_pr"):
            raise HubError(400, "test Hub: create_pr is not supported")
        if branch not in repo.refs:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        header, ops = None, []
        for lineno, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
                parent = value.get("parentCommit")
                if parent and parent != repo.refs[branch]:
                    raise HubError(412, f"parentCommit {parent} is not the head of {branch}")
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"commit line {lineno}: unsupported encoding {value.get('encoding')}")
                ops.append(("add", value["path"], self.hub.state.put_blob(base64.b64decode(value["content"])), False))
            elif key == "lfsFile":
                if not self.hub.state.has_blob(value["oid"]):
                    raise HubError(422, f"commit line {lineno}: LFS object {value['oid']} was never uploaded")
                ops.append(("add", value["path"], value["oid"], True))
            elif key == "deletedFile":
                ops.append(("delete", value["path"]))
            elif key == "deletedFolder":
                ops.append(("delete_folder", value["path"]))
            else:
                self.hub.unknown_requests.append(f"commit operation {key!r} in {self.path}")
                raise HubError(400, f"test Hub: unknown commit operation {key!r}")
        if header is None:
            raise HubError(400, "commit without header line")
        oid = self.hub.state.commit(repo, branch, header.get("summary") or "commit", ops)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        commit_url = f"{self.hub.url}/{prefix}{repo.repo_id}/commit/{oid}"
        self._json({"success": True, "commitOid": oid, "commitUrl": commit_url,
                    "pullRequestUrl": None})

    def resolve(self, match, query, body):
        repo = self._repo(match)
        sha = repo.resolve(match.group("rev"))
        files = repo.files_at(sha)
        path = match.group("path")
        entry = files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": sha or ""})
        content = self.hub.state.blob(entry["sha256"])
        headers = {"X-Repo-Commit": sha, "ETag": f'"{entry["oid"]}"', "Accept-Ranges": "bytes"}
        if entry["lfs"]:  # the Hub announces the LFS object (sha256, size) for large files
            headers["X-Linked-Etag"] = f'"{entry["sha256"]}"'
            headers["X-Linked-Size"] = str(entry["size"])
        status = 200
        rng = self.headers.get("Range")
        if rng and self.command == "GET":
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(content) - 1
                headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
                content, status = content[start:end + 1], 206
        self._send(status, content, headers, content_type="application/octet-stream")

    def validate_yaml(self, match, query, body):
        payload = json.loads(body or b"{}")
        import yaml  # noqa: PLC0415

        content = payload.get("content", "")
        # The client sends the whole README: validate its front matter (the block between the first two ---).
        front = re.match(r"^---\s*\n(.*?)\n?---\s*(\n|$)", content, re.S)
        try:
            data = yaml.safe_load(front.group(1)) if front and front.group(1).strip() else {}
        except yaml.YAMLError as err:
            return self._json({"errors": [{"message": f"invalid YAML: {err}"}], "warnings": []}, 400)
        if data is not None and not isinstance(data, dict):
            return self._json({"errors": [{"message": "metadata must be a mapping"}], "warnings": []}, 400)
        self.hub.validated_yaml.append(payload)
        self._json({"errors": [], "warnings": []})


_KIND = r"(?:(?P<kind>models|datasets|spaces)/)?"
_REPO = r"(?P<repo>[^/]+/[^/]+)"


def _routes():
    h = _Handler
    return [
        ("GET", r"/api/whoami-v2", h.whoami),
        ("GET", r"/api/agent-harnesses", h.agent_harnesses),
        ("POST", r"/api/repos/create", h.create_repo),
        ("POST", r"/api/validate-yaml", h.validate_yaml),
        ("GET", rf"/api/{_KIND}{_REPO}(?:/revision/(?P<rev>[^/]+))?", h.repo_info),
        ("GET", rf"/api/{_KIND}{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", h.tree),
        ("POST", rf"/api/{_KIND}{_REPO}/paths-info/(?P<rev>[^/]+)", h.paths_info),
        ("GET", rf"/api/{_KIND}{_REPO}/refs", h.refs),
        ("GET", rf"/api/{_KIND}{_REPO}/commits/(?P<rev>[^/]+)", h.commits),
        ("POST", rf"/api/{_KIND}{_REPO}/preupload/(?P<rev>[^/]+)", h.preupload),
        ("POST", rf"/api/{_KIND}{_REPO}/commit/(?P<rev>[^/]+)", h.commit),
        ("POST", rf"/{_KIND}{_REPO}\.git/info/lfs/objects/batch", h.lfs_batch),
        ("PUT", r"/__lfs__/(?P<oid>[0-9a-f]{64})", h.lfs_put),
        ("HEAD", rf"/{_KIND}{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", h.resolve),
        ("GET", rf"/{_KIND}{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", h.resolve),
    ]


class HubServer:
    """The server + its state; ``start()`` binds 127.0.0.1 on a free port and serves from a daemon thread."""

    def __init__(self, root: str | os.PathLike | None = None):
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="hf-delrec-test-hub-"))
        self.state = HubState(self.root / "store")
        self.requests: list[tuple[str, str]] = []
        self.unknown_requests: list[str] = []
        self.validated_yaml: list[dict] = []
        handler = type("Handler", (_Handler,), {"hub": self})
        handler.hub = self
        self.routes = [(m, re.compile(p), f) for m, p, f in _routes()]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="test-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def client_env(self, hf_home: str | os.PathLike, offline: bool = False) -> dict[str, str]:
        """Environment of a Hub client process pointed at this server, with its own cache in ``hf_home``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
        env.update(
            HF_ENDPOINT=self.url, HF_TOKEN="x", HF_HOME=str(hf_home), HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_OFFLINE="1" if offline else "0",
            HF_DATASETS_OFFLINE="1" if offline else "0", TRANSFORMERS_VERBOSITY="error",
            HF_DATASETS_DISABLE_PROGRESS_BARS="1",
            PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH"))
                                       if p),
            TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", NO_PROXY="127.0.0.1,localhost",
        )
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(proxy, None)
        return env


_shared: HubServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> HubServer:
    """One server per test process (started on first use, stopped at exit), whatever module asks for it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = HubServer().start()
            atexit.register(_shared.stop)
        return _shared


try:  # the fixture is only defined when pytest is importable (the server itself is plain stdlib)
    import pytest

    @pytest.fixture
    def hub():
        """The shared server; fails the test if its clients called anything the server does not implement."""
        server = shared_server()
        start = len(server.unknown_requests)
        yield server
        unknown = server.unknown_requests[start:]
        assert not unknown, f"Hub clients called endpoints the test Hub does not implement: {unknown}"
except ImportError:  # pragma: no cover
    pass


def run_client(code: str, env: dict[str, str], timeout: float = 240, check: bool = True,
               cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run a Python snippet in a fresh interpreter with ``env`` (so HF_* constants are read from it at import)."""
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"Hub client failed (exit {proc.returncode}).\n--- stdout\n{proc.stdout[-4000:]}\n"
                             f"--- stderr\n{proc.stderr[-8000:]}")
    return proc


def last_json(proc: subprocess.CompletedProcess) -> dict:
    """The client's result: the last stdout line starting with RESULT=."""
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    if not lines:
        raise AssertionError(f"client printed no RESULT= line.\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT="):])
